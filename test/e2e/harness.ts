import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLocalWorker, type LocalProtocol, type LocalWorker } from '../../src/cli/local-worker.js';
import type { TestMaster } from '../../src/master/test-master.js';
import type { WorkerHandle } from '../../src/master/worker-handle.js';

/** The real CLI as a separate process against the embedded test master, as users run it. */

export type Protocol = LocalProtocol;
export type RunningWorker = LocalWorker;

export interface StartWorkerOptions {
  protocol: Protocol;
  port: number;
  name: string;
  password: string;
  extraCreateArgs?: string[];
  env?: NodeJS.ProcessEnv;
}

/** create-worker into a fresh temp basedir and start it in the foreground. */
export function startWorker(opts: StartWorkerOptions): Promise<RunningWorker> {
  const basedir = mkdtempSync(path.join(os.tmpdir(), `e2e-${opts.protocol}-`));
  return startLocalWorker({ ...opts, basedir, createArgs: opts.extraCreateArgs });
}

/** Start a worker and wait until the master has it attached. */
export async function attachWorker(master: TestMaster, opts: StartWorkerOptions): Promise<{ worker: RunningWorker; handle: WorkerHandle }> {
  const attached = master.waitForWorker(opts.name, { timeoutMs: 20_000 });
  const worker = await startWorker(opts);
  try {
    return { worker, handle: await attached };
  } catch (err) {
    await worker.stop(1000);
    throw new Error(`worker did not attach: ${(err as Error).message}\n--- worker output ---\n${worker.output()}`);
  }
}

/** Pids of processes whose command line contains `marker` (the process table, not exit codes). */
export function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'latin1').replaceAll('\0', ' ');
      if (!cmdline.includes(marker)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      // A zombie counts as a survivor too: its parent never reaped it.
      found.push(Number(entry));
      void stat;
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}
