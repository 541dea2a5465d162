import { requireCjs } from '../util/require-cjs.js';
import { MSGPACK_ERROR_CODES, MsgpackError } from '../errors.js';
import { countMsgpackValues } from './msgpack-budget.js';

export { MAX_MSGPACK_MESSAGE_NODES, countMsgpackValues } from './msgpack-budget.js';
import { PyFloat, PyTuple, type PyValue } from '../values.js';

// msgpackr's build without code generation (`new Function`) and without its native string
// extractor: records are off here, so neither would run, and the extractor's addon alone
// costs about 12 ms of a msgpack worker's start (bench/README.md, "Bundled start-up").
const { Packr, Unpackr } = requireCjs('msgpackr/index-no-eval') as typeof import('msgpackr');

/**
 * msgpack payloads of `msgpack_experimental_v7` (`docs/protocol/msgpack.md` §2).
 * Pure and synchronous: one WebSocket binary message in, one value out.
 */

/**
 * Largest WebSocket message we accept from the peer (the transport enforces it as
 * `maxPayload`), the byte budget of one message. Bytes cost at most about their size once
 * decoded (a str twice, as UTF-16); what amplifies is the number of values, bounded
 * by MAX_MSGPACK_MESSAGE_NODES.
 */
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
 * UTF-8 in str) raises MsgpackError `malformed`; more bytes or values than the budget,
 * MsgpackError `budget` (counted before decoding, so the decoder never allocates for them).
 */
export function decodeMessage(payload: Uint8Array): MsgpackMessage {
  if (payload.length > MAX_MSGPACK_MESSAGE_BYTES) {
    throw new MsgpackError(`msgpack message of ${payload.length} bytes exceeds ${MAX_MSGPACK_MESSAGE_BYTES}`, MSGPACK_ERROR_CODES.budget);
  }
  countMsgpackValues(payload);
  let values: unknown[];
  try {
    values = unpackr.unpackMultiple(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)) as unknown[];
  } catch (err) {
    throw new MsgpackError(`malformed msgpack message: ${(err as Error).message}`, MSGPACK_ERROR_CODES.malformed, { cause: err });
  }
  if (values.length !== 1) throw new MsgpackError(`expected one msgpack value per message, got ${values.length}`, MSGPACK_ERROR_CODES.malformed);
  const value = values[0];
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array || value instanceof Map) {
    throw new MsgpackError('msgpack message is not a map', MSGPACK_ERROR_CODES.malformed);
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
