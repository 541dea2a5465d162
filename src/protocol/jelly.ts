import { ERR, ProtocolError } from '../errors.js';
import { PyFloat, PyTuple, type PyScalar, type PyValue } from '../values.js';
import type { SExp } from './banana.js';
import { TRACEBACK_UNAVAILABLE, parentsOf } from './python-failure.js';

/**
 * Jelly, Twisted's spelling of Python values as banana s-expressions
 * (`docs/protocol/pb.md` §3), limited to what Twisted's `globalSecurity` lets
 * through on a PB connection: scalars, text, None, booleans, tuples, lists, dicts, sets,
 * shared and cyclic references, remote/local object references and copied failures.
 */

/** `['remote', luid]` received: an object owned by the peer (§3.4). The broker decides when to release it. */
export class RemoteRef {
  constructor(readonly luid: number) {}
}

/** `['local', luid]` received: one of our own objects coming back (§3.4; Buildbot never sends it). */
export class LocalRef {
  constructor(readonly luid: number) {}
}

/** One of our objects exported under `luid`: jellied as `['remote', luid]` (§3.4). */
export class Exported {
  constructor(readonly luid: number) {}
}

/** A Python set or frozenset (§3.2); Buildbot does not use them, they only round-trip. */
export class PySet {
  constructor(
    readonly items: JellyValue[],
    readonly frozen = false,
  ) {}
}

/** Jelly type tag of Twisted's copyable failure (§3.5). */
export const COPYABLE_FAILURE_TYPE = 'twisted.spread.pb.CopyableFailure';

/** What a failure needs to be useful to the receiving Python side (§3.5). */
export interface FailureFields {
  /** Dotted exception class name, e.g. `builtins.FileNotFoundError`. */
  type: string;
  /** str(exception). */
  value: string;
  /** Full traceback text, or absent when tracebacks are not shared. */
  traceback?: string;
  /** Dotted names of the class and its bases, for `Failure.check()`; default `[type, Exception, BaseException, object]`. */
  parents?: string[];
  /** Twisted's global failure counter value; meaningless to the receiver. */
  count?: number;
}

export { TRACEBACK_UNAVAILABLE };

const utf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder('utf-8');

/** A `twisted.spread.pb.CopyableFailure` received from the peer (Twisted's CopiedFailure). */
export class CopiedFailure {
  /** Dotted exception class name (sent as bytes or text). */
  type = '';
  /** str(exception). */
  value = '';
  traceback = '';
  parents: string[] = [];
  /** The whole state dictionary as received, so the failure re-jellies unchanged. */
  state: JellyDict = Object.create(null) as JellyDict;

  constructor(state?: JellyDict) {
    if (state) this.setState(state);
  }

  setState(state: JellyDict): void {
    this.state = state;
    this.type = asText(state.type) ?? '';
    this.value = asText(state.value) ?? (state.value === undefined ? '' : String(state.value));
    this.traceback = asText(state.traceback) ?? '';
    const parents = state.parents;
    const list = Array.isArray(parents) ? parents : parents instanceof PyTuple ? (parents.items as JellyValue[]) : [];
    this.parents = list.map(asText).filter((p): p is string => p !== undefined);
  }

  /** Twisted's `Failure.check`: the first of `types` this failure is an instance of. */
  check(...types: string[]): string | undefined {
    return types.find((t) => t === this.type || this.parents.includes(t));
  }

  toString(): string {
    return `${this.type}: ${this.value}`;
  }
}

/** A dictionary whose keys are all text, as a null-prototype object (insertion order kept). */
export interface JellyDict {
  [key: string]: JellyValue;
}

/**
 * A Python value as this side sees it. Text is `string`, bytes `Uint8Array`; ints are
 * numbers (bigint beyond the safe range); floats PyFloat; tuples PyTuple; lists arrays.
 * A dict with only text keys is a null-prototype object, any other dict a Map.
 */
