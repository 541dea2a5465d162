import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runWorkerCli, WIRE_PROTOCOL, WORKER_BIN, type LocalProtocol } from '../src/cli/local-worker.js';
import { BB43_SCRIPT } from '../test/interop/real-master.js';

/**
 * The two workers under comparison, each created and started the way its users do:
 * this package (`node bin/worker.js create-worker`, `start --nodaemon`) and Python's
 * `buildbot-worker` (Debian package: `buildbot-worker create-worker`, `start --nodaemon`).
 * In both cases the `start --nodaemon` process IS the worker, so its pid is what is measured.
 */

export type ContenderId = 'ts' | 'python';
export type Protocol = LocalProtocol;

export const CONTENDER_LABEL: Record<ContenderId, string> = { ts: 'this worker', python: 'Python buildbot-worker' };

export const PYTHON_WORKER = '/usr/bin/buildbot-worker';

/**
 * Which Python worker release: Debian bookworm's (3.7, at /usr/bin) or the 4.3 one in the root
 * made by scripts/buildbot-4.3.sh, run through `buildbot-4.3.sh run buildbot-worker ...` (that
 * command execs down to the worker's python, so the pid started is the worker's own; its
 * directories must be under /tmp, which the root shares with the host).
 */
export type PythonRelease = '3.7' | '4.3';

/** The command line running `buildbot-worker ARGS...` of `release`. */
function pythonWorkerCommand(release: PythonRelease, args: string[]): [string, string[]] {
  return release === '3.7' ? [PYTHON_WORKER, args] : ['sh', [BB43_SCRIPT, 'run', 'buildbot-worker', ...args]];
}

/** `buildbot-worker --version` of `release` (e.g. `4.3.0`), or undefined when it does not run. */
export function pythonWorkerVersion(release: PythonRelease = '3.7'): string | undefined {
  const [cmd, args] = pythonWorkerCommand(release, ['--version']);
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: '/tmp' });
  if (r.status !== 0) return undefined;
  return /worker version: (\S+)/.exec(r.stdout)?.[1] ?? r.stdout.trim().split('\n')[0];
}
const SYSTEM_PYTHON = '/usr/bin/python3';

/** Keepalive both workers are created with (the embedded test setups use 30 s too). */
const KEEPALIVE = '30';

export interface WorkerSpec {
  port: number;
  protocol: Protocol;
  name: string;
  password: string;
  host?: string;
}

/** A created (not yet started) worker directory. */
export interface CreatedWorker {
  readonly contender: ContenderId;
  readonly basedir: string;
  /** Start it in the foreground; `startedAt` is `performance.now()` just before the spawn. */
  start(): RunningBenchWorker;
}

export interface RunningBenchWorker {
  readonly contender: ContenderId;
  readonly basedir: string;
  readonly pid: number;
  readonly startedAt: number;
  readonly child: ChildProcess;
  /** What it printed (and, for Python, its twistd.log), for error messages. */
  output(): string;
  stop(): Promise<void>;
}

/** Why the Python worker cannot be compared on `protocol`, or undefined when it can. */
export function pythonUnavailable(protocol: Protocol, release: PythonRelease = '3.7'): string | undefined {
  if (release === '4.3') {
    if (spawnSync('sh', [BB43_SCRIPT, 'check']).status !== 0) return 'no Buildbot 4.3 root (as root: scripts/buildbot-4.3.sh setup)';
    // The root is made with python3-msgpack and python3-autobahn (scripts/buildbot-4.3.sh).
    return undefined;
  }
  if (!existsSync(PYTHON_WORKER)) return 'Debian package buildbot-worker is not installed (apt-get install -y buildbot-worker)';
  if (protocol === 'msgpack') {
    const probe = spawnSync(SYSTEM_PYTHON, ['-c', 'import autobahn, msgpack'], { encoding: 'utf8' });
    if (probe.status !== 0) return `the Python worker's msgpack_experimental_v7 needs python3-autobahn and python3-msgpack: ${probe.stderr.trim().split('\n').pop()}`;
  }
  return undefined;
}

function workerEnv(basedir: string): NodeJS.ProcessEnv {
  // The same small environment for both, so neither pays for a larger one in headers.
  const env: NodeJS.ProcessEnv = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: basedir, LANG: 'C.UTF-8' };
  return env;
}

export async function createWorker(contender: ContenderId, spec: WorkerSpec, root: string, release: PythonRelease = '3.7'): Promise<CreatedWorker> {
  const basedir = mkdtempSync(path.join(root, `${contender}-${spec.protocol}-`));
  const master = `${spec.host ?? '127.0.0.1'}:${spec.port}`;
  const env = workerEnv(basedir);
  if (contender === 'ts') {
    const created = await runWorkerCli(['create-worker', '--quiet', '--umask=0o22', '--keepalive', KEEPALIVE, '--protocol', WIRE_PROTOCOL[spec.protocol], basedir, master, spec.name, spec.password], {
      env,
    });
    if (created.code !== 0) throw new Error(`create-worker failed: ${created.stderr}${created.stdout}`);
  } else {
    const [cmd, args] = pythonWorkerCommand(release, [
      'create-worker',
      '--quiet',
      '--umask=0o22',
      '--keepalive',
      KEEPALIVE,
      '--protocol',
      WIRE_PROTOCOL[spec.protocol],
      basedir,
      master,
      spec.name,
      spec.password,
    ]);
    const created = spawnSync(cmd, args, { env, encoding: 'utf8', cwd: root });
    if (created.status !== 0) throw new Error(`buildbot-worker create-worker failed: ${created.stderr}${created.stdout}`);
  }
  return { contender, basedir, start: () => startCreated(contender, basedir, env, release) };
}

/** Extra node options for this worker, for profiling: BENCH_TS_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'. */
function tsNodeArgs(): string[] {
  return (process.env.BENCH_TS_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
}

function startCreated(contender: ContenderId, basedir: string, env: NodeJS.ProcessEnv, release: PythonRelease): RunningBenchWorker {
  const [cmd, args] = contender === 'ts' ? [process.execPath, [...tsNodeArgs(), WORKER_BIN, 'start', '--nodaemon', basedir]] : pythonWorkerCommand(release, ['start', '--nodaemon', basedir]);
  const startedAt = performance.now();
  const child = spawn(cmd, args, { cwd: basedir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer): void => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  return {
    contender,
    basedir,
    pid: child.pid,
    startedAt,
    child,
    output() {
      const logFile = path.join(basedir, 'twistd.log');
      const log = contender === 'python' && existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-20_000) : '';
      return `${out}\n${log}`;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A scratch directory under the system temp dir for one benchmark run. */
export function benchRoot(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'bench-'));
}
