import { toPlain, type JellyValue } from '../../protocol/jelly.js';
import { PyTuple } from '../../values.js';

/**
 * Received jelly values as the master's Python code sees them after buildbot's
 * `pbutil.decode()`: byte strings become text (UTF-8), tuples and lists become arrays,
 * floats plain numbers, dictionaries plain objects with text keys. References, failures
 * and other objects are kept as they are.
 */

const utf8 = new TextDecoder('utf-8');

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

/** buildbot's `decode()` plus the JS spelling of Python values: `toPlain` with `decodeBytes` (src/protocol/jelly.ts). */
export function pyDecode(value: unknown): unknown {
  return toPlain(value as JellyValue, { decodeBytes: true });
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
