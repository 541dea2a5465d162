import type { Logger } from 'pino';
import { ConnectionError, ERR, ProtocolError, type ErrorCode } from '../../errors.js';
import { decodeMessage, describeMsgpackValue, encodeMessage, type MsgpackMessage } from '../../protocol/msgpack.js';
import { reportMistake, type EngineRole, type MistakePolicy, type MistakeSeverity, type PeerMistakeHandler, type Strictness } from '../peer-mistake.js';
import { RemoteCallError } from '../remote-call-error.js';
import { missingKeyText, responseMessage, unknownOpText } from './messages.js';

export { RemoteCallError };

/**
 * Requests and responses of `msgpack_experimental_v7` (`docs/protocol/msgpack.md` §2),
 * for either end: per-connection sequence numbers from 0 for what this side sends,
 * responses matched by `seq_number` only, `is_exception` tested for presence, one answer
 * per request (an error for an unknown op, never a dropped connection). A response to no
 * outstanding request is a peer mistake the master drops the connection for (a KeyError
 * in its onMessage) and the worker ignores; `strictness` chooses. Transport-free: the
 * caller feeds `receive` with binary messages and gives `send` for the other way.
 */

/** Requests in flight at once; more wait in order (they are sent in the order they were made). */
export const MAX_OUTSTANDING_REQUESTS = 64;
/** Requests allowed to wait for a slot; beyond that the caller gets an error instead of unbounded memory. */
export const MAX_QUEUED_REQUESTS = 4096;

/** Handles one op from the master; the value it returns (or resolves to) is the response's `result`. */
export type OpHandler = (message: MsgpackMessage) => unknown;

export interface PeerOptions {
  /** Write one binary message (dropped silently once the connection is gone). */
  send: (payload: Buffer) => void;
  log: Logger;
  handlers: Readonly<Record<string, OpHandler>>;
  /** Which end this is (only words in logs and texts differ). Default: worker. */
  role?: EngineRole;
  /** Default: `tolerate` for the worker, `drop` for the master (as the Python peers). */
  strictness?: Strictness;
  /** Told of every peer mistake; the engine also logs it at warn level. */
  onPeerMistake?: PeerMistakeHandler;
  maxOutstanding?: number;
  maxQueued?: number;
}

interface Pending {
  op: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

interface Queued extends Pending {
  message: MsgpackMessage;
}

const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

export class MsgpackPeer {
  private nextSeq = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly queue: Queued[] = [];
  private lost: Error | undefined;
  private readonly maxOutstanding: number;
  private readonly maxQueued: number;
  private readonly peerName: string;
  private readonly policy: MistakePolicy;

  constructor(private readonly opts: PeerOptions) {
    this.maxOutstanding = opts.maxOutstanding ?? MAX_OUTSTANDING_REQUESTS;
    this.maxQueued = opts.maxQueued ?? MAX_QUEUED_REQUESTS;
    const role = opts.role ?? 'worker';
    this.peerName = role === 'worker' ? 'the master' : 'the worker';
    this.policy = {
      strictness: opts.strictness ?? (role === 'master' ? 'drop' : 'tolerate'),
      onPeerMistake: (m) => {
        opts.log.warn({ code: m.code, fatal: m.fatal }, m.message);
        opts.onPeerMistake?.(m);
      },
    };
  }

  private mistake(code: ErrorCode, message: string, severity: MistakeSeverity): void {
    reportMistake(this.policy, code, message, severity);
  }

  /** Requests sent and not answered yet. */
  get outstanding(): number {
    return this.pending.size;
  }

  /** Requests waiting for a free slot. */
  get queued(): number {
    return this.queue.length;
  }

  get isLost(): boolean {
    return this.lost !== undefined;
  }

  /**
   * Send a request stamped with the next `seq_number` (§2.1) and resolve with the
   * peer's `result`; reject with RemoteCallError on `is_exception`, ConnectionError
   * when the connection goes away first.
   */
  request(message: MsgpackMessage): Promise<unknown> {
    if (this.lost) return Promise.reject(this.lost);
    const op = String(message.op);
    return new Promise((resolve, reject) => {
      if (this.pending.size < this.maxOutstanding && this.queue.length === 0) {
        this.transmit({ message, op, resolve, reject });
      } else if (this.queue.length >= this.maxQueued) {
        reject(new ConnectionError(`more than ${this.maxQueued} requests wait for the master's answers`, ERR.TOO_MANY_REQUESTS));
      } else {
        this.queue.push({ message, op, resolve, reject });
      }
    });
  }

