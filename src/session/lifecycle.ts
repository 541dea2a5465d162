import type { Logger } from 'pino';
import { ConnectionError, ERR, TimeoutError } from '../errors.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { CLOSE_GRACE_MS } from './deadlines.js';

/**
 * The life of one connection to the master, the same for both protocols: it ends once
 * (`closed` resolves with the reason, undefined for a clean close), on a dropped link, on
 * an abort of the caller's signal or on a missed attach deadline (`docs/protocol/pb.md`
 * §6.9, `docs/protocol/msgpack.md` §11). Each protocol supplies how to tear its link
 * down at once, how to close it gracefully, and what to fail when the session ends.
 */

export interface LifecycleOptions {
  clock: Clock;
  log: Logger;
  signal?: AbortSignal;
  /** Drop the link at once (TCP destroy, WebSocket terminate). */
  terminate(): void;
  /** Start a clean close (TCP end, WebSocket Close frame); throw if it cannot, to terminate instead. */
  gracefulClose(): void;
  /** The session ended (once, before `closed` resolves): fail what waits, tell the worker. */
  onEnd(reason: Error | undefined): void;
}

export class SessionLifecycle {
  readonly closed: Promise<Error | undefined>;
  private resolveClosed!: (reason: Error | undefined) => void;
  private isEnded = false;
  private attachTimer: TimerHandle | undefined;
  private graceTimer: TimerHandle | undefined;
  private readonly endListeners: Array<() => void> = [];
  private readonly onAbort = (): void => this.close(new ConnectionError('session aborted', ERR.ABORTED));

  constructor(private readonly opts: LifecycleOptions) {
    this.closed = new Promise((r) => (this.resolveClosed = r));
  }

  get ended(): boolean {
    return this.isEnded;
  }

  /** Listen to the caller's abort signal (call once the link is wired up). */
  watchAbort(): void {
    const { signal } = this.opts;
    if (signal?.aborted) this.onAbort();
    else signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** The master must attach this worker within `ms`, or the link is dropped (`what` names the step). */
  attachDeadline(ms: number, what: string): void {
    if (this.isEnded) return;
    this.attachTimer = this.opts.clock.setTimeout(() => this.close(new TimeoutError(`${what} within ${ms / 1000} s`)), ms);
  }

  /** The master attached the worker: the attach deadline is off. Returns whether one was pending. */
  attached(): boolean {
    const pending = this.attachTimer !== undefined;
    this.attachTimer?.cancel();
    this.attachTimer = undefined;
    return pending;
  }

  /** Run `fn` when the session ends (e.g. stop a liveness probe). */
  onEnded(fn: () => void): void {
    this.endListeners.push(fn);
  }

  /** End the session once without touching the link: fail what waits, tell the worker, resolve `closed`. */
  finish(reason: Error | undefined): void {
    if (this.isEnded) return;
    this.isEnded = true;
    this.attached();
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    for (const fn of this.endListeners) fn();
    this.opts.onEnd(reason);
    this.resolveClosed(reason);
  }

  /** Drop the link with `reason`; without one, close cleanly and destroy it after a grace period. */
  close(reason?: Error): void {
    if (this.isEnded) return;
    if (reason) this.opts.log.warn({ err: reason }, 'closing the connection to the master');
    this.finish(reason);
    if (reason) {
      this.opts.terminate();
      return;
    }
    try {
      this.opts.gracefulClose();
    } catch {
      this.opts.terminate();
      return;
    }
    this.graceTimer = this.opts.clock.setTimeout(() => this.opts.terminate(), CLOSE_GRACE_MS);
  }

  /** The link is closed for good: no grace period is needed any more. */
  linkClosed(): void {
    this.graceTimer?.cancel();
    this.graceTimer = undefined;
  }
}
