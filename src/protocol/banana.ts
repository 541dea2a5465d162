import { BANANA_ERROR_CODES, BananaError, ProtocolError } from '../errors.js';
import { PyFloat } from '../values.js';

/**
 * Banana, Twisted's framing of s-expressions (`docs/protocol/pb.md` §2): an
 * incremental decoder and a byte-exact encoder, with the `pb` dialect's vocabulary
 * compression (§2.5) and Twisted's security limits (§2.4). Pure and synchronous.
 */

/**
 * A banana s-expression. Integers are numbers, or bigints beyond Number.MAX_SAFE_INTEGER;
 * floats are PyFloat (so an integral float keeps its FLOAT token); byte strings are
 * Uint8Array (the decoder produces Buffers); lists are arrays.
 */
export type SExp = number | bigint | PyFloat | Uint8Array | SExp[];

/** `pb`: vocabulary compression on; `none`: plain banana (the first expression of each direction). */
export type Dialect = 'pb' | 'none';

/** Type bytes (§2.2). */
export const LIST = 0x80;
export const INT = 0x81;
export const STRING = 0x82;
export const NEG = 0x83;
export const FLOAT = 0x84;
export const LONGINT = 0x85;
export const LONGNEG = 0x86;
export const VOCAB = 0x87;

/** Most base-128 digits in a prefix; Twisted refuses more (§2.4). Also bounds integers to < 2^448. */
export const MAX_BANANA_PREFIX_DIGITS = 64;
/** Longest byte string either side accepts or sends: 640 KiB, Twisted's SIZE_LIMIT (§2.4). */
export const MAX_BANANA_STRING_BYTES = 640 * 1024;
/** Most elements in one list, the same SIZE_LIMIT (§2.4). */
export const MAX_BANANA_LIST_LENGTH = 640 * 1024;
/**
 * Deepest list nesting accepted (a top-level list is depth 1). Twisted has no such limit, but its jelly layer recurses and
 * Python gives up near 1000 frames; Buildbot's deepest values are a dozen lists deep.
 * It keeps a hostile peer from driving this side's recursive consumers off the stack.
 */
export const MAX_BANANA_DEPTH = 500;

/** Largest INT / NEG magnitude (§2.2); beyond it LONGINT / LONGNEG. */
const INT_LIMIT = 2 ** 31;
/** Largest magnitude the encoder sends: 128^64 - 1 (§2.2). */
const LONG_LIMIT = (1n << 448n) - 1n;

/** Error codes of the BananaErrors raised here (defined with the error type in src/errors.ts). */
export const BananaErrorCode = BANANA_ERROR_CODES;

/**
 * Most values (list, integer, float, string tokens) in one top-level expression. Twisted
 * bounds only each list (SIZE_LIMIT), so one expression could hold 640K lists of 640K
 * values; each value costs this side a slot or an object however few bytes it took on
 * the wire. The largest real expressions are a command's arguments (an argv near Linux's
 * 2 MB ARG_MAX in short words, an environment) and a getWorkerInfo answer: tens of
 * thousands of values at most; 128K leaves headroom (`docs/protocol/pb.md` §2.4).
 */
export const MAX_BANANA_MESSAGE_NODES = 128 * 1024;
/**
 * Most wire bytes in one top-level expression: the largest real one carries one
 * transfer block or `initial_stdin`, a string of at most MAX_BANANA_STRING_BYTES, plus the
 * rest of a command's arguments; twice the string limit leaves room for those.
 */
export const MAX_BANANA_MESSAGE_BYTES = 2 * MAX_BANANA_STRING_BYTES;
/**
 * Budget of the first expression, the dialect offer or choice (§2.6): a list of a few
 * short names (Twisted sends `["pb", "none"]`). A peer that opens with anything bigger is
 * not a PB peer; the budget refuses it before it costs memory.
 */
export const DIALECT_MESSAGE_BUDGET: Readonly<BananaBudget> = Object.freeze({ nodes: 16, bytes: 256 });
/** Budget of every PB expression. */
export const MESSAGE_BUDGET: Readonly<BananaBudget> = Object.freeze({ nodes: MAX_BANANA_MESSAGE_NODES, bytes: MAX_BANANA_MESSAGE_BYTES });

