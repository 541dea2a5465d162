import { spawn, type ChildProcess } from 'node:child_process';
import { packagePath } from '../util/package-root.js';

/**
 * A worker of this package run as its own process through the CLI, exactly as a user
 * runs it (`create-worker`, then `start --nodaemon`). Used by `worker demo`, the
 * end-to-end tests and the benchmarks.
 */

/** The CLI entry point of this package. */
export const WORKER_BIN = packagePath('bin', 'worker.js');

export type LocalProtocol = 'pb' | 'msgpack';
export const WIRE_PROTOCOL: Record<LocalProtocol, string> = { pb: 'pb', msgpack: 'msgpack_experimental_v7' };

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI to completion. */
export function runWorkerCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER_BIN, ...args], { cwd: opts.cwd, env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface LocalWorkerOptions {
  basedir: string;
  protocol: LocalProtocol;
  host?: string;
  port: number;
  name: string;
  password: string;
  createArgs?: string[];
  env?: NodeJS.ProcessEnv;
}

export interface LocalWorker {
  readonly basedir: string;
  readonly child: ChildProcess;
  /** Everything the foreground worker printed so far. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

/** `create-worker` into `basedir`, then `start --nodaemon` it. */
export async function startLocalWorker(opts: LocalWorkerOptions): Promise<LocalWorker> {
  const created = await runWorkerCli([
    'create-worker',
    '--quiet',
    '--protocol',
    WIRE_PROTOCOL[opts.protocol],
    '--keepalive',
    '30',
    ...(opts.createArgs ?? []),
    opts.basedir,
    `${opts.host ?? '127.0.0.1'}:${opts.port}`,
    opts.name,
    opts.password,
  ]);
  if (created.code !== 0) throw new Error(`create-worker failed (exit ${created.code}): ${created.stderr}${created.stdout}`);
  const child = spawn(process.execPath, [WORKER_BIN, 'start', '--nodaemon', opts.basedir], {
    cwd: opts.basedir,
    env: { ...process.env, ...(opts.env ?? {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    basedir: opts.basedir,
    child,
    output: () => out,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
