import type { Logger } from 'pino';
import { ConnectionError, ERR, NoSuchMethodError, ProtocolError, WorkerError, type ErrorCode } from '../../errors.js';
import type { SExp } from '../../protocol/banana.js';
import { CopiedFailure, Exported, RemoteRef, jelly, jellyFailure, unjelly, type JellyValue } from '../../protocol/jelly.js';
import { BASE_PARENTS, TRACEBACK_UNAVAILABLE, parentsOf, pythonTypeOf } from '../../protocol/python-failure.js';
import { PyTuple } from '../../values.js';
import { PeerMistakeError, reportMistake, type EngineRole, type MistakePolicy, type MistakeSeverity, type PeerMistakeHandler, type Strictness } from '../peer-mistake.js';
import { RemoteCallError } from '../remote-call-error.js';

export { RemoteCallError };

/**
 * A Perspective Broker peer (`docs/protocol/pb.md` §4): request/answer matching,
 * the table of objects this side exports, reference counting in both directions. It is
 * pure of I/O — it is fed decoded s-expressions and sends through a `send` function — and
 * knows nothing of Buildbot, so the worker and the test master both use it. Peer mistakes
 * go to `onPeerMistake`; with `strictness: 'drop'` the ones Twisted drops the link for
 * (§7.14) make `receive` throw, as do malformed expressions in either mode.
 */

/** PB protocol version both sides announce (§4.1). */
export const PB_VERSION = 6;

/** Failure type the master matches to detect a missing remote method (§4.3, §7.11). */
export const NO_SUCH_METHOD_TYPE = 'twisted.spread.flavors.NoSuchMethod';
/** Failure type of a call on an object id the receiver does not know (§4.3). */
export const INVALID_OBJECT_TYPE = 'twisted.spread.pb.Error';
export const INVALID_OBJECT_VALUE = 'Invalid Object ID';

const utf8 = new TextDecoder('utf-8', { fatal: false });
const word = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const W = {
  version: word('version'),
  message: word('message'),
  answer: word('answer'),
  error: word('error'),
  decref: word('decref'),
  tuple: word('tuple'),
};

/** A method callable by the peer: positional args and keyword args as unjellied. */
export type RemoteMethod = (args: JellyValue[], kwargs: Record<string, JellyValue>) => unknown;

/**
 * An object the peer may call (Twisted's `pb.Referenceable`). Put one anywhere in an
 * argument or answer value and the broker sends it as `['remote', luid]`.
 */
export class Referenceable {
  private readonly methods = new Map<string, RemoteMethod>();
  constructor(
    readonly label: string,
    methods: Record<string, RemoteMethod> = {},
  ) {
    this.expose(methods);
  }

  /** Make more methods callable by the peer (subclasses call it after `super()`). */
  protected expose(methods: Record<string, RemoteMethod>): void {
    for (const [name, fn] of Object.entries(methods)) this.methods.set(name, fn);
  }

  lookupMethod(name: string): RemoteMethod | undefined {
    return this.methods.get(name);
  }
}

/** A value already in jelly form (e.g. a CopyableFailure), used as one whole argument or answer. */
export class PreJellied {
  constructor(readonly expr: SExp) {}
}

/** What a method may raise to control the failure the peer receives. */
export interface FailureSource {
  type: string;
  value: string;
  traceback?: string;
  parents?: string[];
}

/** Thrown by a method to make the error answer carry an exact failure type (e.g. Twisted's). */
export class PbFailure extends WorkerError implements FailureSource {
  readonly parents: string[];
  constructor(
    readonly type: string,
    readonly value: string,
    parents?: string[],
  ) {
    super(ERR.PB_FAILURE, `${type}: ${value}`);
    this.parents = parents ?? parentsOf(type);
  }
}

interface Pending {
  method: string;
  resolve: (value: JellyValue) => void;
  reject: (err: Error) => void;
}

interface Exports {
  obj: Referenceable;
  refcount: number;
}