/** Per-expression limits of a decoder: values and wire bytes. */
export interface BananaBudget {
  nodes: number;
  bytes: number;
}

/** The `pb` dialect vocabulary, by index (§2.5); index 0 is unused. */
export const PB_VOCABULARY: readonly string[] = [
  '',
  'None',
  'class',
  'dereference',
  'reference',
  'dictionary',
  'function',
  'instance',
  'list',
  'module',
  'persistent',
  'tuple',
  'unpersistable',
  'copy',
  'cache',
  'cached',
  'remote',
  'local',
  'lcache',
  'version',
  'login',
  'password',
  'challenge',
  'logged_in',
  'not_logged_in',
  'cachemessage',
  'message',
  'answer',
  'error',
  'decref',
  'decache',
  'uncache',
];

const VOCAB_WORDS: readonly Buffer[] = PB_VOCABULARY.map((w) => Buffer.from(w, 'latin1'));
const VOCAB_INDEX = new Map<string, number>(PB_VOCABULARY.map((w, i) => [w, i] as [string, number]).filter(([w]) => w !== ''));
const LONGEST_WORD = Math.max(...PB_VOCABULARY.map((w) => w.length));

// ---- decoding ---------------------------------------------------------------------------

interface OpenList {
  items: SExp[];
  remaining: number;
}

/**
 * Values the decoder hands out shared rather than new per occurrence, so that a stream
 * of one-byte tokens cannot make it allocate an object per byte. They are frozen or
 * empty: consumers read decoded expressions and never mutate them.
 */
const EMPTY_STRING: Buffer = Buffer.alloc(0);
const EMPTY_LIST: SExp[] = Object.freeze([]) as unknown as SExp[];

/**
 * Incremental banana decoder. `push` hands it bytes as they arrive, `next` returns the
 * next complete top-level expression (or undefined until more bytes arrive). Decoding
 * happens in `next`, so a change of `dialect` or `budget` between two calls applies to
 * every byte not yet decoded, as the dialect switch requires (§2.6). Any malformed input,
 * or an expression beyond the budget, throws a BananaError; the decoder then stays failed
 * (the stream cannot be resynchronised).
 *
 * Memory: a string's bytes are kept as the received chunks until the string is complete
 * (never allocated from its declared length), the empty string, the empty list and
 * vocabulary words are shared, and each expression may hold at most `budget.nodes`
 * values and `budget.bytes` wire bytes; so what the decoder holds is bounded by a small
 * multiple of the bytes received, and by the budget (`docs/protocol/pb.md` §2.4).
 */
export class BananaDecoder {
  /** Dialect used for the bytes decoded from now on. */
  dialect: Dialect;
  /** Limits of each top-level expression decoded from now on. */
  budget: Readonly<BananaBudget>;

  private readonly chunks: Uint8Array[] = [];
  /** Index in `chunks` of the chunk being read (consumed ones are dropped in batches). */
  private head = 0;
  /** Read position in chunks[head]. */
  private offset = 0;

  /** Prefix digits of the token being read (least significant first). */
  private digits: number[] = [];
  /** Length of the payload being read (STRING bytes or FLOAT's 8); -1 when reading a token head. */
  private payloadLength = -1;
  /** The payload's bytes received so far, as views of the received chunks. */
  private pieces: Uint8Array[] = [];
  private payloadIsFloat = false;
  private filled = 0;
  private readonly stack: OpenList[] = [];
  private failure: ProtocolError | undefined;
  /** Values and wire bytes of the top-level expression being read. */
  private nodes = 0;
  private bytes = 0;

  constructor(dialect: Dialect = 'none', budget: Readonly<BananaBudget> = MESSAGE_BUDGET) {
    this.dialect = dialect;
    this.budget = budget;
  }

  /** Queue received bytes (kept by reference until decoded). */
  push(chunk: Uint8Array): void {
    if (this.failure) throw this.failure;
    if (chunk.length > 0) this.chunks.push(chunk);
  }

