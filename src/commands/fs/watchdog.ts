import { CommandError, ERR } from '../../errors.js';
import type { Clock, TimerHandle } from '../../util/clock.js';

/** Why a watched operation was stopped; the failure_reason values are Python's (3.10+). */
export type StopReason =
  { kind: 'timeout'; seconds: number; failureReason: 'timeout_without_output' } | { kind: 'maxTime'; seconds: number; failureReason: 'timeout' } | { kind: 'interrupted'; why: string };

/**
 * The `timeout` / `maxTime` limits the Python worker puts on the `rm`/`cp` processes of
 * rmdir and cpdir, for work done in-process: `timeout` is seconds without progress (the
 * Python worker counts output lines; here each removed or copied entry is progress),
 * `maxTime` is seconds in total. `signal` aborts on either, or when `parent` aborts.
 */
export class Watchdog {
  private readonly controller = new AbortController();
  private idleTimer: TimerHandle | undefined;
  private totalTimer: TimerHandle | undefined;
  private stopReason: StopReason | undefined;
  private readonly onParentAbort = (): void => {
    const reason: unknown = this.parent.reason;
    this.stop({ kind: 'interrupted', why: reason instanceof Error ? reason.message : String(reason ?? 'interrupted') });
  };

  constructor(
    private readonly clock: Clock,
    private readonly timeoutSeconds: number | null,
    maxTimeSeconds: number | null,
    private readonly parent: AbortSignal,
  ) {
    if (parent.aborted) this.onParentAbort();
    else parent.addEventListener('abort', this.onParentAbort, { once: true });
    if (maxTimeSeconds !== null) {
      this.totalTimer = clock.setTimeout(() => this.stop({ kind: 'maxTime', seconds: maxTimeSeconds, failureReason: 'timeout' }), maxTimeSeconds * 1000);
    }
    this.progress();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get reason(): StopReason | undefined {
    return this.stopReason;
  }

  /** Some work got done: restart the no-progress timer. */
  progress(): void {
    if (this.stopReason || this.timeoutSeconds === null) return;
    this.idleTimer?.cancel();
    const seconds = this.timeoutSeconds;
    this.idleTimer = this.clock.setTimeout(() => this.stop({ kind: 'timeout', seconds, failureReason: 'timeout_without_output' }), seconds * 1000);
  }

  /** Release the timers and the parent listener. */
  dispose(): void {
    this.idleTimer?.cancel();
    this.totalTimer?.cancel();
    this.parent.removeEventListener('abort', this.onParentAbort);
  }

  private stop(reason: StopReason): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    this.dispose();
    this.controller.abort(reason);
  }
}

/** Resolve with `work`, or reject as soon as `signal` aborts (an fs call may hang on a dead mount). */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new StoppedError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new StoppedError());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Thrown inside a watched operation once its watchdog has stopped it. */
export class StoppedError extends CommandError {
  constructor() {
    super('operation stopped', ERR.COMMAND_STOPPED);
  }
}