export interface BrokerOptions {
  /** Send one top-level expression to the peer (the caller encodes and writes it). */
  send: (expr: SExp) => void;
  log: Logger;
  /** Which end this is; the master end answers `b'root'` calls (`root`). Default: worker. */
  role?: EngineRole;
  /** Answers calls on the object id `b'root'` (servers only). */
  root?: Referenceable;
  /** Whether failures we send include tracebacks (Twisted's `unsafeTracebacks`); see `setUnsafeTracebacks`. */
  unsafeTracebacks?: boolean;
  /** Default: `tolerate` for the worker, `drop` for the master (as Twisted). */
  strictness?: Strictness;
  /** Told of every peer mistake (tolerated or not); the engine also logs it at warn level. */
  onPeerMistake?: PeerMistakeHandler;
}

/** A reference to an object owned by the peer, with the calls and the release it needs. */
export class RemoteReference {
  constructor(
    readonly broker: Broker,
    readonly ref: RemoteRef,
  ) {}

  get luid(): number {
    return this.ref.luid;
  }

  callRemote(method: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}): Promise<JellyValue> {
    return this.broker.callRemote(this.ref, method, args, kwargs);
  }

  /** Drop our reference: one `decref` to the owner (only the first release counts). */
  release(): void {
    this.broker.release(this.ref);
  }
}

export class Broker {
  private readonly send: (expr: SExp) => void;
  private readonly log: Logger;
  private readonly root: Referenceable | undefined;
  private unsafeTracebacks: boolean;
  readonly role: EngineRole;
  private readonly policy: MistakePolicy;

  private nextRequestId = 1;
  private readonly pending = new Map<number, Pending>();

  private nextLuid = 1;
  private readonly exports = new Map<number, Exports>();
  private readonly luidOf = new Map<Referenceable, number>();

  /** Per peer luid: how many `['remote', luid]` we received and have not decref'd yet. */
  private readonly held = new Map<number, number>();
  /** RemoteRef instances already released (release is once per received occurrence). */
  private readonly released = new WeakSet<RemoteRef>();
  /** RemoteRef instances that were counted in `held`. */
  private readonly counted = new WeakSet<RemoteRef>();

  private lost: Error | undefined;
  private versionSeen = false;
  private readonly disconnectListeners = new Set<(reason: Error) => void>();

  constructor(opts: BrokerOptions) {
    this.send = opts.send;
    this.log = opts.log;
    this.root = opts.root;
    this.unsafeTracebacks = opts.unsafeTracebacks ?? false;
    this.role = opts.role ?? 'worker';
    const onPeerMistake = opts.onPeerMistake;
    this.policy = {
      strictness: opts.strictness ?? (this.role === 'master' ? 'drop' : 'tolerate'),
      onPeerMistake: (m) => {
        this.log.warn({ code: m.code, fatal: m.fatal }, m.message);
        onPeerMistake?.(m);
      },
    };
  }

  /** Share tracebacks from now on (a master does so only with a logged-in peer). */
  setUnsafeTracebacks(on: boolean): void {
    this.unsafeTracebacks = on;
  }

  /** Report a peer mistake; throws PeerMistakeError when the connection must go. */
  private mistake(code: ErrorCode, message: string, severity: MistakeSeverity): void {
    reportMistake(this.policy, code, message, severity);
  }

  /** Announce our protocol version; call once, right after the dialect switch. */
  sendVersion(): void {
    this.emit([W.version, PB_VERSION]);
  }

  /** Whether the connection is gone. */
  get disconnected(): boolean {
    return this.lost !== undefined;
  }

  /** Calls waiting for an answer. */
  get pendingCalls(): number {
    return this.pending.size;
  }

  /** Number of our objects the peer currently holds. */
  get exportedCount(): number {
    return this.exports.size;
  }

  /** Refcount of our object `luid` (0 when unknown). */
  refcountOf(luid: number): number {
    return this.exports.get(luid)?.refcount ?? 0;
  }

  /** The luid under which `obj` is currently exported, if it is. */
  luidFor(obj: Referenceable): number | undefined {
    return this.luidOf.get(obj);
  }

  /** How many received references to the peer's `luid` we still hold. */
  heldCount(luid: number): number {
    return this.held.get(luid) ?? 0;
  }

  /** Total received references not yet released. */
  get heldTotal(): number {
    let n = 0;
    for (const c of this.held.values()) n += c;
    return n;
  }

