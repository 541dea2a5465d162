import { TimeoutError } from '../errors.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { replyDeadlineMs } from './deadlines.js';

/**
 * A liveness probe, the same for both protocols: every `intervalMs` it sends a probe (PB
 * `perspective.keepalive()`, a WebSocket ping) and expects to hear from the master within
 * `deadlineMs`; silence calls `onTimeout`, so a half-open link is noticed (buildbot issue
 * #5832, `src/session/deadlines.ts`). `intervalMs` 0 disables it.
 */

export interface LivenessOptions {
  clock: Clock;
  intervalMs: number;
  deadlineMs: number;
  /** Send one probe; call `heard()` when the answer (or anything proving the link) arrives. */
  send(): void;
  /** The master stayed silent past the deadline. */
  onTimeout(err: TimeoutError): void;
  /** Names the probe in the timeout message, e.g. "a keepalive". */
  what: string;
}

/** Interval and deadline of a probe sent every `keepaliveSeconds` (0: off). */
export function keepaliveTiming(keepaliveSeconds: number): Pick<LivenessOptions, 'intervalMs' | 'deadlineMs'> {
  return { intervalMs: keepaliveSeconds * 1000, deadlineMs: replyDeadlineMs(keepaliveSeconds) };
}

export class LivenessProbe {
  private nextTimer: TimerHandle | undefined;
  private deadlineTimer: TimerHandle | undefined;
  private stopped = false;

  constructor(private readonly opts: LivenessOptions) {}

  /** Plan the next probe. */
  start(): void {
    if (this.opts.intervalMs <= 0 || this.stopped) return;
    this.nextTimer = this.opts.clock.setTimeout(() => this.probe(), this.opts.intervalMs);
  }

  /** Whether a probe waits for its answer. */
  get waiting(): boolean {
    return this.deadlineTimer !== undefined;
  }

  /** The master answered (or proved the link alive): stop waiting and plan the next probe. */
  heard(): void {
    if (!this.deadlineTimer) return;
    this.deadlineTimer.cancel();
    this.deadlineTimer = undefined;
    this.start();
  }

  stop(): void {
    this.stopped = true;
    this.nextTimer?.cancel();
    this.deadlineTimer?.cancel();
    this.deadlineTimer = undefined;
  }

  private probe(): void {
    if (this.stopped) return;
    const { deadlineMs, what } = this.opts;
    this.deadlineTimer = this.opts.clock.setTimeout(() => {
      this.deadlineTimer = undefined;
      this.opts.onTimeout(new TimeoutError(`the master did not answer ${what} within ${deadlineMs / 1000} s`));
    }, deadlineMs);
    this.opts.send();
  }
}
