import path from 'node:path';
import { compareOnEmbeddedMaster, type BenchContext } from '../compare.js';
import { writeLogFile } from '../data.js';
import { cpuSeconds, MB, PeakRss } from '../proc-stats.js';
import { pipeToSocket } from '../reference.js';
import { peakMemoryRows, ratioTarget, type Measurement, type PeakMemory } from '../results.js';

/**
 * Log streaming: one shell step `cat`s N MB of mixed-length lines; how fast the text
 * reaches the master and how much CPU the worker process spends on it.
 */

export const NAME = 'log-streaming';

export async function run(ctx: BenchContext): Promise<Measurement[]> {
  const megabytes = ctx.quick ? 10 : 200;
  const file = path.join(ctx.root, `log-${megabytes}mb.txt`);
  writeLogFile(file, megabytes * MB);
  const ref = await pipeToSocket(['cat', file]);
  const refMBps = ref.bytes / MB / ref.seconds;

  const byProtocol = await compareOnEmbeddedMaster(
    ctx,
    {},
    async (a) => {
      a.builddir();
      const cpu0 = cpuSeconds(a.worker.pid);
      const master0 = process.cpuUsage();
      const peak = new PeakRss(a.worker.pid);
      const t0 = performance.now();
      // The master keeps the text; its size is checked without fetching it.
      const r = await a.client.runStep(a.name, { command: 'shell', args: { command: ['cat', file], workdir: 'build' } }, { withLogs: false });
      const seconds = (performance.now() - t0) / 1000;
      const cpu = cpuSeconds(a.worker.pid) - cpu0;
      const peakMB = peak.stop() / MB;
      const privateMB = peak.privatePeak / MB;
      const masterCpu = process.cpuUsage(master0);
      if (r.rc !== 0) throw new Error(`log streaming failed on ${a.contender}/${a.protocol}: ${r.status} ${r.failure ?? ''}`);
      const delivered = r.logSizes.stdout ?? 0;
      if (delivered !== megabytes * MB) throw new Error(`${a.contender}/${a.protocol} delivered ${delivered} of ${megabytes * MB} bytes`);
      ctx.progress(
        `    ${(delivered / MB / seconds).toFixed(1)} MB/s, worker CPU ${cpu.toFixed(2)} s, peak RSS ${peakMB.toFixed(0)} MB (private ${privateMB.toFixed(0)} MB), master CPU ${((masterCpu.user + masterCpu.system) / 1e6).toFixed(2)} s`,
      );
      return { mbps: delivered / MB / seconds, cpu, peak: { rss: peakMB, private: privateMB }, masterCpu: (masterCpu.user + masterCpu.system) / 1e6 };
    },
    { repeat: ctx.quick ? 1 : 3, score: (x) => x.mbps },
  );

  const out: Measurement[] = [];
  for (const [protocol, res] of byProtocol) {
    const values = (f: (x: { mbps: number; cpu: number; peak: PeakMemory }) => number) => ({
      ...(res.ts ? { ts: f(res.ts) } : {}),
      ...(res.python ? { python: f(res.python) } : {}),
    });
    const thr: Measurement = {
      scenario: `log streaming (${megabytes} MB)`,
      metric: 'throughput to the master',
      protocol,
      unit: 'MB/s',
      better: 'higher',
      values: values((x) => x.mbps),
      missing: res.missing,
      reference: { label: 'cat → pipe → loopback socket', value: refMBps },
      note: res.ts ? `the embedded master (in the benchmark process) used ${res.ts.masterCpu.toFixed(1)} s CPU during this worker's best run` : undefined,
    };
    thr.targets = [ratioTarget(thr, '>=', 5)];
    const cpu: Measurement = {
      scenario: `log streaming (${megabytes} MB)`,
      metric: 'worker CPU (user+sys)',
      protocol,
      unit: 's',
      better: 'lower',
      values: values((x) => x.cpu),
      missing: res.missing,
    };
    cpu.targets = [ratioTarget(cpu, '<=', 0.5)];
    out.push(thr, cpu, ...peakMemoryRows({ scenario: thr.scenario, protocol, missing: res.missing }, (f) => values((x) => f(x.peak))));
  }
  return out;
}
