import type { Clock, TimerHandle } from '../util/clock.js';

/** Quiet time after the last command before memory is handed back (a build's steps follow each other well within it). */
export const IDLE_MEMORY_RELEASE_MS = 10_000;

export interface IdleMemoryReleaseOptions {
  clock: Clock;
  /** True while a command runs. */
  busy: () => boolean;
  /** One full garbage collection (`fullGarbageCollection` in the worker). */
  collect: () => Promise<void>;
}

/**
 * Hands memory back once the worker is idle again after commands ran. V8 grows its young
 * generation to its maximum (2 × 16 MB) under a build's allocation rate and frees a dead
 * buffer only at a collection; an idle process allocates nothing, so neither happens and a
 * worker stayed at about 96 MB RSS after a 50 MB log for as long as it was left alone, where
 * Python's returns to its idle size (bench/README.md, "Memory of a long-running worker").
 * One full collection while allocation is quiet makes V8 shrink the young generation and
 * frees those buffers; its own memory reducer then carries on. Idle means no command has
 * run for `IDLE_MEMORY_RELEASE_MS`; a command that starts meanwhile postpones it to its end.
 */
export class IdleMemoryRelease {
  private timer: TimerHandle | undefined;

  constructor(private readonly o: IdleMemoryReleaseOptions) {}

  /** The last running command has ended: release memory if nothing runs for `IDLE_MEMORY_RELEASE_MS`. */
  idle(): void {
    this.timer?.cancel();
    this.timer = this.o.clock.setTimeout(() => {
      this.timer = undefined;
      if (!this.o.busy()) void this.o.collect().catch(() => undefined);
    }, IDLE_MEMORY_RELEASE_MS);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }
}
