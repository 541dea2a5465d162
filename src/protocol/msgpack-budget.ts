import { MSGPACK_ERROR_CODES, MsgpackError } from '../errors.js';

/**
 * The value budget of one msgpack message (`docs/protocol/msgpack.md` §2.2). msgpack
 * spends one byte on an empty array, map or bin, and the decoder answers each with an
 * object of tens of bytes: 8 MB of empty arrays became ~390 MB. Counting the values
 * before decoding bounds that. Pure, linear, allocation-free.
 */

/**
 * Most values (each container, scalar, string or bin counts one) in one message. The
 * largest real messages are updates at the master's `buffer_size` (64 KiB by default: at
 * most 16K line indexes and times, as each costs 8 of the buffer) and a command's
 * arguments (an argv near Linux's 2 MB ARG_MAX in short words, an environment); a
 * transfer block is a single bin. 256K leaves room for larger buffers.
 */
export const MAX_MSGPACK_MESSAGE_NODES = 256 * 1024;

/** Byte length of a head's fixed-size payload or length field, by type byte 0xc0..0xdf; -1: invalid. */
const FIXED: readonly number[] = [
  0,
  -1,
  0,
  0, // nil, (never used), false, true
  1,
  2,
  4, // bin 8/16/32: length field
  1,
  2,
  4, // ext 8/16/32: length field (the type byte is added below)
  4,
  8, // float 32/64
  1,
  2,
  4,
  8, // uint 8..64
  1,
  2,
  4,
  8, // int 8..64
  2,
  3,
  5,
  9,
  17, // fixext 1/2/4/8/16 with their type byte
  1,
  2,
  4, // str 8/16/32: length field
  2,
  4, // array 16/32: count
  2,
  4, // map 16/32: count
];

function readLength(buf: Uint8Array, at: number, size: number): number {
  let n = 0;
  for (let i = 0; i < size; i++) n = n * 256 + (buf[at + i] ?? 0);
  return n;
}

/**
 * The number of values in `buf` (every value's head, in order: a container's elements
 * follow it). Throws MsgpackError `budget` as soon as it passes `maxNodes`. Malformed
 * bytes are left to the decoder: a truncated message just ends the count.
 */
export function countMsgpackValues(buf: Uint8Array, maxNodes: number = MAX_MSGPACK_MESSAGE_NODES): number {
  let pos = 0;
  let nodes = 0;
  while (pos < buf.length) {
    if (++nodes > maxNodes) {
      throw new MsgpackError(`msgpack message holds more than ${maxNodes} values`, MSGPACK_ERROR_CODES.budget);
    }
    const b = buf[pos++]!;
    if (b <= 0x9f || b >= 0xe0) continue; // fixint, fixmap, fixarray: no payload of their own
    if (b <= 0xbf) {
      pos += b & 0x1f; // fixstr
      continue;
    }
    const fixed = FIXED[b - 0xc0]!;
    if (fixed < 0) throw new MsgpackError('malformed msgpack message: type byte 0xc1', MSGPACK_ERROR_CODES.malformed);
    if ((b >= 0xc4 && b <= 0xc6) || (b >= 0xd9 && b <= 0xdb))
      pos += fixed + readLength(buf, pos, fixed); // bin, str
    else if (b >= 0xc7 && b <= 0xc9)
      pos += fixed + 1 + readLength(buf, pos, fixed); // ext: length, type, data
    else pos += fixed; // scalars, fixext; array and map counts (their elements are counted as they come)
  }
  return nodes;
}
