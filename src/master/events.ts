import type { CommandResult } from './command-run.js';
import type { MasterProtocol, WorkerHandle } from './worker-handle.js';

export type { MasterProtocol };

/**
 * Everything the test master reports. Tests subscribe with `master.on('event', fn)` or
 * iterate `master.events()`.
 */
export type MasterEvent =
  /** The attach sequence finished; the worker can run commands. */
  | { type: 'attach'; worker: string; protocol: MasterProtocol; handle: WorkerHandle }
  /** The connection of an attached (or attaching) worker is gone. */
  | { type: 'detach'; worker: string; protocol: MasterProtocol; reason: string }
  /** Credentials refused (msgpack 401/400, PB UnauthorizedLogin). `worker` is the name tried, if any. */
  | { type: 'authFailure'; worker: string | null; protocol: MasterProtocol; reason: string }
  /** One `[key, value]` update of a command, in arrival order. */
  | { type: 'update'; worker: string; commandId: string; key: string; value: unknown }
  /** A command finished (complete, start refused, or connection lost). */
  | { type: 'complete'; worker: string; commandId: string; result: CommandResult }
  /** The worker sent an application keepalive (PB `perspective.keepalive`). */
  | { type: 'keepalive'; worker: string; protocol: MasterProtocol }
  /** The worker asked for a graceful shutdown (PB `perspective.shutdown`). */
  | { type: 'shutdownRequest'; worker: string; protocol: MasterProtocol }
  /** The peer broke the protocol; the real master would log, fail the step or drop the connection. */
  | { type: 'violation'; worker: string | null; protocol: MasterProtocol; message: string };

export type MasterEventType = MasterEvent['type'];

/**
 * An unbounded queue feeding one async iterator; `close()` ends the iteration.
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<(r: IteratorResult<T>) => void> = [];
  private closed = false;

  constructor(private readonly onReturn?: () => void) {}

  push(item: T): void {
    if (this.closed) return;
    const waiter = this.waiters.shift();
    if (waiter) waiter({ value: item, done: false });
    else this.items.push(item);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T>> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  return(): Promise<IteratorResult<T>> {
    this.close();
    this.onReturn?.();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
