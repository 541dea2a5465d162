import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { eventuallyValue } from '../helpers/eventually.js';

/** bin/worker.js of this checkout (tests run from dist/test/cli). */
export const BIN = fileURLToPath(new URL('../../../bin/worker.js', import.meta.url));

export function tempdir(prefix = 'cli-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Run the CLI to completion. */
export function cli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Run the CLI in the background. */
export function cliAsync(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, exited, output: () => stdout };
}

/** A TCP port with nothing listening on it. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** Poll `check` every 50 ms until it is truthy or `ms` pass. */
export function waitFor<T>(check: () => T, ms = 15_000): Promise<T> {
  return eventuallyValue(check as () => T | undefined, 'condition', ms);
}

/** Run the CLI to completion without blocking this process's event loop (needed when this process serves the master or is the worker's parent). */
export async function cliRun(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string }> {
  const run = cliAsync(args, opts);
  const code = await run.exited;
  await new Promise((r) => setImmediate(r));
  return { code, stdout: run.output() };
}

/** `create-worker -q` of a worker `w1` for MASTER in a new temporary basedir; returns the basedir. */
export function createWorker(master: string, extra: string[] = [], password = 'pw-secret'): string {
  const dir = path.join(tempdir(), 'w');
  const r = cli(['create-worker', '-q', ...extra, dir, master, 'w1', password]);
  assert.equal(r.code, 0, r.stdout);
  return dir;
}

/** The basedir's twistd.log, or '' before it exists. */
export const readLog = (dir: string): string => (fs.existsSync(path.join(dir, 'twistd.log')) ? fs.readFileSync(path.join(dir, 'twistd.log'), 'utf8') : '');
