import { compareOnEmbeddedMaster, type BenchContext } from '../compare.js';
import { cpuSeconds } from '../proc-stats.js';
import { ratioTarget, type Measurement } from '../results.js';

/** Per-step overhead: many trivial shell steps (`true`) one after the other, each a job through the REST API. */

export const NAME = 'per-step';

export async function run(ctx: BenchContext): Promise<Measurement[]> {
  const steps = ctx.quick ? 50 : 500;
  const byProtocol = await compareOnEmbeddedMaster(ctx, {}, async (a) => {
    a.builddir();
    // One warm-up step: the first command of a build also starts the build (print('ping')).
    const step = { command: 'shell', args: { command: ['true'], workdir: 'build' } };
    await a.client.runStep(a.name, step, { withLogs: false });
    const cpu0 = cpuSeconds(a.worker.pid);
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) {
      const r = await a.client.runStep(a.name, step, { withLogs: false });
      if (r.rc !== 0) throw new Error(`step ${i} failed on ${a.contender}/${a.protocol}: ${r.status} ${r.failure ?? ''}`);
    }
    const ms = (performance.now() - t0) / steps;
    const cpuMs = ((cpuSeconds(a.worker.pid) - cpu0) * 1000) / steps;
    ctx.progress(`    ${ms.toFixed(2)} ms/step, worker CPU ${cpuMs.toFixed(2)} ms/step`);
    return { ms, cpuMs };
  });
  const out: Measurement[] = [];
  for (const [protocol, res] of byProtocol) {
    const v = (f: (x: { ms: number; cpuMs: number }) => number) => ({ ...(res.ts ? { ts: f(res.ts) } : {}), ...(res.python ? { python: f(res.python) } : {}) });
    const wall: Measurement = { scenario: `${steps} trivial steps`, metric: 'wall time per step', protocol, unit: 'ms', better: 'lower', values: v((x) => x.ms), missing: res.missing };
    wall.targets = [ratioTarget(wall, '<=', 0.5)];
    const cpu: Measurement = { scenario: `${steps} trivial steps`, metric: 'worker CPU per step', protocol, unit: 'ms', better: 'lower', values: v((x) => x.cpuMs), missing: res.missing };
    out.push(wall, cpu);
  }
  return out;
}
