import type { BenchContext } from '../compare.js';
import type { Measurement } from '../results.js';

export const NAME = 'real-master';

export async function run(_ctx: BenchContext): Promise<Measurement[] | { skipped: string }> {
  return { skipped: 'not written yet' };
}
