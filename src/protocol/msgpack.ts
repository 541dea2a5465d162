import { Packr, Unpackr } from 'msgpackr';
import { ProtocolError } from '../errors.js';
import { PyFloat, PyTuple, type PyValue } from '../values.js';

/**
 * msgpack payloads of `msgpack_experimental_v7` (`docs/protocol/msgpack.md` §2).
 * Pure and synchronous: one WebSocket binary message in, one value out.
 */

/** Largest WebSocket message we accept from the peer (the transport enforces it as `maxPayload`). */
export const MAX_MSGPACK_MESSAGE_BYTES = 64 * 1024 * 1024;

// §2.2: Python's msgpack writes fixmap/map16 by size, str for text, bin for bytes.
// `variableMapSize` makes msgpackr pick the smallest map form, like Python does.
const packr = new Packr({ useRecords: false, variableMapSize: true, encodeUndefinedAsNil: true });
// Maps decode to plain objects (keys must be str, §2.2); 64-bit ints as numbers (Python never sends ints beyond 2^53 on this wire).
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** A decoded message: a map with string keys. */
export type MsgpackMessage = Record<string, unknown>;

export function encodeMessage(message: MsgpackMessage): Buffer {
  return packr.pack(message);
}

/**
 * Decode one message. Anything but a single map (trailing bytes, other types, invalid
 * UTF-8 in str) raises ProtocolError with code ERR_MSGPACK.
 */
export function decodeMessage(payload: Uint8Array): MsgpackMessage {
  if (payload.length > MAX_MSGPACK_MESSAGE_BYTES) {
    throw new ProtocolError(`msgpack message of ${payload.length} bytes exceeds ${MAX_MSGPACK_MESSAGE_BYTES}`, 'ERR_MSGPACK');
  }
  let values: unknown[];
  try {
    values = unpackr.unpackMultiple(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)) as unknown[];
  } catch (err) {
    throw new ProtocolError(`malformed msgpack message: ${(err as Error).message}`, 'ERR_MSGPACK', { cause: err });
  }
  if (values.length !== 1) throw new ProtocolError(`expected one msgpack value per message, got ${values.length}`, 'ERR_MSGPACK');
  const value = values[0];
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array || value instanceof Map) {
    throw new ProtocolError('msgpack message is not a map', 'ERR_MSGPACK');
  }
  return value as MsgpackMessage;
}

/** Integers beyond 32 bits: msgpackr would write a plain number as float64, Python writes an int (§2.2). */
const UINT32_MAX = 0xffff_ffff;

/** A decoded value as short text for error messages and logs (JSON, cut at 200 characters). */
export function describeMsgpackValue(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

/** PyValue → msgpack-ready value: PyFloat a number, PyTuple an array (§2.2), big ints as BigInt. */
export function toWire(value: PyValue | undefined): unknown {
  if (value === undefined || value === null) return null;
  if (value instanceof PyFloat) return value.value;
  if (value instanceof PyTuple) return value.items.map(toWire);
  if (Array.isArray(value)) return value.map(toWire);
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && (value > UINT32_MAX || value < -0x8000_0000) ? BigInt(value) : value;
  }
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toWire(v);
    return out;
  }
  return value;
}