  /** Push `chunk` and return every expression now complete. */
  feed(chunk: Uint8Array): SExp[] {
    this.push(chunk);
    const out: SExp[] = [];
    for (let e = this.next(); e !== undefined; e = this.next()) out.push(e);
    return out;
  }

  /** Bytes received but not yet decoded into a complete expression's tokens. */
  get buffered(): number {
    let n = -this.offset;
    for (let i = this.head; i < this.chunks.length; i++) n += this.chunks[i]!.length;
    return n;
  }

  /** Whether the decoder is between two top-level expressions (nothing partially read). */
  get idle(): boolean {
    return this.stack.length === 0 && this.digits.length === 0 && this.payloadLength < 0 && this.buffered === 0;
  }

  /** What the expression being read has used of the budget so far. */
  get used(): { nodes: number; bytes: number } {
    return { nodes: this.nodes, bytes: this.bytes };
  }

  /** The next complete top-level expression, or undefined when more bytes are needed. */
  next(): SExp | undefined {
    if (this.failure) throw this.failure;
    try {
      return this.step();
    } catch (err) {
      this.failure = err instanceof ProtocolError ? err : new BananaError(`banana decoding failed: ${(err as Error).message}`, BANANA_ERROR_CODES.internal, { cause: err });
      this.chunks.length = 0;
      this.head = 0;
      this.pieces = [];
      this.stack.length = 0;
      throw this.failure;
    }
  }

  private step(): SExp | undefined {
    while (this.head < this.chunks.length) {
      const chunk = this.chunks[this.head]!;
      if (this.payloadLength >= 0) {
        const n = Math.min(this.payloadLength - this.filled, chunk.length - this.offset);
        this.pieces.push(chunk.subarray(this.offset, this.offset + n));
        this.filled += n;
        this.advance(n);
        if (this.filled < this.payloadLength) continue;
        // One copy into a buffer of its own, so a small string does not keep a large chunk alive.
        const payload = this.pieces.length === 1 ? Buffer.from(this.pieces[0]!) : Buffer.concat(this.pieces, this.payloadLength);
        this.pieces = [];
        this.payloadLength = -1;
        const value = this.payloadIsFloat ? new PyFloat(payload.readDoubleBE(0)) : payload;
        const done = this.complete(value);
        if (done !== undefined) return done;
        continue;
      }
      const byte = chunk[this.offset]!;
      this.advance(1);
      if (byte < 0x80) {
        if (this.digits.length >= MAX_BANANA_PREFIX_DIGITS) {
          throw new BananaError(`banana prefix longer than ${MAX_BANANA_PREFIX_DIGITS} bytes`, BananaErrorCode.prefix);
        }
        this.digits.push(byte);
        continue;
      }
      const done = this.token(byte);
      if (done !== undefined) return done;
    }
    return undefined;
  }

  private advance(n: number): void {
    this.bytes += n;
    if (this.bytes > this.budget.bytes) this.overBudget();
    this.offset += n;
    if (this.offset < this.chunks[this.head]!.length) return;
    this.offset = 0;
    this.head += 1;
    if (this.head === this.chunks.length) {
      this.chunks.length = 0;
      this.head = 0;
    } else if (this.head >= 64 && this.head * 2 >= this.chunks.length) {
      this.chunks.splice(0, this.head);
      this.head = 0;
    }
  }

  private overBudget(): never {
    throw new BananaError(`banana expression exceeds its budget of ${this.budget.nodes} values and ${this.budget.bytes} bytes`, BananaErrorCode.budget);
  }

  /** Start reading a payload of `length` bytes (checked against the budget before any is kept). */
  private startPayload(length: number, isFloat: boolean): undefined {
    if (this.bytes + length > this.budget.bytes) this.overBudget();
    this.payloadLength = length;
    this.payloadIsFloat = isFloat;
    this.filled = 0;
    return undefined;
  }

