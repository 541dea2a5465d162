import { compareOnEmbeddedMaster, reattach, type BenchContext } from '../compare.js';
import { MB, privateBytes, rssBytes } from '../proc-stats.js';
import { median, ratioTarget, type Measurement } from '../results.js';

/**
 * Start-to-attached: from spawning `start --nodaemon` until the master has finished the
 * attach sequence (median of several starts), and resident memory once idle after attaching.
 */

export const NAME = 'startup';

/** How long an attached worker is left alone before its idle RSS is read. */
const SETTLE_MS = 2_000;

export async function run(ctx: BenchContext): Promise<Measurement[]> {
  const starts = ctx.quick ? 2 : 5;
  const byProtocol = await compareOnEmbeddedMaster(ctx, {}, async (first) => {
    const attachMs: number[] = [];
    const idleMB: number[] = [];
    const idlePrivateMB: number[] = [];
    let a = first;
    for (let i = 0; ; i++) {
      attachMs.push(a.attachMs);
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      idleMB.push(rssBytes(a.worker.pid) / MB);
      idlePrivateMB.push(privateBytes(a.worker.pid) / MB);
      if (i + 1 >= starts) break;
      a = await reattach(a);
    }
    ctx.progress(
      `    attached after ${attachMs.map((x) => x.toFixed(0)).join(', ')} ms; idle RSS ${idleMB.map((x) => x.toFixed(1)).join(', ')} MB (private ${idlePrivateMB.map((x) => x.toFixed(1)).join(', ')} MB)`,
    );
    return { attachMs: median(attachMs), idleMB: median(idleMB), idlePrivateMB: median(idlePrivateMB) };
  });
  const out: Measurement[] = [];
  for (const [protocol, res] of byProtocol) {
    const v = (f: (x: { attachMs: number; idleMB: number; idlePrivateMB: number }) => number) => ({ ...(res.ts ? { ts: f(res.ts) } : {}), ...(res.python ? { python: f(res.python) } : {}) });
    const row = (metric: string, unit: string, f: (x: { attachMs: number; idleMB: number; idlePrivateMB: number }) => number): Measurement => ({
      scenario: `start (median of ${starts})`,
      metric,
      protocol,
      unit,
      better: 'lower',
      values: v(f),
      missing: res.missing,
    });
    const t = row('start to attached', 'ms', (x) => x.attachMs);
    t.targets = [ratioTarget(t, '<=', 0.5)];
    const rss = row('idle RSS after attach', 'MB', (x) => x.idleMB);
    rss.targets = [ratioTarget(rss, '<=', 1.0)];
    const own = row('idle private memory (RssAnon)', 'MB', (x) => x.idlePrivateMB);
    out.push(t, rss, own);
  }
  return out;
}