  reference(ref: RemoteRef): RemoteReference {
    return new RemoteReference(this, ref);
  }

  /** Run `fn` when the connection is lost (immediately if it already is). Returns an unsubscribe. */
  notifyOnDisconnect(fn: (reason: Error) => void): () => void {
    if (this.lost) {
      fn(this.lost);
      return () => {};
    }
    this.disconnectListeners.add(fn);
    return () => void this.disconnectListeners.delete(fn);
  }

  /**
   * Call `method` on the peer's object (`'root'` or a received reference). Values in
   * `args`/`kwargs` may contain Referenceables (sent as ours) and PreJellied expressions
   * (as a whole argument). Rejects with RemoteCallError on an `error` answer and with
   * ConnectionError when the connection is lost first.
   */
  callRemote(target: RemoteRef | 'root', method: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}): Promise<JellyValue> {
    if (this.lost) return Promise.reject(new ConnectionError(`cannot call ${method}(): connection lost`, ERR.CONNECTION_LOST, { cause: this.lost }));
    const requestId = this.nextRequestId++;
    const objectId: SExp = target === 'root' ? word('root') : target.luid;
    let expr: SExp;
    try {
      expr = [W.message, requestId, objectId, word(method), 1, this.jellyArgs(args), this.jellyValue(kwargs)];
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<JellyValue>((resolve, reject) => {
      this.pending.set(requestId, { method, resolve, reject });
      try {
        this.emit(expr);
      } catch (err) {
        this.pending.delete(requestId);
        reject(err as Error);
      }
    });
  }

  /**
   * Release one received reference: sends one `decref`. Releasing the same RemoteRef
   * twice, or one we never received, sends nothing (the owner would drop the connection).
   */
  release(ref: RemoteRef): void {
    if (this.released.has(ref)) return;
    const count = this.held.get(ref.luid) ?? 0;
    if (count <= 0 || !this.counted.has(ref)) {
      this.log.debug({ luid: ref.luid }, 'release of a reference that is not held; ignored');
      return;
    }
    this.released.add(ref);
    if (count === 1) this.held.delete(ref.luid);
    else this.held.set(ref.luid, count - 1);
    if (!this.lost) this.emit([W.decref, ref.luid]);
  }

  /** Release every received reference found in `value` (e.g. arguments nobody will use). */
  releaseAll(value: JellyValue): void {
    for (const ref of collectRemoteRefs(value)) this.release(ref);
  }

  /**
   * Handle one decoded top-level expression from the peer. Throws PeerMistakeError (a
   * ProtocolError, already reported to onPeerMistake) when the expression cannot be part of
   * a PB conversation, or is a mistake the strictness does not tolerate; the caller must
   * then drop the link.
   */
  receive(expr: SExp): void {
    if (this.lost) return;
    try {
      this.dispatch(expr);
    } catch (err) {
      if (err instanceof ProtocolError && !(err instanceof PeerMistakeError)) this.mistake(err.code, err.message, 'fatal');
      throw err;
    }
  }

  private dispatch(expr: SExp): void {
    if (!Array.isArray(expr) || expr.length === 0 || !(expr[0] instanceof Uint8Array)) {
      throw new ProtocolError('PB expression is not a list starting with a command word', ERR.PB_MESSAGE);
    }
    const command = utf8.decode(expr[0]);
    switch (command) {
      case 'version':
        return this.onVersion(expr);
      case 'message':
        return this.onMessage(expr);
      case 'answer':
        return this.onAnswer(expr);
      case 'error':
        return this.onError(expr);
      case 'decref':
        return this.onDecref(expr);
      case 'decache':
      case 'uncache':
      case 'cachemessage':
        // Cacheables are never exported by either Buildbot peer; nothing to do.
        this.mistake(ERR.PB_CACHE, `PB cache command ${JSON.stringify(command)} ignored (nothing here is cached)`, 'tolerated');
        return;
      default:
        // Never answer with didNotUnderstand: Twisted cannot encode it (§4).
        this.mistake(ERR.PB_UNKNOWN_COMMAND, `unknown PB command ${JSON.stringify(command)}`, 'droppable');
        return;
    }
  }

  /** The connection is gone: every pending call rejects with `reason`; later calls fail at once. */
  connectionLost(reason: Error = new ConnectionError('connection lost', ERR.CONNECTION_LOST)): void {
    if (this.lost) return;
    this.lost = reason;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) {
      p.reject(new ConnectionError(`${p.method}() not answered: ${reason.message}`, ERR.CONNECTION_LOST, { cause: reason }));
    }
    this.exports.clear();
    this.luidOf.clear();
    this.held.clear();
    const listeners = [...this.disconnectListeners];
    this.disconnectListeners.clear();
    for (const fn of listeners) {
      try {
        fn(reason);
      } catch (err) {
        this.log.error({ err }, 'disconnect listener failed');
      }
    }
  }

  // ---- incoming ------------------------------------------------------------------------

  private onVersion(expr: SExp[]): void {
    const version = expr[1];
    if (expr.length !== 2 || (version !== PB_VERSION && version !== BigInt(PB_VERSION))) {
      throw new ProtocolError(`peer speaks PB version ${String(version)}, this side speaks ${PB_VERSION}`, ERR.PB_VERSION);
    }
    if (this.versionSeen) this.mistake(ERR.PB_VERSION, 'peer sent its PB version twice', 'tolerated');
    this.versionSeen = true;
  }

  private onMessage(expr: SExp[]): void {
    if (expr.length !== 7) throw new ProtocolError(`PB message has ${expr.length} fields, expected 7`, ERR.PB_MESSAGE);
    const [, requestId, objectId, methodName, answerRequired, argsExpr, kwargsExpr] = expr;
    if (typeof requestId !== 'number' || !(methodName instanceof Uint8Array)) {
      throw new ProtocolError('PB message with a malformed request id or method name', ERR.PB_MESSAGE);
    }
    const method = utf8.decode(methodName);
    const wantAnswer = answerRequired !== 0;

    let args: JellyValue[];
    let kwargs: Record<string, JellyValue>;
    try {
      const a = this.unjellyCounted(argsExpr!);
      const k = this.unjellyCounted(kwargsExpr!);
      args = a instanceof PyTuple ? (a.items as JellyValue[]) : Array.isArray(a) ? a : [a];
      kwargs = k !== null && typeof k === 'object' && !Array.isArray(k) && Object.getPrototypeOf(k) === null ? (k as Record<string, JellyValue>) : Object.create(null);
      if (k instanceof Map) {
        for (const [key, value] of k) kwargs[typeof key === 'string' ? key : key instanceof Uint8Array ? utf8.decode(key) : String(key)] = value;
      }
    } catch (err) {
      // Twisted answers an unacceptable argument with an error and keeps the link.
      this.mistake(ERR.PB_ARGUMENTS, `cannot unjelly the arguments of ${method}(): ${(err as Error).message}`, 'tolerated');
      if (wantAnswer) this.sendFailure(requestId, { type: 'twisted.spread.jelly.InsecureJelly', value: String((err as Error).message) });
      return;
    }

    let target: Referenceable | undefined;
    if (objectId instanceof Uint8Array) {
      target = utf8.decode(objectId) === 'root' ? this.root : undefined;
    } else if (typeof objectId === 'number') {
      target = this.exports.get(objectId)?.obj;
    }
    if (!target) {
      const id = objectId instanceof Uint8Array ? utf8.decode(objectId) : String(objectId);
      this.releaseAll(args as JellyValue);
      this.releaseAll(kwargs);
      if (wantAnswer) this.sendFailure(requestId, { type: INVALID_OBJECT_TYPE, value: INVALID_OBJECT_VALUE });
      this.mistake(ERR.PB_UNKNOWN_OBJECT, `call of ${method}() on object ${id}, which this side does not export`, 'tolerated');
      return;
    }
    const fn = target.lookupMethod(method);
    if (!fn) {
      this.releaseAll(args as JellyValue);
      this.releaseAll(kwargs);
      if (wantAnswer) this.sendFailure(requestId, failureOf(new NoSuchMethodError(method)));
      this.mistake(ERR.NO_SUCH_METHOD, `call of ${method}() on ${target.label}, which this side does not implement`, 'tolerated');
      return;
    }

    let result: unknown;
    try {
      result = fn(args, kwargs);
    } catch (err) {
      this.methodFailed(requestId, wantAnswer, target, method, err);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (value) => {
          if (wantAnswer) this.sendAnswer(requestId, value);
        },
        (err) => this.methodFailed(requestId, wantAnswer, target!, method, err),
      );
    } else if (wantAnswer) {
      this.sendAnswer(requestId, result);
    }
  }

  private methodFailed(requestId: number, wantAnswer: boolean, target: Referenceable, method: string, err: unknown): void {
    if (!(err instanceof WorkerError)) this.log.error({ err, object: target.label, method }, 'remote method raised');
    if (wantAnswer) this.sendFailure(requestId, failureOf(err));
  }

  private onAnswer(expr: SExp[]): void {
    const pending = this.takePending(expr, 'answer');
    if (!pending) return;
    let value: JellyValue;
    try {
      value = this.unjellyCounted(expr[2]!);
    } catch (err) {
      pending.reject(new ProtocolError(`cannot unjelly the answer to ${pending.method}(): ${(err as Error).message}`, ERR.PB_MESSAGE, { cause: err }));
      return;
    }
    pending.resolve(value);
  }

  private onError(expr: SExp[]): void {
    const pending = this.takePending(expr, 'error');
    if (!pending) return;
    let failure: CopiedFailure;
    try {
      const value = this.unjellyCounted(expr[2]!);
      if (value instanceof CopiedFailure) failure = value;
      else {
        // Twisted also allows a plain string as the error payload.
        failure = Object.assign(Object.create(CopiedFailure.prototype) as CopiedFailure, {
          type: 'builtins.Exception',
          value: typeof value === 'string' ? value : value instanceof Uint8Array ? utf8.decode(value) : String(value),
          traceback: '',
          parents: [],
          state: {},
        });
        this.releaseAll(value);
      }
    } catch (err) {
      pending.reject(new ProtocolError(`cannot unjelly the error for ${pending.method}(): ${(err as Error).message}`, ERR.PB_MESSAGE, { cause: err }));
      return;
    }
    pending.reject(new RemoteCallError(pending.method, failure));
  }

  private takePending(expr: SExp[], kind: string): Pending | undefined {
    const requestId = expr[1];
    if (expr.length !== 3 || typeof requestId !== 'number') {
      throw new ProtocolError(`malformed PB ${kind}`, ERR.PB_MESSAGE);
    }
    const pending = this.pending.get(requestId);
    if (!pending) {
      // Twisted drops the link here; an answer nobody waits for harms nothing when tolerating.
      this.mistake(ERR.PB_NOT_PENDING, `${kind} for request ${requestId}, which is not pending`, 'droppable');
      return undefined;
    }
    this.pending.delete(requestId);
    return pending;
  }

  private onDecref(expr: SExp[]): void {
    const luid = expr[1];
    if (expr.length !== 2 || typeof luid !== 'number') throw new ProtocolError('malformed PB decref', ERR.PB_MESSAGE);
    const entry = this.exports.get(luid);
    if (!entry) {
      // Twisted raises KeyError and drops the link; a stray decref is harmless when tolerating.
      this.mistake(ERR.PB_DECREF, `decref of object ${luid}, which this side does not export`, 'droppable');
      return;
    }
    entry.refcount -= 1;
    if (entry.refcount <= 0) {
      this.exports.delete(luid);
      this.luidOf.delete(entry.obj);
    }
  }

  // ---- outgoing ------------------------------------------------------------------------

  private emit(expr: SExp): void {
    if (this.lost) return;
    this.send(expr);
  }

  private sendAnswer(requestId: number, value: unknown): void {
    if (this.lost) return;
    try {
      // Encoding may refuse the value (e.g. a string over the banana limit): answer with an error then.
      this.emit([W.answer, requestId, this.jellyValue(value)]);
    } catch (err) {
      this.log.error({ err, requestId }, 'cannot send an answer');
      this.sendFailure(requestId, failureOf(err));
    }
  }

  private sendFailure(requestId: number, failure: FailureSource): void {
    if (this.lost) return;
    const traceback = this.unsafeTracebacks && failure.traceback ? failure.traceback : TRACEBACK_UNAVAILABLE;
    const parents = failure.parents ?? parentsOf(failure.type);
    try {
      this.emit([W.error, requestId, jellyFailure({ type: failure.type, value: failure.value, traceback, parents })]);
    } catch (err) {
      // Last resort: a failure small enough to always encode.
      this.log.error({ err, requestId }, 'cannot send an error answer');
      this.emit([
        W.error,
        requestId,
        jellyFailure({ type: 'builtins.Exception', value: `the ${this.role} could not encode its answer`, traceback: TRACEBACK_UNAVAILABLE, parents: [...BASE_PARENTS] }),
      ]);
    }
  }

  /** Positional arguments: a jelly tuple whose items are jellied one by one (PreJellied kept as is). */
  private jellyArgs(args: unknown[]): SExp {
    return [W.tuple, ...args.map((a) => this.jellyValue(a))];
  }

  private jellyValue(value: unknown): SExp {
    if (value instanceof PreJellied) return value.expr;
    return jelly(this.exportIn(value) as JellyValue);
  }

  /** Copy `value`, replacing each Referenceable by its export handle (+1 refcount per occurrence). */
  private exportIn(value: unknown): unknown {
    if (value === undefined) return null;
    if (value instanceof Referenceable) return this.exportObject(value);
    if (Array.isArray(value)) return value.map((v) => this.exportIn(v));
    if (value instanceof PyTuple) return new PyTuple(value.items.map((v) => this.exportIn(v)) as PyTuple['items']);
    if (value instanceof Map) {
      const out = new Map();
      for (const [k, v] of value) out.set(k, this.exportIn(v));
      return out;
    }
    if (value !== null && typeof value === 'object' && isPlainObject(value)) {
      const out: Record<string, unknown> = Object.create(null);
      for (const [k, v] of Object.entries(value)) out[k] = this.exportIn(v);
      return out;
    }
    return value;
  }

  private exportObject(obj: Referenceable): Exported {
    let luid = this.luidOf.get(obj);
    if (luid === undefined) {
      luid = this.nextLuid++;
      this.luidOf.set(obj, luid);
      this.exports.set(luid, { obj, refcount: 0 });
    }
    this.exports.get(luid)!.refcount += 1;
    return new Exported(luid);
  }

  /** Unjelly and count every received `['remote', n]` occurrence as one held reference. */
  private unjellyCounted(expr: SExp): JellyValue {
    const value = unjelly(expr);
    for (const ref of collectRemoteRefs(value)) {
      if (this.counted.has(ref)) continue;
      this.counted.add(ref);
      this.held.set(ref.luid, (this.held.get(ref.luid) ?? 0) + 1);
    }
    return value;
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === null || proto === Object.prototype;
}

