import { EventEmitter } from 'node:events';
import { TimeoutError } from '../errors.js';
import { systemClock, type Clock } from '../util/clock.js';
import { EventQueue, type MasterEvent } from './events.js';
import type { ListenerContext } from './listener-context.js';
import { MsgpackListener } from './msgpack/listener.js';
import { PbListener } from './pb/listener.js';
import type { WorkerConnection } from './worker-connection.js';
import type { BuilderConfig, WorkerHandle } from './worker-handle.js';

/**
 * An embedded stand-in for a Buildbot 3.7 master that speaks both worker protocols
 * (PB and `msgpack_experimental_v7`), for end-to-end tests and benchmarks without Python.
 * It behaves on the wire like the real master (`docs/protocol/pb.md`,
 * `docs/protocol/msgpack.md`) and records what the worker does.
 */

export interface TestMasterOptions {
  /** Worker name → password. */
  workers: Record<string, string>;
  /** PB (Perspective Broker) port; 0 (default) = ephemeral, null = do not listen. */
  pbPort?: number | null;
  /** msgpack WebSocket port; 0 (default) = ephemeral, null = do not listen. */
  msgpackPort?: number | null;
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** Builders every worker gets; default `[{ name: 'builder', builddir: 'builder' }]`. */
  builders?: BuilderConfig[];
  /** Log sink (one line per call); default: silent. Never receives passwords. */
  log?: (line: string) => void;
  /** Clock for the keepalive and duplicate-connection timers; default the system clock. */
  clock?: Clock;
  /** Period of the master's keepalive (msgpack `keepalive`, PB `print('keepalive')`); 0/undefined = off (the real master: 3600 s). */
  keepaliveIntervalMs?: number;
  /** How long a duplicate connection pings the old one before replacing it (real master: 10 s). */
  duplicateTimeoutMs?: number;
  /**
   * A connection that has not logged in this long after accept is closed, so that idle or
   * half-sent logins cannot pile up (default 30 s; 0 = never, like the real master).
   */
  loginTimeoutMs?: number;
}

export interface WaitOptions {
  /** Default 10 000 ms (wall-clock: these wait for real I/O). */
  timeoutMs?: number;
}

export const DEFAULT_WAIT_TIMEOUT_MS = 10_000;
export const DEFAULT_DUPLICATE_TIMEOUT_MS = 10_000;
export const DEFAULT_LOGIN_TIMEOUT_MS = 30_000;

export class TestMaster extends EventEmitter {
  /** Bound PB port (0 when not listening). */
  pbPort = 0;
  /** Bound msgpack port (0 when not listening). */
  msgpackPort = 0;

  private readonly attached = new Map<string, WorkerConnection>();
  private readonly everAttached: WorkerConnection[] = [];
  private commandCounter = 0;
  private msgpack?: MsgpackListener;
  private pb?: PbListener;
  private closed = false;
  readonly ctx: ListenerContext;

  constructor(private readonly options: TestMasterOptions) {
    super();
    const clock = options.clock ?? systemClock;
    const log = options.log ?? (() => undefined);
    const builders = options.builders ?? [{ name: 'builder', builddir: 'builder' }];
    this.ctx = {
      clock,
      keepaliveIntervalMs: options.keepaliveIntervalMs ?? 0,
      builders,
      log,
      emit: (event) => this.publish(event),
      nextCommandId: () => String(this.commandCounter++),
      password: (name) => (Object.hasOwn(options.workers, name) ? options.workers[name] : undefined),
      registerAttached: (h) => {
        this.attached.set(h.name, h);
        this.everAttached.push(h);
      },
      registerDetached: (h) => {
        if (this.attached.get(h.name) === h) this.attached.delete(h.name);
      },
      admit: (name) => (this.attached.has(name) ? this.admitDuplicate(name) : true),
      loginTimeoutMs: options.loginTimeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS,
    };
  }