  /** Handle a type byte; returns a top-level expression if this token completed one. */
  private token(typeByte: number): SExp | undefined {
    const value = prefixValue(this.digits);
    this.digits.length = 0;
    if (typeByte >= LIST && typeByte <= VOCAB && ++this.nodes > this.budget.nodes) this.overBudget();
    switch (typeByte) {
      case LIST: {
        if (value > MAX_BANANA_LIST_LENGTH) {
          throw new BananaError(`banana list of ${value} elements exceeds ${MAX_BANANA_LIST_LENGTH}`, BananaErrorCode.listLength);
        }
        if (this.stack.length >= MAX_BANANA_DEPTH) {
          throw new BananaError(`banana lists nested deeper than ${MAX_BANANA_DEPTH}`, BananaErrorCode.depth);
        }
        if (value === 0) return this.complete(EMPTY_LIST);
        this.stack.push({ items: [], remaining: Number(value) });
        return undefined;
      }
      case INT:
      case LONGINT:
        // The decoder accepts either form for any magnitude, as Twisted's does (§2.2).
        return this.complete(value);
      case NEG:
      case LONGNEG:
        return this.complete(value === 0 ? 0 : -value);
      case STRING: {
        if (value > MAX_BANANA_STRING_BYTES) {
          throw new BananaError(`banana string of ${value} bytes exceeds ${MAX_BANANA_STRING_BYTES}`, BananaErrorCode.stringLength);
        }
        if (value === 0) return this.complete(EMPTY_STRING);
        return this.startPayload(Number(value), false);
      }
      case FLOAT:
        // Twisted writes no prefix before FLOAT and ignores one if present.
        return this.startPayload(8, true);
      case VOCAB: {
        if (this.dialect !== 'pb') throw new BananaError(`banana VOCAB token in dialect '${this.dialect}'`, BananaErrorCode.vocab);
        const word = typeof value === 'number' && value > 0 ? VOCAB_WORDS[value] : undefined;
        if (word === undefined) throw new BananaError(`banana VOCAB index ${value} is not in the pb vocabulary`, BananaErrorCode.vocab);
        // A fresh copy: a consumer that changes a decoded string must not change the vocabulary.
        return this.complete(Buffer.from(word));
      }
      default:
        throw new BananaError(`invalid banana type byte 0x${typeByte.toString(16)}`, BananaErrorCode.typeByte);
    }
  }

  /** A value is complete: add it to the open list, closing lists that are full. */
  private complete(value: SExp): SExp | undefined {
    let v = value;
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (!top) {
        this.nodes = 0;
        this.bytes = 0;
        return v;
      }
      top.items.push(v);
      top.remaining -= 1;
      if (top.remaining > 0) return undefined;
      this.stack.pop();
      v = top.items;
    }
  }
}

/** Value of little-endian base-128 digits: a number when exactly representable, else a bigint. */
function prefixValue(digits: readonly number[]): number | bigint {
  // 7 digits = 49 bits: always exact as a number.
  if (digits.length <= 7) {
    let n = 0;
    for (let i = digits.length - 1; i >= 0; i--) n = n * 128 + digits[i]!;
    return n;
  }
  let n = 0n;
  for (let i = digits.length - 1; i >= 0; i--) n = (n << 7n) | BigInt(digits[i]!);
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

// ---- encoding ---------------------------------------------------------------------------

/** Growable output buffer. */
class Writer {
  private buf = Buffer.allocUnsafe(256);
  length = 0;

  get capacity(): number {
    return this.buf.length;
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.length++] = b;
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  float(x: number): void {
    this.reserve(8);
    this.buf.writeDoubleBE(x, this.length);
    this.length += 8;
  }

  /** Twisted's int2b128: at least one digit, least significant first (§2.1). */
  prefix(n: number | bigint): void {
    if (typeof n === 'number') {
      do {
        this.byte(n % 128);
        n = Math.floor(n / 128);
      } while (n > 0);
      return;
    }
    do {
      this.byte(Number(n & 0x7fn));
      n >>= 7n;
    } while (n > 0n);
  }

  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }
}