export type JellyValue = PyValue<PySet | Map<JellyValue, JellyValue> | RemoteRef | LocalRef | Exported | CopiedFailure>;

/** Error codes of the ProtocolErrors raised here (a view onto ERR). */
export const JellyErrorCode = {
  malformed: ERR.JELLY_MALFORMED,
  insecure: ERR.JELLY_INSECURE,
  reference: ERR.JELLY_REFERENCE,
  unjellyable: ERR.JELLY_UNJELLYABLE,
} as const;

const word = (s: string): Buffer => Buffer.from(s, 'latin1');
const T = {
  None: word('None'),
  unicode: word('unicode'),
  boolean: word('boolean'),
  true: word('true'),
  false: word('false'),
  tuple: word('tuple'),
  list: word('list'),
  dictionary: word('dictionary'),
  set: word('set'),
  frozenset: word('frozenset'),
  reference: word('reference'),
  dereference: word('dereference'),
  remote: word('remote'),
  local: word('local'),
  failure: word(COPYABLE_FAILURE_TYPE),
};

function asText(v: JellyValue | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return lenientUtf8.decode(v);
  return undefined;
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === null || proto === Object.prototype;
}

// ---- jelly ------------------------------------------------------------------------------

/**
 * Jelly one value (one scope of reference numbers, §3.3). A container met twice is sent
 * once as `['reference', n, ...]` and then as `['dereference', n]`, exactly as Twisted
 * numbers them, so shared and cyclic values survive. `undefined` is sent as None.
 */
export function jelly(value: JellyValue): SExp {
  return new Jellier().jelly(value);
}

class Jellier {
  /** Container → the expression it was written as (or a placeholder while being written). */
  private readonly preserved = new Map<object, SExp[]>();
  /** Container → its `['dereference', n]`, once it has a number. */
  private readonly cooked = new Map<object, SExp[]>();
  private nextRef = 1;

  jelly(value: JellyValue | undefined): SExp {
    if (value === null || value === undefined) return [T.None];
    switch (typeof value) {
      case 'boolean':
        return [T.boolean, value ? T.true : T.false];
      case 'number':
        // A non-integral number can only be a float (values.ts).
        return Number.isInteger(value) ? value : new PyFloat(value);
      case 'bigint':
        return value;
      case 'string':
        return [T.unicode, Buffer.from(value, 'utf8')];
      case 'object':
        break;
      default:
        throw new ProtocolError(`cannot jelly a ${typeof value}`, JellyErrorCode.unjellyable);
    }
    if (value instanceof Uint8Array || value instanceof PyFloat) return value;
    if (value instanceof Exported) return [T.remote, value.luid];
    // A peer's object sent back to it (Twisted's RemoteReference.jellyFor).
    if (value instanceof RemoteRef) return [T.local, value.luid];
    if (value instanceof LocalRef) throw new ProtocolError('cannot jelly a LocalRef: send the object itself', JellyErrorCode.unjellyable);

    const cooked = this.cooked.get(value);
    if (cooked) return cooked;
    if (this.preserved.has(value)) {
      this.cook(value);
      return this.cooked.get(value)!;
    }
    this.preserved.set(value, []);
    const sxp: SExp[] = [];
    if (Array.isArray(value)) {
      sxp.push(T.list);
      for (const item of value) sxp.push(this.jelly(item));
    } else if (value instanceof PyTuple) {
      sxp.push(T.tuple);
      for (const item of value.items) sxp.push(this.jelly(item as JellyValue));
    } else if (value instanceof PySet) {
      sxp.push(value.frozen ? T.frozenset : T.set);
      for (const item of value.items) sxp.push(this.jelly(item));
    } else if (value instanceof Map) {
      sxp.push(T.dictionary);
      for (const [k, v] of value) sxp.push([this.jelly(k), this.jelly(v)]);
    } else if (value instanceof CopiedFailure) {
      sxp.push(T.failure, Object.keys(value.state).length > 0 ? this.jelly(value.state) : failureState(value));
    } else if (isPlainObject(value)) {
      sxp.push(T.dictionary);
      for (const [k, v] of Object.entries(value)) sxp.push([[T.unicode, Buffer.from(k, 'utf8')], this.jelly(v as JellyValue)]);
    } else {
      throw new ProtocolError(`cannot jelly a ${value.constructor?.name ?? 'object'}`, JellyErrorCode.unjellyable);
    }
    return this.preserve(value, sxp);
  }