  /**
   * One binary message from the peer. Throws PeerMistakeError (a ProtocolError, already
   * reported) for bytes that are not one msgpack map (the caller then drops the
   * connection, as both Python peers do, §2.2) and for a mistake the strictness does not tolerate.
   */
  receive(payload: Uint8Array): void {
    if (this.lost) return;
    let msg: MsgpackMessage;
    try {
      msg = decodeMessage(payload);
    } catch (err) {
      if (err instanceof ProtocolError) this.mistake(err.code, `undecodable message: ${err.message}`, 'fatal');
      throw err;
    }
    if (!Object.hasOwn(msg, 'seq_number') || !Object.hasOwn(msg, 'op')) {
      // §2.1: logged and ignored, no response.
      this.mistake(ERR.MSGPACK_MESSAGE, `message without "seq_number" or "op" ignored: ${JSON.stringify(Object.keys(msg))}`, 'tolerated');
      return;
    }
    if (!isSeq(msg.seq_number)) {
      this.mistake(ERR.MSGPACK_MESSAGE, `message with an invalid seq_number ${describeMsgpackValue(msg.seq_number)} ignored`, 'tolerated');
      return;
    }
    if (msg.op === 'response') this.onResponse(msg);
    else this.onRequest(msg, msg.seq_number);
  }

  /** The connection is gone: every outstanding and queued request fails with `reason`. */
  connectionLost(reason: Error): void {
    if (this.lost) return;
    this.lost = reason;
    const waiting = [...this.pending.values(), ...this.queue.splice(0)];
    this.pending.clear();
    for (const p of waiting) p.reject(reason);
  }

  private transmit(q: Queued): void {
    const seq = this.nextSeq;
    let payload: Buffer;
    try {
      payload = encodeMessage({ ...q.message, seq_number: seq });
    } catch (err) {
      // The number is not used up: the master sees no gap.
      q.reject(new ProtocolError(`cannot encode ${q.op} request: ${(err as Error).message}`, ERR.MSGPACK_ENCODE, { cause: err }));
      return;
    }
    this.nextSeq++;
    this.pending.set(seq, q);
    this.opts.send(payload);
  }

  private onResponse(msg: MsgpackMessage): void {
    const seq = msg.seq_number as number;
    const p = this.pending.get(seq);
    if (!p) {
      this.mistake(ERR.MSGPACK_NOT_PENDING, `response for seq_number ${seq}, which is not outstanding`, 'droppable');
      return;
    }
    this.pending.delete(seq);
    if (Object.hasOwn(msg, 'is_exception')) p.reject(RemoteCallError.fromText(p.op, typeof msg.result === 'string' ? msg.result : describeMsgpackValue(msg.result)));
    else p.resolve(msg.result ?? null);
    this.drainQueue();
  }

  private drainQueue(): void {
    while (!this.lost && this.queue.length > 0 && this.pending.size < this.maxOutstanding) {
      this.transmit(this.queue.shift()!);
    }
  }

  private onRequest(msg: MsgpackMessage, seq: number): void {
    const op = msg.op;
    const handler = typeof op === 'string' && Object.hasOwn(this.opts.handlers, op) ? this.opts.handlers[op] : undefined;
    if (!handler) {
      this.respond(seq, unknownOpText(op), true);
      this.mistake(ERR.MSGPACK_UNKNOWN_OP, `unknown op ${describeMsgpackValue(op)} answered with an error`, 'tolerated');
      return;
    }
    let result: unknown;
    try {
      result = handler(msg);
    } catch (err) {
      this.respondError(seq, String(op), err);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (value) => this.respond(seq, value ?? null, false),
        (err) => this.respondError(seq, String(op), err),
      );
    } else {
      this.respond(seq, result ?? null, false);
    }
  }

  private respondError(seq: number, op: string, err: unknown): void {
    const text = err instanceof Error ? err.message : String(err);
    this.opts.log.warn({ op, err }, `answering ${this.peerName} with an error`);
    this.respond(seq, text, true);
  }

  private respond(seq: number, result: unknown, isException: boolean): void {
    if (this.lost) return;
    let payload: Buffer;
    try {
      payload = encodeMessage(responseMessage(seq, result, isException));
    } catch (err) {
      // An answer that cannot be encoded still gets answered, as an error.
      this.opts.log.error({ err }, 'cannot encode a response; answering with an error');
      payload = encodeMessage(responseMessage(seq, `cannot encode the result: ${(err as Error).message}`, true));
    }
    this.opts.send(payload);
  }
}

/** Check that a request carries the keys its op needs (the stock worker's KeyError texts). */
export function requireKeys(msg: MsgpackMessage, keys: readonly string[]): void {
  for (const k of keys) if (!Object.hasOwn(msg, k)) throw new ProtocolError(missingKeyText(k), ERR.MISSING_KEY);
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}
