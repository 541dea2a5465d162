import type { Clock, TimerHandle } from '../util/clock.js';

/** How often the runner is looked at; short enough that the exit is never a second late. */
export const IDLE_POLL_MS = 1_000;

export interface IdleExitOptions {
  /** What is running; only `running` is read. */
  runner: { readonly running: number };
  clock: Clock;
  /** Idle time that ends the worker (milliseconds). */
  idleMs: number;
  /** Called once, when the worker has been idle for `idleMs`. */
  onIdle: () => void;
}

/**
 * Exit-when-idle for one-shot / latent containers (`--exit-when-idle`,
 * `WORKER_EXIT_WHEN_IDLE`): once started (the service starts it at the first login), it
 * calls `onIdle` when no command has been running for `idleMs` — counted from the start,
 * and again from the end of every command. The gap between two steps of a build is
 * normally well under a second, so an idle time of some seconds lets a whole build run
 * and ends the worker after it (there is no "build finished" message on msgpack to go by).
 */
export class IdleExit {
  private timer: TimerHandle | undefined;
  private lastBusy = 0;
  private fired = false;

  constructor(private readonly o: IdleExitOptions) {}

  get started(): boolean {
    return this.timer !== undefined;
  }

  start(): void {
    if (this.timer || this.fired) return;
    this.lastBusy = this.o.clock.now();
    this.schedule();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** One look at the runner (exposed for tests). */
  check(): void {
    const now = this.o.clock.now();
    if (this.o.runner.running > 0) {
      this.lastBusy = now;
      return;
    }
    if (now - this.lastBusy >= this.o.idleMs) {
      this.stop();
      this.fired = true;
      this.o.onIdle();
    }
  }

  private schedule(): void {
    const wait = Math.max(1, Math.min(IDLE_POLL_MS, this.o.idleMs));
    this.timer = this.o.clock.setTimeout(() => {
      this.timer = undefined;
      this.check();
      if (!this.fired) this.schedule();
    }, wait);
  }
}