  /** Second sight of a container: number it and rewrite its first expression in place. */
  private cook(value: object): void {
    const first = this.preserved.get(value)!;
    const original = first.slice();
    const n = this.nextRef++;
    first.length = 0;
    first.push(T.reference, n, original);
    this.cooked.set(value, [T.dereference, n]);
  }

  private preserve(value: object, sxp: SExp[]): SExp {
    if (this.cooked.has(value)) {
      // Referenced from inside itself: the placeholder became ['reference', n, <partial>].
      const placeholder = this.preserved.get(value)!;
      placeholder[2] = sxp;
      return placeholder;
    }
    this.preserved.set(value, sxp);
    return sxp;
  }
}

/** The state dictionary of a CopyableFailure, in the key order Twisted sends (§3.5, capture #174). */
function failureState(f: FailureFields): SExp {
  const traceback = f.traceback ?? TRACEBACK_UNAVAILABLE;
  const unsafe = traceback !== TRACEBACK_UNAVAILABLE;
  const parents = f.parents ?? parentsOf(f.type);
  const u = (s: string): SExp => [T.unicode, Buffer.from(s, 'utf8')];
  const pairs: Array<[string, SExp]> = [
    ['count', f.count ?? 1],
    // The type is bytes on the wire (§3.5).
    ['type', Buffer.from(f.type, 'utf8')],
    ['value', u(f.value)],
    ['captureVars', [T.boolean, T.false]],
    ['frames', [T.list]],
    ['stack', [T.list]],
    ['tb', [T.None]],
    ['parents', [T.list, ...parents.map(u)]],
  ];
  // Twisted only has `pickled` when the traceback is shared (edge-case probe vs #174).
  if (unsafe) pairs.push(['pickled', 1]);
  pairs.push(['unsafeTracebacks', [T.boolean, unsafe ? T.true : T.false]], ['traceback', u(traceback)]);
  return [T.dictionary, ...pairs.map(([k, v]): SExp => [u(k), v])];
}

/**
 * A failure as the `twisted.spread.pb.CopyableFailure` jelly Twisted sends (§3.5): all
 * eleven keys, type as bytes. A missing traceback is sent as Twisted's "Traceback
 * unavailable" (with `unsafeTracebacks` false and no `pickled`, like Twisted).
 */
export function jellyFailure(f: FailureFields): SExp {
  return [T.failure, failureState(f)];
}

// ---- unjelly ----------------------------------------------------------------------------

/**
 * Unjelly one value (one scope of reference numbers). Throws ProtocolError for anything
 * that is not jelly Twisted's `globalSecurity` accepts.
 */
export function unjelly(expr: SExp): JellyValue {
  return new Unjellier().unjelly(expr, undefined);
}

const tagOf = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');

function malformed(what: string): ProtocolError {
  return new ProtocolError(`malformed jelly: ${what}`, JellyErrorCode.malformed);
}

function intOf(e: SExp | undefined, what: string): number {
  if (typeof e !== 'number' || !Number.isInteger(e)) throw malformed(`${what} is not an integer`);
  return e;
}

class Unjellier {
  private readonly refs = new Map<number, JellyValue>();
  /** Dicts handed out by a dereference while still being built (they cannot change representation). */
  private readonly handedOut = new Set<object>();

