import { rmSync } from 'node:fs';
import path from 'node:path';
import { RealMaster, realMasterUnavailable, SUCCESS } from '../../test/interop/real-master.js';
import type { BenchContext } from '../compare.js';
import { createWorker, pythonUnavailable, type ContenderId, type Protocol, type RunningBenchWorker } from '../contenders.js';
import { writeBinaryFile, writeLogFile } from '../data.js';
import { cpuSeconds, MB } from '../proc-stats.js';
import type { Measurement } from '../results.js';

/**
 * A short end-to-end comparison on a real Buildbot 3.7 master (bench/real-master.cfg):
 * builds forced through the REST API, timed from the force to the build's completion as
 * seen by polling (¼ s resolution), and the worker's CPU during the build. The real master
 * does most of the work here (it stores every log line in its database), so these ratios
 * are far smaller than the worker-bound ones measured on the embedded master.
 */

export const NAME = 'real-master';

const SOURCE_BENCH = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..', 'bench');

export async function run(ctx: BenchContext): Promise<Measurement[] | { skipped: string }> {
  const why = realMasterUnavailable();
  if (why) return { skipped: why };
  const logMB = ctx.quick ? 2 : 20;
  const uploadMB = ctx.quick ? 10 : 200;
  const steps = ctx.quick ? 5 : 30;
  const logFile = path.join(ctx.root, `real-log-${logMB}mb.txt`);
  const bigFile = path.join(ctx.root, `real-big-${uploadMB}mb.bin`);
  writeLogFile(logFile, logMB * MB, 11);
  writeBinaryFile(bigFile, uploadMB * MB, 12);

  const master = new RealMaster({
    config: path.join(SOURCE_BENCH, 'real-master.cfg'),
    env: { BENCH_LOG_FILE: logFile, BENCH_BIG_FILE: bigFile, BENCH_STEPS: String(steps) },
  });
  const workers: RunningBenchWorker[] = [];
  const values = new Map<string, Partial<Record<ContenderId, number>>>();
  const missing: Partial<Record<ContenderId, string>> = {};
  const put = (key: string, c: ContenderId, v: number): void => {
    values.set(key, { ...values.get(key), [c]: v });
  };
  try {
    await master.start();
    const attached: Array<{ contender: ContenderId; protocol: Protocol; name: string; worker: RunningBenchWorker }> = [];
    for (const protocol of ctx.protocols) {
      for (const contender of ctx.contenders) {
        const skip = contender === 'python' ? pythonUnavailable(protocol) : undefined;
        if (skip) {
          missing[contender] = skip;
          continue;
        }
        const name = `${contender === 'ts' ? 'ts' : 'py'}-${protocol === 'pb' ? 'pb' : 'mp'}`;
        const created = await createWorker(
          contender,
          { port: protocol === 'pb' ? master.pbPort : master.mpPort, protocol, name, password: protocol === 'pb' ? master.pbPassword : master.mpPassword },
          ctx.root,
        );
        const worker = created.start();
        workers.push(worker);
        attached.push({ contender, protocol, name, worker });
      }
    }
    for (const a of attached) await master.waitWorker(a.name);
    for (const a of attached) {
      ctx.progress(`  ${a.protocol}: ${a.contender}`);
      for (const scenario of ['log', 'upload', 'steps']) {
        const cpu0 = cpuSeconds(a.worker.pid);
        const t0 = performance.now();
        const build = await master.runBuild(`${scenario}-${a.name}`, 600_000);
        const seconds = (performance.now() - t0) / 1000;
        const cpu = cpuSeconds(a.worker.pid) - cpu0;
        if (build.results !== SUCCESS) throw new Error(`real master build ${scenario}-${a.name}: ${build.state_string}\n${master.log()}`);
        if (scenario === 'log') {
          const text = build.steps.find((s) => s.name === 'log')?.channels.stdio?.o ?? '';
          if (text.length !== logMB * MB) throw new Error(`real master log build delivered ${text.length} of ${logMB * MB} bytes`);
        }
        rmSync(path.join(master.dataDir, `${a.name}-big.bin`), { force: true });
        ctx.progress(`    ${scenario}: ${seconds.toFixed(2)} s, worker CPU ${cpu.toFixed(2)} s`);
        put(`${a.protocol}|${scenario}|time`, a.contender, seconds);
        put(`${a.protocol}|${scenario}|cpu`, a.contender, cpu);
      }
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await master.stop();
  }
  const label: Record<string, string> = {
    log: `real master: ${logMB} MB log build`,
    upload: `real master: ${uploadMB} MB FileUpload build`,
    steps: `real master: ${steps}-step build`,
  };
  const out: Measurement[] = [];
  for (const protocol of ctx.protocols) {
    for (const scenario of ['log', 'upload', 'steps']) {
      for (const kind of ['time', 'cpu'] as const) {
        const v = values.get(`${protocol}|${scenario}|${kind}`);
        if (!v) continue;
        out.push({
          scenario: label[scenario],
          metric: kind === 'time' ? 'build time (force → complete)' : 'worker CPU (user+sys)',
          protocol,
          unit: 's',
          better: 'lower',
          values: v,
          missing: Object.keys(missing).length ? missing : undefined,
        });
      }
    }
  }
  return out;
}
