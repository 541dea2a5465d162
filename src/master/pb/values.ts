import { PyFloat, PyTuple } from '../../values.js';

/**
 * Received jelly values as the master's Python code sees them after buildbot's
 * `pbutil.decode()`: byte strings become text (UTF-8), tuples and lists become arrays,
 * floats plain numbers, dictionaries plain objects with text keys. References, failures
 * and other objects are kept as they are.
 */

const utf8 = new TextDecoder('utf-8');

function setKey(out: Record<string, unknown>, key: string, value: unknown): void {
  // A worker-chosen key such as "__proto__" must stay an ordinary own property.
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}

function keyText(key: unknown): string {
  if (typeof key === 'string') return key;
  if (key instanceof Uint8Array) return utf8.decode(key);
  return String(key);
}

/** Whether `v` is a jelly dictionary as unjellied (a Map, or an object with a null or plain prototype). */
export function isDict(v: unknown): v is Map<unknown, unknown> | Record<string, unknown> {
  if (v instanceof Map) return true;
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === null || proto === Object.prototype;
}

/** The items of a list or tuple, else undefined. */
export function seq(v: unknown): readonly unknown[] | undefined {
  if (Array.isArray(v)) return v;
  if (v instanceof PyTuple) return v.items;
  return undefined;
}

/** Entries of a dictionary with text keys. */
export function dictEntries(v: Map<unknown, unknown> | Record<string, unknown>): Array<[string, unknown]> {
  if (v instanceof Map) return [...v].map(([k, x]) => [keyText(k), x]);
  return Object.entries(v);
}

/** buildbot's `decode()` plus the JS spelling of Python values (see above). Bounded by `depth`. */
export function pyDecode(value: unknown, depth = 0): unknown {
  if (depth > 64) return value;
  if (value instanceof Uint8Array) return utf8.decode(value);
  if (value instanceof PyFloat) return value.value;
  const items = seq(value);
  if (items) return items.map((x) => pyDecode(x, depth + 1));
  if (isDict(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of dictEntries(value)) setKey(out, k, pyDecode(x, depth + 1));
    return out;
  }
  return value;
}

/** A short description of a value for violation messages. */
export function describe(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? `<${v.length} bytes>` : v)) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