  /** `refId`: the number a surrounding `['reference', n, ...]` gives this value, registered before children. */
  unjelly(expr: SExp, refId: number | undefined): JellyValue {
    if (!Array.isArray(expr)) {
      if (expr instanceof PyFloat || typeof expr === 'number' || typeof expr === 'bigint' || expr instanceof Uint8Array) {
        return this.register(refId, expr);
      }
      throw malformed(`unexpected ${typeof expr}`);
    }
    const head = expr[0];
    if (!(head instanceof Uint8Array)) throw malformed('a list that does not start with a type tag');
    const tag = tagOf(head);
    switch (tag) {
      case 'None':
        return this.register(refId, null);
      case 'unicode': {
        const payload = expr[1];
        if (expr.length !== 2 || !(payload instanceof Uint8Array)) throw malformed('unicode needs one byte string');
        let text: string;
        try {
          text = utf8.decode(payload);
        } catch {
          throw malformed('unicode payload is not UTF-8');
        }
        return this.register(refId, text);
      }
      case 'boolean': {
        const v = expr[1];
        const s = v instanceof Uint8Array ? tagOf(v) : '';
        if (expr.length !== 2 || (s !== 'true' && s !== 'false')) throw malformed('boolean needs b"true" or b"false"');
        return this.register(refId, s === 'true');
      }
      case 'list': {
        const items: JellyValue[] = [];
        this.register(refId, items);
        for (let i = 1; i < expr.length; i++) items.push(this.unjelly(expr[i]!, undefined));
        return items;
      }
      case 'tuple': {
        const items: JellyValue[] = [];
        const tuple = new PyTuple(items as PyTuple['items']);
        this.register(refId, tuple);
        for (let i = 1; i < expr.length; i++) items.push(this.unjelly(expr[i]!, undefined));
        return tuple;
      }
      case 'set':
      case 'frozenset': {
        const set = new PySet([], tag === 'frozenset');
        this.register(refId, set);
        for (let i = 1; i < expr.length; i++) set.items.push(this.unjelly(expr[i]!, undefined));
        return set;
      }
      case 'dictionary':
        return this.dictionary(expr, refId);
      case 'reference': {
        if (expr.length !== 3) throw malformed('reference needs a number and a value');
        const n = intOf(expr[1], 'reference number');
        return this.unjelly(expr[2]!, n);
      }
      case 'dereference': {
        if (expr.length !== 2) throw malformed('dereference needs a number');
        const n = intOf(expr[1], 'dereference number');
        if (!this.refs.has(n)) throw new ProtocolError(`jelly dereference ${n} before its reference`, JellyErrorCode.reference);
        const v = this.refs.get(n)!;
        if (v !== null && typeof v === 'object') this.handedOut.add(v);
        return v;
      }
      case 'remote':
      case 'local': {
        if (expr.length !== 2) throw malformed(`${tag} needs an object id`);
        const luid = intOf(expr[1], `${tag} object id`);
        return this.register(refId, tag === 'remote' ? new RemoteRef(luid) : new LocalRef(luid));
      }
      case COPYABLE_FAILURE_TYPE: {
        if (expr.length !== 2) throw malformed('a copyable needs exactly one state');
        const failure = new CopiedFailure();
        this.register(refId, failure);
        const state = this.unjelly(expr[1]!, undefined);
        failure.setState(textKeyed(state));
        return failure;
      }
      default:
        // Classes, instances, modules, functions, other copyables: refused like globalSecurity does.
        throw new ProtocolError(`jelly type ${JSON.stringify(tag)} is not allowed`, JellyErrorCode.insecure);
    }
  }

  private register<V extends JellyValue>(refId: number | undefined, value: V): V {
    if (refId !== undefined && !this.refs.has(refId)) this.refs.set(refId, value);
    return value;
  }