/** Every distinct RemoteRef instance inside `value` (containers visited once, so shared ones count once). */
export function collectRemoteRefs(value: unknown): RemoteRef[] {
  const found: RemoteRef[] = [];
  const seen = new Set<object>();
  const walk = (v: unknown): void => {
    if (v === null || typeof v !== 'object') return;
    if (seen.has(v)) return;
    seen.add(v);
    if (v instanceof RemoteRef) {
      found.push(v);
      return;
    }
    if (Array.isArray(v)) v.forEach(walk);
    else if (v instanceof PyTuple) v.items.forEach(walk);
    else if (v instanceof Map) {
      for (const [k, x] of v) {
        walk(k);
        walk(x);
      }
    } else if (isPlainObject(v)) Object.values(v).forEach(walk);
  };
  walk(value);
  return found;
}

/** The failure fields to send for an error raised by a method. */
export function failureOf(err: unknown): FailureSource {
  if (err instanceof NoSuchMethodError) return { type: NO_SUCH_METHOD_TYPE, value: err.message };
  if (err instanceof PbFailure) return { type: err.type, value: err.value, traceback: err.stack, parents: err.parents };
  if (err instanceof Error) return { type: pythonTypeOf(err), value: err.message, traceback: err.stack };
  return { type: pythonTypeOf(err), value: String(err) };
}
