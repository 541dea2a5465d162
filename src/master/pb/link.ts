import type { Socket } from 'node:net';
import pino from 'pino';
import { ConnectionError, ERR, WorkerError } from '../../errors.js';
import type { RemoteRef } from '../../protocol/jelly.js';
import { Broker, PbFailure, RemoteCallError, type Referenceable } from '../../engine/pb/broker.js';
import { PeerMistakeError, type PeerMistake } from '../../engine/peer-mistake.js';
import type { SExp } from '../../protocol/banana.js';
import type { TimerHandle } from '../../util/clock.js';
import type { ListenerContext } from '../listener-context.js';
import { PbWorkerConnection, type PbLink } from './connection.js';
import { pyFailure } from './failure.js';
import { ServerFraming } from '../../engine/pb/server-framing.js';
import { PbRoot } from './portal.js';

/**
 * One TCP connection to the PB port: banana framing with the server's dialect offer, a
 * strict master-role PB engine whose root is the login portal, and — once a worker logged
 * in — its PbWorkerConnection. Every peer mistake the engine reports is recorded as a
 * violation; the ones that make Twisted drop the link (`docs/protocol/pb.md` §7.14: an
 * unknown PB command, an answer to no pending request, a decref of an unknown object, bad
 * banana, a wrong version) drop it here too, the ones Twisted answers with an error
 * (unknown object or method) are answered. Tracebacks are shared only with a logged-in worker.
 */

export class PbServerLink implements PbLink {
  readonly broker: Broker;
  private readonly framing: ServerFraming;
  private conn?: PbWorkerConnection;
  /** Name of the last login attempt, for violations before attach. */
  private loginName: string | null = null;
  private loginTimer?: TimerHandle;
  private queued: Uint8Array[] = [];
  private flushScheduled = false;
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly ctx: ListenerContext,
  ) {
    // The engine's own errors (a method that raised) reach the master's log as they are.
    const log = pino({ level: 'error', base: undefined, timestamp: false }, { write: (line: string) => ctx.log(`pb: ${line.trimEnd()}`) });
    this.framing = new ServerFraming({
      write: (bytes) => this.write(bytes),
      onNegotiated: () => this.broker.sendVersion(),
      onExpression: (expr) => this.onExpression(expr),
    });
    const currentBroker = (): Broker => this.broker;
    const root = new PbRoot({
      // The broker needs the root and the root needs the broker: resolved on use.
      get broker(): Broker {
        return currentBroker();
      },
      password: (name) => ctx.password(name),
      attach: (name, mind) => this.attach(name, mind),
      authFailure: (name, reason) => {
        ctx.log(`pb worker ${name ?? '?'}: login refused (${reason})`);
        ctx.emit({ type: 'authFailure', worker: name, protocol: 'pb', reason });
      },
      violation: (message) => this.violation(message),
    });
    this.broker = new Broker({
      send: (expr) => this.framing.send(expr),
      log,
      root,
      role: 'master',
      strictness: 'drop',
      // Twisted's unsafeTracebacks: never to a peer that has not logged in.
      unsafeTracebacks: false,
      onPeerMistake: (m) => this.onPeerMistake(m),
    });

    socket.setKeepAlive(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.onClose());
  }

  /** The server speaks first: the dialect offer, right after accept (capture #10). */
  start(): void {
    this.framing.offer();
    const ms = this.ctx.loginTimeoutMs;
    if (ms > 0) {
      this.loginTimer = this.ctx.clock.setTimeout(() => {
        this.violation(`no login within ${ms / 1000} s (connection dropped)`);
        this.abort();
      }, ms);
    }
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

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    try {
      this.framing.receive(chunk);
    } catch (err) {
      // The engine reported its own mistakes; bad banana and dialect errors come from the framing.
      if (!(err instanceof PeerMistakeError)) this.violation(`${err instanceof Error ? err.message : String(err)} (connection dropped)`);
      this.abort();
    }
  }

  private onExpression(expr: SExp): void {
    if (this.closed) return;
    this.broker.receive(expr);
  }

  private onPeerMistake(m: PeerMistake): void {
    this.violation(m.fatal ? `${m.message} (connection dropped)` : m.message);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.loginTimer?.cancel();
    this.queued = [];
    const conn = this.conn;
    this.conn = undefined;
    conn?.connectionLost('connection lost');
    this.broker.connectionLost(new ConnectionError('connection lost', ERR.CONNECTION_LOST));
  }

  // ---- login and attach --------------------------------------------------------------

  private async attach(name: string, mind: RemoteRef): Promise<Referenceable> {
    this.loginName = name;
    // Good credentials: the login deadline is met (attaching has its own pace).
    this.loginTimer?.cancel();
    if (this.conn) {
      this.broker.release(mind);
      this.violation('a second login on a connection that is already attached');
      throw pyFailure('builtins.RuntimeError', 'already attached');
    }
    const admitted = await this.ctx.admit(name);
    if (this.closed) throw new ConnectionError('connection lost during login', ERR.CONNECTION_LOST);
    if (!admitted) {
      this.ctx.log(`pb worker ${name}: rejecting duplicate worker`);
      this.broker.release(mind);
      throw pyFailure('builtins.RuntimeError', 'rejecting duplicate worker');
    }
    const conn = new PbWorkerConnection(name, this.ctx, this, mind);
    this.conn = conn;
    // Logged in: from here on the master shares its tracebacks, like a Twisted master with unsafeTracebacks.
    this.broker.setUnsafeTracebacks(true);
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
      if (err instanceof RemoteCallError) throw pyFailure(err.remoteType ?? 'builtins.Exception', err.failure.value);
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
}
