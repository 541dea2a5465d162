import path from 'node:path';
import { LOG_FILE_NAME } from '../util/log.js';
import { LogFollower } from './log-follower.js';
import { UsageError, type Print } from './output.js';
import { PID_FILE_NAME, isAlive, isWorkerOf, readPid } from './pid-file.js';

/** Python polls once a second for up to 10 s (`scripts/stop.py`). */
export const STOP_WAIT_MS = 10_000;
/** `stop --graceful` waits this long for running builds by default (`--wait` changes it). */
export const DRAIN_WAIT_MS = 3_600_000;
/**
 * A plain `stop` repeats SIGTERM this often while the process lives: the worker takes the
 * first as "drain" and the next as "stop now", and two signals sent together could merge.
 */
export const RESIGNAL_MS = 1_000;
const POLL_MS = 250;

export type StopResult = 'not-running' | 'dead' | 'still-running';

export interface StopOptions {
  quiet?: boolean;
  /** Let running commands finish (one SIGTERM, long wait) instead of interrupting them. */
  graceful?: boolean;
  /** How long to wait for the process to go away (ms); STOP_WAIT_MS, or DRAIN_WAIT_MS when graceful. */
  waitMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Poll until `pid` is gone or `ms` pass; `tick` runs on every poll. */
async function waitGone(pid: number, ms: number, tick: (elapsedMs: number) => void = () => {}): Promise<boolean> {
  const start = Date.now();
  for (;;) {
    if (!isAlive(pid)) return true;
    const elapsed = Date.now() - start;
    if (elapsed >= ms) return false;
    tick(elapsed);
    await sleep(Math.min(POLL_MS, Math.max(1, ms - elapsed)));
  }
}

/**
 * Stop the worker of twistd.pid (`scripts/stop.py stopWorker`). The worker takes the first
 * SIGTERM as "drain" (no new builds, finish the running ones) and a second as "stop now".
 *
 * - plain: SIGTERM, then SIGTERM again every second while it lives, so running commands are
 *   interrupted like the Python worker's `stop` does; waits up to 10 s (`waitMs`).
 * - graceful: one SIGTERM, then the drain is followed in twistd.log (its lines are echoed)
 *   for up to an hour (`waitMs`); when that runs out the running commands are interrupted
 *   and the process gets 10 s more.
 *
 * Prints `worker process <pid> is dead` or `never saw process go away`, like Python.
 */
export async function stopWorker(basedir: string, opts: StopOptions, print: Print): Promise<StopResult> {
  const pid = readPid(basedir);
  if (pid === undefined) return 'not-running';
  const say = (line: string) => !opts.quiet && print(line);
  // A stale pid file can name an unrelated process that reuses the pid: never signal it.
  if (pid === process.pid || !isWorkerOf(pid, basedir)) {
    if (isAlive(pid) && pid !== process.pid) say(`${PID_FILE_NAME} names process ${pid}, which is not a worker of ${basedir}: not signalling it`);
    return 'not-running';
  }
  // Followed from before the signal, so the worker's answer to it is shown too.
  const follower = opts.graceful ? new LogFollower(path.join(basedir, LOG_FILE_NAME)) : undefined;
  signal(pid, 'SIGTERM');
  let gone: boolean;
  if (opts.graceful) {
    const waitMs = opts.waitMs ?? DRAIN_WAIT_MS;
    say(`waiting up to ${Math.round(waitMs / 1000)} seconds for worker process ${pid} to finish its running commands (run 'stop' without --graceful to interrupt them)`);
    const echo = () => follower!.poll().forEach((l) => say(l));
    gone = await waitGone(pid, waitMs, echo);
    echo();
    if (!gone) {
      say(`worker process ${pid} is still draining after ${Math.round(waitMs / 1000)} seconds; interrupting its running commands`);
      signal(pid, 'SIGTERM');
      gone = await waitGone(pid, STOP_WAIT_MS);
    }
  } else {
    let lastSignal = Date.now();
    gone = await waitGone(pid, opts.waitMs ?? STOP_WAIT_MS, () => {
      if (Date.now() - lastSignal < RESIGNAL_MS) return;
      lastSignal = Date.now();
      signal(pid, 'SIGTERM');
    });
  }
  if (gone) {
    say(`worker process ${pid} is dead`);
    return 'dead';
  }
  say('never saw process go away');
  return 'still-running';
}

/** `stop [--graceful] [--wait SECONDS] [BASEDIR]`: exit 0 when stopped or not running, 1 when the process stays. */
export async function stopCommand(basedir: string, opts: StopOptions, print: Print): Promise<number> {
  const r = await stopWorker(basedir, opts, print);
  if (r === 'not-running') {
    if (!opts.quiet) print('worker not running');
    return 0;
  }
  return r === 'dead' ? 0 : 1;
}

/** `--wait SECONDS` → milliseconds; undefined when not given; a UsageError for bad values. */
export function parseWaitSeconds(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text.trim()) || Number(text) > 10_000_000) throw new UsageError(`--wait must be a number of seconds, not '${text.slice(0, 40)}'`);
  return Number(text) * 1000;
}
