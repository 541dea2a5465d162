import type { Print } from './output.js';
import { isAlive, readPid } from './pid-file.js';

/** Python polls once a second for up to 10 s (`scripts/stop.py`). */
export const STOP_WAIT_MS = 10_000;

export type StopResult = 'not-running' | 'dead' | 'still-running';

/**
 * Send `signal` to the pid of twistd.pid and wait for the process to go away
 * (`stopWorker`): prints `worker process <pid> is dead` or `never saw process go away`.
 */
export async function stopWorker(basedir: string, quiet: boolean, print: Print, signal: NodeJS.Signals = 'SIGTERM', waitMs = STOP_WAIT_MS): Promise<StopResult> {
  const pid = readPid(basedir);
  if (pid === undefined) return 'not-running';
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
  await new Promise((r) => setTimeout(r, 100));
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (!isAlive(pid)) {
      if (!quiet) print(`worker process ${pid} is dead`);
      return 'dead';
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!quiet) print('never saw process go away');
  return 'still-running';
}

/** `stop [BASEDIR]`: exit 0 when stopped or not running, 1 when the process stays. */
export async function stopCommand(basedir: string, quiet: boolean, print: Print): Promise<number> {
  const r = await stopWorker(basedir, quiet, print);
  if (r === 'not-running') {
    if (!quiet) print('worker not running');
    return 0;
  }
  return r === 'dead' ? 0 : 1;
}
