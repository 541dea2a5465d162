import path from 'node:path';
import { compareOnEmbeddedMaster, type BenchContext } from '../compare.js';
import { writeLogFile } from '../data.js';
import { cpuSeconds, MB } from '../proc-stats.js';
import type { Measurement } from '../results.js';

/**
 * Many builders at once: every builder runs an output-heavy step at the same time.
 * Total throughput, and fairness: the least/most bytes any builder had delivered when the
 * first one finished (1 = all progressed equally).
 */

export const NAME = 'concurrency';

export async function run(ctx: BenchContext): Promise<Measurement[]> {
  const builders = ctx.quick ? 5 : 50;
  const perBuilderMB = ctx.quick ? 2 : 8;
  const file = path.join(ctx.root, `concurrent-${perBuilderMB}mb.txt`);
  writeLogFile(file, perBuilderMB * MB, 7);
  const names = Array.from({ length: builders }, (_, i) => `b${String(i).padStart(2, '0')}`);
  const byProtocol = await compareOnEmbeddedMaster(ctx, { builders: names.map((n) => ({ name: n, builddir: n })) }, async (a) => {
    for (const n of names) a.builddir(n);
    const cpu0 = cpuSeconds(a.worker.pid);
    const t0 = performance.now();
    const runs = names.map((n) => a.handle.startCommand(n, 'shell', { command: ['cat', file], workdir: 'build' }));
    let fairness = 0;
    const firstDone = Promise.race(runs.map((r) => r.done)).then(() => {
      const bytes = runs.map((r) => r.logs.stdout.length);
      fairness = Math.min(...bytes) / Math.max(...bytes);
    });
    const results = await Promise.all(runs.map((r) => r.done));
    await firstDone;
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(a.worker.pid) - cpu0;
    let total = 0;
    for (const r of results) {
      if (r.rc !== 0 || r.logs.stdout.length !== perBuilderMB * MB) throw new Error(`a concurrent step failed on ${a.contender}/${a.protocol}: ${r.status} ${r.logs.stdout.length} bytes`);
      total += r.logs.stdout.length;
    }
    ctx.progress(`    ${(total / MB / seconds).toFixed(1)} MB/s total, fairness ${fairness.toFixed(2)}, worker CPU ${cpu.toFixed(1)} s`);
    return { mbps: total / MB / seconds, fairness, cpu };
  }, { repeat: ctx.quick ? 1 : 2, score: (x) => x.mbps });
  const out: Measurement[] = [];
  const scenario = `${builders} builders × ${perBuilderMB} MB output at once`;
  for (const [protocol, res] of byProtocol) {
    const v = (f: (x: { mbps: number; fairness: number; cpu: number }) => number) => ({ ...(res.ts ? { ts: f(res.ts) } : {}), ...(res.python ? { python: f(res.python) } : {}) });
    out.push(
      { scenario, metric: 'total throughput', protocol, unit: 'MB/s', better: 'higher', values: v((x) => x.mbps), missing: res.missing },
      { scenario, metric: 'fairness (min/max bytes when the first finished)', protocol, unit: '', better: 'higher', values: v((x) => x.fairness), missing: res.missing },
      { scenario, metric: 'worker CPU (user+sys)', protocol, unit: 's', better: 'lower', values: v((x) => x.cpu), missing: res.missing },
    );
  }
  return out;
}
