import type { Socket } from 'node:net';
import pino from 'pino';
import { ConnectionError, WorkerError } from '../errors.js';
import type { SExp } from '../protocol/banana.js';
import type { RemoteRef } from '../protocol/jelly.js';
import { Broker, PbFailure, type Referenceable } from '../session/pb/broker.js';
import type { ListenerContext } from './msgpack-listener.js';
import { PbWorkerConnection, type PbLink } from './pb-connection.js';
import { pyFailure } from './pb-failure.js';
import { ServerFraming } from './pb-framing.js';
import { PbRoot } from './pb-portal.js';
import { RemoteCallError } from './remote-call-error.js';

/**
 * One TCP connection to the PB port: banana framing with the server's dialect offer, a
 * PB broker whose root is the login portal, and — once a worker logged in — its
 * PbWorkerConnection. Mistakes that make Twisted drop the link (`docs/protocol/pb.md`
 * §7.14: an unknown PB command, an answer to no pending request, a decref of an unknown
 * object, bad banana, a wrong version) are recorded as violations and drop it here too;
 * the ones Twisted answers with an error (unknown object or method) are recorded and answered.
 */

/** PB commands a Twisted broker understands; anything else makes it drop the connection. */
const PB_COMMANDS = new Set(['version', 'message', 'answer', 'error', 'decref', 'decache', 'uncache', 'cachemessage']);

const word = (v: SExp | undefined): string | undefined => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : undefined);

export class PbServerLink implements PbLink {
  readonly broker: Broker;
  private readonly framing: ServerFraming;
  private conn?: PbWorkerConnection;
  /** Name of the last login attempt, for violations before attach. */
  private loginName: string | null = null;
  /** Request ids of our calls still waiting for an answer (Twisted drops the link on any other). */
  private readonly outstanding = new Set<number>();
  private queued: Uint8Array[] = [];
  private flushScheduled = false;
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly ctx: ListenerContext,
  ) {
    const log = pino({ level: 'info', base: undefined, timestamp: false }, { write: (line: string) => this.onBrokerLog(line) });
    this.framing = new ServerFraming({
      write: (bytes) => this.write(bytes),
      onNegotiated: () => this.broker.sendVersion(),
      onExpression: (expr) => this.onExpression(expr),
    });
    const link = this;
    const root = new PbRoot({
      // The broker needs the root and the root needs the broker: resolved on use.
      get broker(): Broker {
        return link.broker;
      },
      password: (name) => ctx.password(name),
      attach: (name, mind) => this.attach(name, mind),
      authFailure: (name, reason) => {
        ctx.log(`pb worker ${name ?? '?'}: login refused (${reason})`);
        ctx.emit({ type: 'authFailure', worker: name, protocol: 'pb', reason });
      },
      violation: (message) => this.violation(message),
    });
    this.broker = new Broker({ send: (expr) => this.send(expr), log, root, unsafeTracebacks: true });

    socket.setKeepAlive(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.onClose());
  }

  /** The server speaks first: the dialect offer, right after accept (capture #10). */
  start(): void {
    this.framing.offer();
  }

  /** Drop TCP at once; queued bytes are discarded like the master's loseConnection hack. */
  abort(): void {
    this.queued = [];
    this.socket.destroy();
  }

  // ---- bytes ---------------------------------------------------------------------------

  /** Everything written in one turn of the event loop leaves in one TCP write, as with Twisted's reactor. */
  private write(bytes: Uint8Array): void {
    if (this.closed) return;
    this.queued.push(bytes);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.queued.length === 0) return;
    const data = Buffer.concat(this.queued);
    this.queued = [];
    this.socket.write(data);
  }

  private send(expr: SExp): void {
    if (Array.isArray(expr) && word(expr[0]) === 'message' && expr[4] !== 0 && typeof expr[1] === 'number') this.outstanding.add(expr[1]);
    this.framing.send(expr);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    try {
      this.framing.receive(chunk);
    } catch (err) {
      this.fatal(err instanceof Error ? err.message : String(err));
    }
  }

  private onExpression(expr: SExp): void {
    if (this.closed) return;
    if (Array.isArray(expr)) {
      const command = word(expr[0]);
      if (command !== undefined && !PB_COMMANDS.has(command)) throw new ConnectionError(`unknown PB command ${JSON.stringify(command)}`);
      if ((command === 'answer' || command === 'error') && typeof expr[1] === 'number' && !this.outstanding.delete(expr[1])) {
        throw new ConnectionError(`${command} for request ${expr[1]}, which is not pending`);
      }
      if (command === 'decref' && typeof expr[1] === 'number' && this.broker.refcountOf(expr[1]) === 0) {
        throw new ConnectionError(`decref of object ${expr[1]}, which this side does not export`);
      }
    }
    this.broker.receive(expr);
  }

  /** A mistake after which the real master's broker drops the connection. */
  private fatal(message: string): void {
    this.violation(`${message} (connection dropped)`);
    this.abort();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.queued = [];
    const conn = this.conn;
    this.conn = undefined;
    conn?.connectionLost('connection lost');
    this.outstanding.clear();
    this.broker.connectionLost(new ConnectionError('connection lost', 'ERR_CONNECTION_LOST'));
  }

  // ---- login and attach --------------------------------------------------------------

  private async attach(name: string, mind: RemoteRef): Promise<Referenceable> {
    this.loginName = name;
    if (this.conn) {
      this.broker.release(mind);
      this.violation('a second login on a connection that is already attached');
      throw pyFailure('builtins.RuntimeError', 'already attached');
    }
    const admitted = await this.ctx.admit(name);
    if (this.closed) throw new ConnectionError('connection lost during login', 'ERR_CONNECTION_LOST');
    if (!admitted) {
      this.ctx.log(`pb worker ${name}: rejecting duplicate worker`);
      this.broker.release(mind);
      throw pyFailure('builtins.RuntimeError', 'rejecting duplicate worker');
    }
    const conn = new PbWorkerConnection(name, this.ctx, this, mind);
    this.conn = conn;
    try {
      return await conn.attach();
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      if (!this.closed) {
        this.violation(`attach failed: ${text}`);
        this.conn = undefined;
        conn.connectionLost(`attach failed: ${text}`);
      }
      if (err instanceof PbFailure) throw err;
      if (err instanceof RemoteCallError) throw pyFailure(err.remoteType ?? 'builtins.Exception', err.message);
      throw err instanceof WorkerError ? err : pyFailure('builtins.Exception', text);
    }
  }

  // ---- reporting -----------------------------------------------------------------------

  private violation(message: string): void {
    if (this.conn) {
      this.conn.recordViolation(message);
      return;
    }
    this.ctx.log(`pb worker ${this.loginName ?? '?'}: protocol violation: ${message}`);
    this.ctx.emit({ type: 'violation', worker: this.loginName, protocol: 'pb', message });
  }

  /** The broker logs each peer mistake it tolerates at warn level: those are violations. */
  private onBrokerLog(line: string): void {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const { level, msg, err, ...rest } = entry;
    const detail = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
    if (typeof level === 'number' && level >= 40 && level < 50) this.violation(`${String(msg)}${detail}`);
    else this.ctx.log(`pb: ${String(msg)}${detail}${err ? ` (${JSON.stringify(err)})` : ''}`);
  }
}