  private dictionary(expr: SExp[], refId: number | undefined): JellyDict | Map<JellyValue, JellyValue> {
    const obj = Object.create(null) as JellyDict;
    this.register(refId, obj);
    let map: Map<JellyValue, JellyValue> | undefined;
    for (let i = 1; i < expr.length; i++) {
      const pair = expr[i];
      if (!Array.isArray(pair) || pair.length !== 2) throw malformed('a dictionary item is not a [key, value] pair');
      const key = this.unjelly(pair[0]!, undefined);
      const value = this.unjelly(pair[1]!, undefined);
      if (map) {
        map.set(key, value);
      } else if (typeof key === 'string') {
        obj[key] = value;
      } else {
        // A key that is not text: the dict becomes a Map, unless its object form escaped already.
        if (this.handedOut.has(obj)) throw malformed('a self-referencing dictionary with non-text keys');
        map = new Map(Object.entries(obj));
        map.set(key, value);
      }
    }
    if (!map) return obj;
    if (refId !== undefined && this.refs.get(refId) === obj) this.refs.set(refId, map);
    return map;
  }
}

/** A failure's state as a text-keyed dict (old peers may send bytes keys). */
function textKeyed(state: JellyValue): JellyDict {
  if (state instanceof Map) {
    const out = Object.create(null) as JellyDict;
    for (const [k, v] of state) {
      const key = asText(k);
      if (key !== undefined) out[key] = v;
    }
    return out;
  }
  if (state !== null && typeof state === 'object' && !Array.isArray(state) && isPlainObject(state) && !(state instanceof Uint8Array)) {
    return state as JellyDict;
  }
  throw malformed('a copied failure whose state is not a dictionary');
}

// ---- plain values -----------------------------------------------------------------------

/**
 * A value with the Python-only distinctions dropped: tuples and sets become arrays,
 * floats numbers, dicts null-prototype objects (bytes and number keys as text; a dict
 * with other keys stays a Map). References, failures, bytes, bigints stay as they are.
 * With `decodeBytes`, what the master's Python sees after buildbot's `pbutil.decode()`:
 * byte strings also become text (UTF-8) and dicts ordinary objects.
 */
export type PlainValue = Exclude<PyScalar, PyFloat> | PlainValue[] | { [key: string]: PlainValue } | Map<JellyValue, JellyValue> | RemoteRef | LocalRef | Exported | CopiedFailure;

export interface PlainOptions {
  /** Byte strings (values and keys) as UTF-8 text, dicts as ordinary objects: buildbot's `decode()`. */
  readonly decodeBytes?: boolean;
}

export function toPlain(value: JellyValue, options: PlainOptions = {}): PlainValue {
  return plain(value, new Map(), options.decodeBytes === true);
}

function plainDict(decode: boolean): { [key: string]: PlainValue } {
  return decode ? {} : (Object.create(null) as { [key: string]: PlainValue });
}

function setEntry(out: { [key: string]: PlainValue }, key: string, value: PlainValue): void {
  // A peer-chosen key such as "__proto__" must stay an ordinary own property.
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}

function plain(value: JellyValue, seen: Map<object, PlainValue>, decode: boolean): PlainValue {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof PyFloat) return value.value;
  if (value instanceof Uint8Array) return decode ? lenientUtf8.decode(value) : value;
  if (value instanceof RemoteRef || value instanceof LocalRef || value instanceof Exported || value instanceof CopiedFailure) return value;
  const done = seen.get(value);
  if (done !== undefined) return done;
  if (Array.isArray(value) || value instanceof PyTuple || value instanceof PySet) {
    const out: PlainValue[] = [];
    seen.set(value, out);
    const items = Array.isArray(value) ? value : (value.items as JellyValue[]);
    for (const item of items) out.push(plain(item, seen, decode));
    return out;
  }
  if (value instanceof Map) {
    const keys = [...value.keys()];
    if (!keys.every((k) => typeof k === 'string' || k instanceof Uint8Array || typeof k === 'number' || typeof k === 'bigint')) return value;
    const out = plainDict(decode);
    seen.set(value, out);
    for (const [k, v] of value) setEntry(out, asText(k) ?? String(k), plain(v, seen, decode));
    return out;
  }
  const out = plainDict(decode);
  seen.set(value, out);
  for (const [k, v] of Object.entries(value)) setEntry(out, k, plain(v as JellyValue, seen, decode));
  return out;
}
