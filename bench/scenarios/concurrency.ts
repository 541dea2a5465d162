import path from 'node:path';
import { compareOnEmbeddedMaster, type BenchContext } from '../compare.js';
import { writeLogFile } from '../data.js';
import { cpuSeconds, MB } from '../proc-stats.js';
import type { Measurement } from '../results.js';
import type { JobJSON } from '../../test/helpers/master-client.js';

/**
 * Many builders at once: one job per builder, all submitted together through the REST API,
 * each an output-heavy step; the queue runs the builders of a worker concurrently. Total
 * throughput from the jobs' `log_sizes`, and fairness: the least/most bytes any builder had
 * delivered when the first job finished (1 = all progressed equally), read from the jobs'
 * `log_sizes` right when the first `finished` event arrives (bench/README.md).
 */

export const NAME = 'concurrency';

export async function run(ctx: BenchContext): Promise<Measurement[]> {
  const builders = ctx.quick ? 5 : 50;
  const perBuilderMB = ctx.quick ? 2 : 8;
  const file = path.join(ctx.root, `concurrent-${perBuilderMB}mb.txt`);
  writeLogFile(file, perBuilderMB * MB, 7);
  const names = Array.from({ length: builders }, (_, i) => `b${String(i).padStart(2, '0')}`);
  const byProtocol = await compareOnEmbeddedMaster(
    ctx,
    { builders: names.map((n) => ({ name: n, builddir: n })) },
    async (a) => {
      for (const n of names) a.builddir(n);
      // The /sse stream is open before the first job is submitted: no finish can come before it.
      let submitted!: (ids: readonly number[]) => void;
      const idsKnown = new Promise<readonly number[]>((resolve) => (submitted = resolve));
      let open!: () => void;
      const opened = new Promise<void>((resolve) => (open = resolve));
      const firstDone = a.client.whenFirstFinished(a.name, idsKnown, open);
      firstDone.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
      await Promise.race([opened, firstDone]);
      const cpu0 = cpuSeconds(a.worker.pid);
      const t0 = performance.now();
      const ids = await Promise.all(names.map((n) => a.client.submit({ worker: a.name, builder: n, steps: [{ command: 'shell', args: { command: ['cat', file], workdir: 'build' } }] })));
      submitted(ids);
      const results = await Promise.all(ids.map((id) => a.client.waitForJob(id)));
      const seconds = (performance.now() - t0) / 1000;
      const cpu = cpuSeconds(a.worker.pid) - cpu0;
      const stdoutBytes = (j: JobJSON): number => j.steps[0]?.log_sizes?.stdout ?? 0;
      const atFirst = (await firstDone).map(stdoutBytes);
      const fairness = Math.min(...atFirst) / Math.max(...atFirst);
      let total = 0;
      for (const j of results) {
        const bytes = stdoutBytes(j);
        if (j.result !== 'SUCCESS' || j.steps[0]?.rc !== 0 || bytes !== perBuilderMB * MB) {
          throw new Error(`a concurrent job failed on ${a.contender}/${a.protocol}: job ${j.id} on ${j.builder}: ${j.result} rc ${j.steps[0]?.rc} ${bytes} bytes`);
        }
        total += bytes;
      }
      ctx.progress(`    ${(total / MB / seconds).toFixed(1)} MB/s total, fairness ${fairness.toFixed(2)}, worker CPU ${cpu.toFixed(1)} s`);
      return { mbps: total / MB / seconds, fairness, cpu };
    },
    { repeat: ctx.quick ? 1 : 2, score: (x) => x.mbps },
  );
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