/**
 * Encode one expression exactly as Twisted does (§2.1–§2.5): the integer form picked by
 * magnitude, FLOAT for PyFloat and for non-integral numbers, VOCAB for vocabulary words
 * when `dialect` is `pb`. Throws ProtocolError for what Twisted refuses to send (strings
 * or lists over the limits, integers of 2^448 and beyond) and for non-banana values.
 */
export function encodeBanana(expr: SExp, dialect: Dialect): Buffer {
  // One growable buffer is reused across messages: a fresh one per message grew by doubling
  // from 256 bytes, about 4× the message in garbage buffers (bench/README.md, "Memory").
  const w = scratch ?? new Writer();
  scratch = undefined; // taken, so a nested call (there is none today) gets its own
  w.length = 0;
  try {
    encodeInto(w, expr, dialect, 0);
    return w.result();
  } finally {
    if (w.capacity <= SCRATCH_KEEP_BYTES) scratch = w;
  }
}

/** The reused encoding buffer is kept only up to this size, so one big message is not held for good. */
const SCRATCH_KEEP_BYTES = 1024 * 1024;
let scratch: Writer | undefined;

function encodeInto(w: Writer, expr: SExp, dialect: Dialect, depth: number): void {
  if (typeof expr === 'number') {
    if (!Number.isInteger(expr)) return encodeFloat(w, expr);
    if (Number.isSafeInteger(expr)) return encodeInt(w, expr);
    return encodeInt(w, BigInt(expr));
  }
  if (typeof expr === 'bigint') return encodeInt(w, expr);
  if (expr instanceof PyFloat) return encodeFloat(w, expr.value);
  if (expr instanceof Uint8Array) {
    if (dialect === 'pb' && expr.length <= LONGEST_WORD && expr.length > 0) {
      const index = VOCAB_INDEX.get(Buffer.from(expr.buffer, expr.byteOffset, expr.length).toString('latin1'));
      if (index !== undefined) {
        w.prefix(index);
        w.byte(VOCAB);
        return;
      }
    }
    if (expr.length > MAX_BANANA_STRING_BYTES) {
      throw new BananaError(`byte string is too long to send (${expr.length} > ${MAX_BANANA_STRING_BYTES})`, BananaErrorCode.stringLength);
    }
    w.prefix(expr.length);
    w.byte(STRING);
    w.bytes(expr);
    return;
  }
  if (Array.isArray(expr)) {
    if (expr.length > MAX_BANANA_LIST_LENGTH) {
      throw new BananaError(`list is too long to send (${expr.length} > ${MAX_BANANA_LIST_LENGTH})`, BananaErrorCode.listLength);
    }
    if (depth >= MAX_BANANA_DEPTH) throw new BananaError(`lists nested deeper than ${MAX_BANANA_DEPTH} (a cycle?)`, BananaErrorCode.depth);
    w.prefix(expr.length);
    w.byte(LIST);
    for (const e of expr) encodeInto(w, e, dialect, depth + 1);
    return;
  }
  throw new BananaError(`banana cannot send ${describe(expr)}`, BananaErrorCode.unencodable);
}

function encodeFloat(w: Writer, x: number): void {
  w.byte(FLOAT);
  w.float(x);
}

function encodeInt(w: Writer, n: number | bigint): void {
  if (typeof n === 'bigint' && (n > LONG_LIMIT || n < -LONG_LIMIT)) {
    throw new BananaError('int is too large to send (beyond ±(2^448 - 1))', BananaErrorCode.intRange);
  }
  const negative = n < 0;
  const magnitude = negative ? -n : n;
  // INT covers 0 … 2^31-1 and NEG −2^31 … −1 (§2.2).
  const small = negative ? magnitude <= INT_LIMIT : magnitude < INT_LIMIT;
  w.prefix(typeof magnitude === 'bigint' && magnitude <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(magnitude) : magnitude);
  w.byte(negative ? (small ? NEG : LONGNEG) : small ? INT : LONGINT);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return `a ${(v as object).constructor?.name ?? 'null-prototype'} object`;
  return `a ${typeof v}`;
}
