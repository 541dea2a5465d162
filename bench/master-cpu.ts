/**
 * What a real Buildbot master's CPU costs per workload, with this worker and with the Python
 * worker: one master (bench/master-cpu.cfg, 3.7 or 4.3) with all four workers attached, builds
 * forced one at a time, alternating between the two workers, and the master's utime+stime
 * (/proc/PID/stat) from the force to the build's completion. Prints each run and the median
 * ratio this/Python with its min–max.
 *
 *   node dist/bench/master-cpu.js [--runs 3] [--only log,dir,dirgz] [--protocol pb,msgpack]
 *       [--master 3.7|4.3] [--log-mb 200] [--files 20000] [--profile DIR]
 *
 * `--profile DIR` writes a cProfile of the master for each build (DIR/<n>.prof, in run order);
 * read one with `python3 -m pstats`.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { eventually } from '../test/helpers/eventually.js';
import { RealMaster, SUCCESS, type MasterVersion } from '../test/interop/real-master.js';
import { benchRoot, createWorker, type ContenderId, type Protocol, type RunningBenchWorker } from './contenders.js';
import { writeLogFile, writeSmallFiles } from './data.js';
import { cpuSeconds, MB } from './proc-stats.js';

const SOURCE_BENCH = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bench');

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    only: { type: 'string', default: 'log,dir' },
    protocol: { type: 'string', default: 'pb,msgpack' },
    master: { type: 'string', default: '3.7' },
    'log-mb': { type: 'string', default: '200' },
    files: { type: 'string', default: '20000' },
    profile: { type: 'string' },
  },
});

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  const runs = Number(opts.runs);
  const scenarios = opts.only!.split(',');
  const protocols = opts.protocol!.split(',') as Protocol[];
  const version = opts.master as MasterVersion;
  // The 4.3 root sees the host's /tmp only.
  const root = version === '3.7' ? benchRoot() : (mkdirSync('/tmp/bench-mc', { recursive: true }), '/tmp/bench-mc');
  const logFile = path.join(root, 'log.txt');
  const tree = path.join(root, 'tree');
  if (scenarios.includes('log')) writeLogFile(logFile, Number(opts['log-mb']) * MB, 11);
  if (scenarios.some((s) => s.startsWith('dir'))) writeSmallFiles(tree, Number(opts.files));
  const profileDir = opts.profile ? path.resolve(opts.profile) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  const master = new RealMaster({
    config: path.join(SOURCE_BENCH, 'master-cpu.cfg'),
    version,
    env: { BENCH_LOG_FILE: logFile, BENCH_TREE: tree, ...(profileDir ? { BENCH_PROFILE_DIR: profileDir } : {}) },
  });
  const workers: RunningBenchWorker[] = [];
  try {
    await master.start();
    const pid = master.pid!;
    for (const protocol of protocols) {
      for (const contender of ['ts', 'python'] as ContenderId[]) {
        const name = `${contender === 'ts' ? 'ts' : 'py'}-${protocol === 'pb' ? 'pb' : 'mp'}`;
        const port = protocol === 'pb' ? master.pbPort : master.mpPort;
        const password = protocol === 'pb' ? master.pbPassword : master.mpPassword;
        const created = await createWorker(contender, { port, protocol, name, password }, root);
        workers.push(created.start());
        await master.waitWorker(name);
      }
    }
    let n = 0;
    for (const scenario of scenarios) {
      for (const protocol of protocols) {
        const cpu: Record<ContenderId, number[]> = { ts: [], python: [] };
        for (let i = 0; i < runs; i++) {
          // Alternate which worker goes first.
          const order: ContenderId[] = i % 2 === 0 ? ['ts', 'python'] : ['python', 'ts'];
          for (const contender of order) {
            const builder = `${scenario}-${contender === 'ts' ? 'ts' : 'py'}-${protocol === 'pb' ? 'pb' : 'mp'}`;
            if (profileDir) {
              writeFileSync(path.join(profileDir, 'start'), '');
              await eventually(() => !existsSync(path.join(profileDir, 'start')), 'profile start', 60_000);
            }
            const before = cpuSeconds(pid);
            const t0 = performance.now();
            const result = await master.waitBuild(await master.force(builder), 30 * 60_000);
            const used = cpuSeconds(pid) - before;
            const wall = (performance.now() - t0) / 1000;
            if (profileDir) {
              writeFileSync(path.join(profileDir, 'stop'), '');
              n += 1;
              const file = path.join(profileDir, `${n}.prof`);
              await eventually(() => existsSync(file), 'profile', 60_000);
              console.log(`  profile ${file}: ${builder}`);
            }
            if (result.results !== SUCCESS) throw new Error(`${builder}: build result ${result.results}: ${JSON.stringify(result.steps)}`.slice(0, 2000));
            cpu[contender].push(used);
            console.log(`${builder} run ${i + 1}: master CPU ${used.toFixed(2)} s, wall ${wall.toFixed(1)} s`);
            rmSync(master.dataDir, { recursive: true, force: true });
            mkdirSync(master.dataDir);
          }
        }
        const ratios = cpu.ts.map((t, i) => t / cpu.python[i]!);
        console.log(
          `== ${scenario} ${protocol} master ${version}: this ${median(cpu.ts).toFixed(2)} s [${cpu.ts.map((x) => x.toFixed(2)).join(' ')}], ` +
            `Python ${median(cpu.python).toFixed(2)} s [${cpu.python.map((x) => x.toFixed(2)).join(' ')}], ` +
            `ratio of medians ${(median(cpu.ts) / median(cpu.python)).toFixed(2)}, pairwise ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)} ` +
            `(load ${os.loadavg()[0]!.toFixed(1)})`,
        );
      }
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await master.stop();
    rmSync(master.dir, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
