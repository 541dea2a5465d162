import net from 'node:net';
import pino from 'pino';
import { BananaDecoder, encodeBanana, type SExp } from '../../../src/protocol/banana.js';
import { RemoteRef, type JellyValue } from '../../../src/protocol/jelly.js';
import { Broker, Referenceable, type RemoteReference } from '../../../src/engine/pb/broker.js';
import { ClientFraming } from '../../../src/engine/pb/client-framing.js';
import { login } from '../../../src/session/pb/login.js';
import { PyTuple } from '../../../src/values.js';

/**
 * PB clients for driving the test master, built from the codecs and the generic PB
 * broker only (not the worker's Bot): a raw byte-level client for capture replays and
 * protocol mistakes, and a broker-level worker whose Bot and WorkerForBuilders record
 * what the master asks.
 */

export const b = (s: string): Buffer => Buffer.from(s, 'latin1');
export const word = (v: SExp | undefined): string | undefined => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : undefined);

/** Bytes in, decoded expressions out (the first one before the dialect switch). */
export class RawPbClient {
  private readonly chunks: Buffer[] = [];
  private total = 0;
  private readonly decoder = new BananaDecoder('none');
  private readonly exprs: SExp[] = [];
  private readonly waiters = new Set<() => void>();
  private first = true;
  isClosed = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.total += d.length;
      this.decoder.push(d);
      for (let e = this.decoder.next(); e !== undefined; e = this.decoder.next()) {
        this.exprs.push(e);
        if (this.first) {
          this.first = false;
          this.decoder.dialect = 'pb';
        }
      }
      this.wake();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.isClosed = true;
        this.wake();
        resolve();
      }),
    );
  }

  static connect(port: number): Promise<RawPbClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.off('error', reject);
        resolve(new RawPbClient(s));
      });
      s.once('error', reject);
    });
  }

  /** Everything received so far. */
  received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Encode `expr` in the pb dialect and send it. */
  send(expr: SExp): void {
    this.write(encodeBanana(expr, 'pb'));
  }

  /** Resolve once `n` bytes arrived (rejects if the connection closes first or after `ms`). */
  waitBytes(n: number, ms = 5000): Promise<Buffer> {
    return this.waitFor(() => (this.total >= n ? this.received() : undefined), `${n} bytes (have ${this.total})`, ms);
  }

  /** The next decoded expression from the master. */
  next(ms = 5000): Promise<SExp> {
    return this.waitFor(() => this.exprs.shift(), 'an expression', ms);
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private waitFor<T>(probe: () => T | undefined, what: string, ms: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const v = probe();
        if (v !== undefined) {
          done();
          resolve(v);
        } else if (this.isClosed) {
          done();
          reject(new Error(`connection closed while waiting for ${what}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}`));
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** One `startCommand` the master sent to a WorkerForBuilder. */
export interface StartCall {
  builder: string;
  command: RemoteReference;
  commandId: string;
  name: string;
  args: Record<string, JellyValue>;
  writer?: RemoteReference;
  reader?: RemoteReference;
}

export interface PbTestWorkerOptions {
  info?: Record<string, JellyValue>;
  /** Answer getWorkerInfo with NoSuchMethod (a buildbot-slave). */
  legacy?: boolean;
  /** Make startCommand fail with this message. */
  refuseStart?: string;
}

/** A waitable list. */
class Inbox<T> {
  readonly all: T[] = [];
  private readonly pending: T[] = [];
  private readonly waiters: Array<(v: T) => void> = [];
  push(v: T): void {
    this.all.push(v);
    const w = this.waiters.shift();
    if (w) w(v);
    else this.pending.push(v);
  }
  next(ms = 5000): Promise<T> {
    const v = this.pending.shift();
    if (v !== undefined) return Promise.resolve(v);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting')), ms);
      this.waiters.push((x) => {
        clearTimeout(timer);
        resolve(x);
      });
    });
  }
}

/** A broker-level PB worker: logs in like the Python worker and records the master's calls. */
export class PbTestWorker {
  readonly prints = new Inbox<string>();
  readonly starts = new Inbox<StartCall>();
  readonly calls: string[] = [];
  readonly interrupts = new Inbox<[string, string]>();
  readonly shutdowns = new Inbox<string>();
  perspective!: RemoteReference;
  readonly broker: Broker;
  readonly framing: ClientFraming;
  readonly closed: Promise<void>;
  private readonly socket: net.Socket;

  private constructor(socket: net.Socket, opts: PbTestWorkerOptions) {
    this.socket = socket;
    const log = pino({ level: 'silent' });
    this.framing = new ClientFraming({
      write: (bytes) => socket.write(bytes),
      onNegotiated: () => this.broker.sendVersion(),
      onExpression: (e) => this.broker.receive(e),
    });
    this.broker = new Broker({ send: (e) => this.framing.send(e), log });
    socket.on('data', (d: Buffer) => this.framing.receive(d));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.broker.connectionLost();
        resolve();
      }),
    );
    this.bot = this.makeBot(opts);
  }

  readonly bot: Referenceable;

  static async login(port: number, name: string, password: string, opts: PbTestWorkerOptions = {}): Promise<PbTestWorker> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.setNoDelay(true);
      s.once('error', reject);
    });
    const w = new PbTestWorker(socket, opts);
    // The dialect offer arrives first; login once the version went out.
    await new Promise<void>((resolve) => {
      const check = (): void => (w.framing.dialect ? resolve() : void setTimeout(check, 5));
      check();
    });
    try {
      w.perspective = await login(w.broker, name, password, w.bot);
    } catch (err) {
      socket.destroy();
      throw err;
    }
    return w;
  }

  close(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private makeBot(opts: PbTestWorkerOptions): Referenceable {
    const wfbs = new Map<string, Referenceable>();
    const text = (v: unknown): string => (typeof v === 'string' ? v : v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : String(v));
    const wfb = (builder: string): Referenceable => {
      let r = wfbs.get(builder);
      if (r) return r;
      r = new Referenceable(`WorkerForBuilder(${builder})`, {
        startBuild: () => {
          this.calls.push(`startBuild ${builder}`);
          return null;
        },
        startCommand: (args) => {
          const [cmd, id, name, dict] = args;
          if (opts.refuseStart) {
            this.broker.releaseAll(args);
            throw new Error(opts.refuseStart);
          }
          const d = dict as Record<string, JellyValue>;
          const call: StartCall = {
            builder,
            command: this.broker.reference(cmd as RemoteRef),
            commandId: text(id),
            name: text(name),
            args: d,
          };
          if (d.writer instanceof RemoteRef) call.writer = this.broker.reference(d.writer);
          if (d.reader instanceof RemoteRef) call.reader = this.broker.reference(d.reader);
          this.calls.push(`startCommand ${builder} ${call.commandId} ${call.name}`);
          this.starts.push(call);
          return null;
        },
        interruptCommand: (args) => {
          this.interrupts.push([text(args[0]), text(args[1])]);
          return null;
        },
        shutdown: () => {
          this.shutdowns.push(`wfb ${builder}`);
          return null;
        },
      });
      wfbs.set(builder, r);
      return r;
    };
    const methods: Record<string, (args: JellyValue[], kwargs: Record<string, JellyValue>) => unknown> = {
      print: (_args, kwargs) => {
        this.prints.push(text(kwargs.message));
        return null;
      },
      setBuilderList: (args) => {
        const out: Record<string, Referenceable> = {};
        for (const pair of args[0] as PyTuple[]) {
          const [name] = pair.items;
          out[text(name)] = wfb(text(name));
        }
        this.calls.push(`setBuilderList ${Object.keys(out).join(',')}`);
        return out;
      },
      getCommands: () => ({ shell: '3.1' }),
      getVersion: () => '0.8-legacy',
    };
    if (!opts.legacy) {
      methods.getWorkerInfo = () => {
        this.calls.push('getWorkerInfo');
        return opts.info ?? { basedir: '/w', system: 'posix', version: '3.7.0', worker_commands: { shell: '3.1' } };
      };
      methods.shutdown = () => {
        this.shutdowns.push('bot');
        return null;
      };
    }
    return new Referenceable('Bot', methods);
  }
}