  /** Bind the configured ports. Use `startTestMaster` instead of calling this directly. */
  async listen(): Promise<void> {
    const host = this.options.host ?? '127.0.0.1';
    if (this.options.pbPort !== null) {
      this.pb = await PbListener.listen(host, this.options.pbPort ?? 0, this.ctx);
      this.pbPort = this.pb.port;
    }
    if (this.options.msgpackPort !== null) {
      this.msgpack = await MsgpackListener.listen(host, this.options.msgpackPort ?? 0, this.ctx);
      this.msgpackPort = this.msgpack.port;
    }
  }

  /** The currently attached connection of a worker, if any. */
  worker(name: string): WorkerHandle | undefined {
    return this.attached.get(name);
  }

  /** Every connection that ever attached, oldest first (handles stay readable after detach). */
  history(): readonly WorkerHandle[] {
    return this.everAttached;
  }

  /**
   * Resolve with the worker's handle once it has attached (immediately if it is attached
   * now): msgpack after get_worker_info, set_worker_settings and the listdir/mkdir setup;
   * PB after respond → print('attached'), getWorkerInfo, setBuilderList, print per builder.
   */
  waitForWorker(name: string, opts: WaitOptions = {}): Promise<WorkerHandle> {
    const current = this.attached.get(name);
    if (current) return Promise.resolve(current);
    return this.waitForEvent((e) => e.type === 'attach' && e.worker === name, opts).then((e) => (e as Extract<MasterEvent, { type: 'attach' }>).handle);
  }

  /** Resolve with the first future event matching `predicate`. */
  waitForEvent(predicate: (e: MasterEvent) => boolean, opts: WaitOptions = {}): Promise<MasterEvent> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const onEvent = (e: MasterEvent): void => {
        if (!predicate(e)) return;
        cleanup();
        resolve(e);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new TimeoutError(`no matching master event within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('event', onEvent);
      };
      this.on('event', onEvent);
    });
  }

  /** Async iterator over events from now on; `break` out of the loop to unsubscribe. */
  events(): AsyncIterableIterator<MasterEvent> {
    const onEvent = (e: MasterEvent): void => queue.push(e);
    const queue = new EventQueue<MasterEvent>(() => this.off('event', onEvent));
    this.on('event', onEvent);
    this.once('close', () => queue.close());
    return queue;
  }

  /**
   * PB: references the master exported to the worker's current connection and the
   * worker has not decref'd (challenger, perspective, RemoteCommands, writers, readers).
   * 0 for msgpack workers; throws if the worker is not attached.
   */
  liveReferences(workerName: string): number {
    const h = this.attached.get(workerName);
    if (!h) throw new Error(`worker ${workerName} is not attached`);
    return h.liveReferences();
  }

  /** Stop listening and drop every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.msgpack?.close(), this.pb?.close()]);
    this.emit('close');
  }

  private publish(event: MasterEvent): void {
    this.emit('event', event);
  }

  /**
   * A second connection for a worker that is still attached: like the real master, ping the
   * old connection with print('master got a duplicate connection'); if it answers in time the
   * newcomer is refused, otherwise the old connection is dropped and the newcomer accepted.
   */
  private async admitDuplicate(name: string): Promise<boolean> {
    const old = this.attached.get(name);
    if (!old) return true;
    const timeoutMs = this.options.duplicateTimeoutMs ?? DEFAULT_DUPLICATE_TIMEOUT_MS;
    const answered = await new Promise<boolean>((resolve) => {
      const timer = this.ctx.clock.setTimeout(() => resolve(false), timeoutMs);
      old.print('master got a duplicate connection').then(
        () => {
          timer.cancel();
          resolve(true);
        },
        () => {
          timer.cancel();
          resolve(false);
        },
      );
    });
    if (answered && !old.isGone) return false;
    old.disconnect();
    this.attached.delete(name);
    return true;
  }
}

/** Start a test master and bind its ports. */
export async function startTestMaster(options: TestMasterOptions): Promise<TestMaster> {
  const master = new TestMaster(options);
  try {
    await master.listen();
  } catch (err) {
    await master.close();
    throw err;
  }
  return master;
}
