import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ProtocolError } from '../../src/errors.js';
import {
  BananaDecoder,
  BananaErrorCode,
  MAX_BANANA_DEPTH,
  MAX_BANANA_LIST_LENGTH,
  MAX_BANANA_PREFIX_DIGITS,
  MAX_BANANA_STRING_BYTES,
  PB_VOCABULARY,
  encodeBanana,
  type Dialect,
  type SExp,
} from '../../src/protocol/banana.js';
import { unjelly } from '../../src/protocol/jelly.js';
import { PyFloat } from '../../src/values.js';
import { type CapturedStream, pbStreams, pyFloatRepr, pyRepr, readFixture, sameSExp } from './pb-capture.js';

const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const b = (s: string) => Buffer.from(s, 'latin1');

/** The `sexp` notation of banana-vectors.json. */
type VectorSExp = { i: string } | { f: string } | { b: string } | VectorSExp[];

function fromVector(v: VectorSExp): SExp {
  if (Array.isArray(v)) return v.map(fromVector);
  if ('i' in v) {
    const n = BigInt(v.i);
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  }
  if ('f' in v) return new PyFloat(Buffer.from(v.f, 'hex').readDoubleBE(0));
  return Buffer.from(v.b, 'hex');
}

interface Vectors {
  vocabulary: Record<string, number>;
  vectors: Array<{ name: string; sexp: VectorSExp; banana_pb_hex: string; banana_none_hex: string }>;
  pb_frames: Array<{ name: string; sexp: VectorSExp; sexp_repr: string; banana_pb_hex: string }>;
}
const vectors = JSON.parse(readFixture('banana-vectors.json')) as Vectors;

function decodeAll(bytes: Uint8Array, dialect: Dialect): SExp[] {
  const dec = new BananaDecoder(dialect);
  const out = dec.feed(bytes);
  assert.ok(dec.idle, 'no bytes left over');
  return out;
}

function bananaError(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof ProtocolError, `ProtocolError expected, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  };
}

// ---- Twisted's vectors ------------------------------------------------------------------

test('the vocabulary is the one Twisted generated the vectors with (pb.md §2.5)', () => {
  for (const [word, index] of Object.entries(vectors.vocabulary)) assert.equal(PB_VOCABULARY[index], word);
  assert.equal(PB_VOCABULARY.length - 1, Object.keys(vectors.vocabulary).length);
});

test('every value vector decodes to its s-expression and re-encodes byte-exactly, in both dialects', () => {
  assert.ok(vectors.vectors.length >= 40);
  for (const v of vectors.vectors) {
    const sexp = fromVector(v.sexp);
    assert.deepEqual(decodeAll(hex(v.banana_pb_hex), 'pb'), [sexp], v.name);
    assert.deepEqual(decodeAll(hex(v.banana_none_hex), 'none'), [sexp], v.name);
    assert.equal(encodeBanana(sexp, 'pb').toString('hex'), v.banana_pb_hex, v.name);
    assert.equal(encodeBanana(sexp, 'none').toString('hex'), v.banana_none_hex, v.name);
  }
});

test('every whole-frame vector decodes, prints as Twisted printed it, and re-encodes byte-exactly', () => {
  assert.ok(vectors.pb_frames.length >= 10);
  for (const v of vectors.pb_frames) {
    const [expr] = decodeAll(hex(v.banana_pb_hex), 'pb');
    assert.equal(pyRepr(expr!), v.sexp_repr, v.name);
    assert.deepEqual(expr, fromVector(v.sexp), v.name);
    assert.equal(encodeBanana(expr!, 'pb').toString('hex'), v.banana_pb_hex, v.name);
  }
});

test('the Python float repr used to compare with the capture is right', () => {
  assert.equal(pyFloatRepr(0.021685123443603516), '0.021685123443603516');
  assert.equal(pyFloatRepr(0.0003018379211425781), '0.0003018379211425781');
  assert.equal(pyFloatRepr(1e-5), '1e-05');
  assert.equal(pyFloatRepr(2), '2.0');
  assert.equal(pyFloatRepr(1e16), '1e+16');
  assert.equal(pyFloatRepr(1795343306.3891253), '1795343306.3891253');
});

// ---- the PB capture ---------------------------------------------------------------------

const streams = pbStreams();

/** Decode a direction of a connection the way a PB peer does: the first expression without a dialect, the rest in pb. */
function decodeStream(chunks: Iterable<Uint8Array>): SExp[] {
  const dec = new BananaDecoder('none');
  const out: SExp[] = [];
  for (const c of chunks) {
    dec.push(c);
    for (let e = dec.next(); e !== undefined; e = dec.next()) {
      out.push(e);
      if (out.length === 1) dec.dialect = 'pb';
    }
  }
  assert.ok(dec.idle, 'the stream ends between two expressions');
  return out;
}

/** Each expression decoded on its own from the bytes Twisted says it occupies. */
function reference(s: CapturedStream): SExp[] {
  return s.expressions.map((x) => {
    const dec = new BananaDecoder(x.index === 0 ? 'none' : 'pb');
    const got = dec.feed(s.bytes.subarray(x.start, x.end));
    assert.equal(got.length, 1, `#${x.number} is one expression`);
    assert.ok(dec.idle, `#${x.number} ends where Twisted says`);
    return got[0]!;
  });
}

function assertSame(got: SExp[], want: SExp[], what: string): void {
  if (got.length === want.length && got.every((g, i) => sameSExp(g, want[i]!))) return;
  assert.deepEqual(got, want, what);
  assert.fail(what);
}

test('the capture: four streams, expressions contiguous from the first byte to the last', () => {
  assert.equal(streams.length, 4);
  for (const s of streams) {
    assert.ok(s.expressions.length > 0);
    let at = 0;
    for (const x of s.expressions) {
      assert.equal(x.start, at, `#${x.number} starts where the previous ended`);
      at = x.end;
    }
    assert.equal(at, s.bytes.length);
  }
});

test('every captured expression decodes to the tree Twisted printed (where the decoded file prints it whole)', () => {
  let compared = 0;
  for (const s of streams) {
    const exprs = reference(s);
    s.expressions.forEach((x, i) => {
      if (x.repr === undefined) return;
      assert.equal(pyRepr(exprs[i]!), x.repr, `#${x.number}`);
      compared++;
    });
  }
  assert.ok(compared > 150, `${compared} expressions compared`);
});

test('re-encoding every captured expression gives the captured bytes (both directions)', () => {
  for (const s of streams) {
    const exprs = reference(s);
    s.expressions.forEach((x, i) => {
      const dialect = x.index === 0 ? 'none' : 'pb';
      assert.equal(encodeBanana(exprs[i]!, dialect).toString('hex'), s.bytes.subarray(x.start, x.end).toString('hex'), `#${x.number}`);
    });
  }
});

test('the capture decodes the same chunked as captured, whole, and byte by byte', () => {
  for (const s of streams) {
    const want = reference(s);
    assertSame(decodeStream(s.chunks), want, `conn ${s.conn} ${s.dir} as captured`);
    assertSame(decodeStream([s.bytes]), want, `conn ${s.conn} ${s.dir} whole`);
    const bytes: Uint8Array[] = [];
    for (let i = 0; i < s.bytes.length; i++) bytes.push(s.bytes.subarray(i, i + 1));
    assertSame(decodeStream(bytes), want, `conn ${s.conn} ${s.dir} byte by byte`);
    // Every byte queued before anything is decoded.
    const dec = new BananaDecoder('none');
    for (const c of bytes) dec.push(c);
    assert.equal(dec.buffered, s.bytes.length);
    const got: SExp[] = [];
    for (let e = dec.next(); e !== undefined; e = dec.next()) {
      got.push(e);
      if (got.length === 1) dec.dialect = 'pb';
    }
    assert.ok(dec.idle);
    assertSame(got, want, `conn ${s.conn} ${s.dir} queued byte by byte`);
  }
});

test('the capture decodes the same when split in two at every offset', () => {
  for (const s of streams) {
    const want = reference(s);
    for (let k = 0; k <= s.bytes.length; k++) {
      assertSame(decodeStream([s.bytes.subarray(0, k), s.bytes.subarray(k)]), want, `conn ${s.conn} ${s.dir} split at ${k}`);
    }
  }
});

// ---- integers, floats, strings ----------------------------------------------------------

test('integer forms are picked by magnitude exactly as Twisted does (pb.md §2.2)', () => {
  const cases: Array<[number | bigint, string]> = [
    [0, '0081'],
    [2 ** 31 - 1, '7f7f7f7f0781'],
    [2 ** 31, '000000000885'],
    [-1, '0183'],
    [-(2 ** 31), '000000000883'],
    [-(2 ** 31) - 1, '010000000886'],
    [2n ** 64n, '0000000000000000000285'],
  ];
  for (const [n, h] of cases) {
    assert.equal(encodeBanana(n, 'pb').toString('hex'), h, String(n));
    assert.deepEqual(decodeAll(hex(h), 'pb'), [n], String(n));
  }
  // A bigint that fits is the same on the wire as the number.
  assert.deepEqual(encodeBanana(5n, 'pb'), encodeBanana(5, 'pb'));
  // An integral number beyond the safe range is still sent as its exact integer value.
  assert.equal(encodeBanana(2 ** 60, 'pb').toString('hex'), encodeBanana(2n ** 60n, 'pb').toString('hex'));
});

test('integers decode to numbers while safe, to bigints beyond', () => {
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  assert.deepEqual(decodeAll(encodeBanana(max, 'pb'), 'pb'), [Number.MAX_SAFE_INTEGER]);
  assert.deepEqual(decodeAll(encodeBanana(max + 1n, 'pb'), 'pb'), [max + 1n]);
  assert.deepEqual(decodeAll(encodeBanana(-max - 1n, 'pb'), 'pb'), [-max - 1n]);
  assert.deepEqual(decodeAll(encodeBanana(-max, 'pb'), 'pb'), [-Number.MAX_SAFE_INTEGER]);
});

test('the decoder accepts the forms Twisted accepts but never writes', () => {
  // Empty prefix = 0; NEG 0 is 0 (not -0); INT/LONGINT interchangeable; a FLOAT prefix is ignored.
  assert.deepEqual(decodeAll(hex('81 80 82 83'), 'pb'), [0, [], Buffer.alloc(0), 0]);
  assert.ok(Object.is(decodeAll(hex('0083'), 'pb')[0], 0));
  assert.deepEqual(decodeAll(hex('000000000881 0585'), 'pb'), [2 ** 31, 5]);
  assert.deepEqual(decodeAll(hex('05 84 3ff8000000000000'), 'pb'), [new PyFloat(1.5)]);
  // VOCAB and STRING spell the same word for the receiver.
  assert.deepEqual(decodeAll(hex('1a87'), 'pb'), decodeAll(hex('07 82 6d657373616765'), 'pb'));
});

test('floats: PyFloat and non-integral numbers are FLOAT, big-endian IEEE-754; -0, NaN, infinities survive', () => {
  assert.equal(encodeBanana(new PyFloat(1.5), 'pb').toString('hex'), '843ff8000000000000');
  assert.equal(encodeBanana(new PyFloat(2), 'pb').toString('hex'), '844000000000000000');
  assert.equal(encodeBanana(2.5, 'pb').toString('hex'), '844004000000000000');
  for (const x of [-0, NaN, Infinity, -Infinity, 5e-324, Number.MAX_VALUE]) {
    const [got] = decodeAll(encodeBanana(new PyFloat(x), 'pb'), 'pb');
    assert.ok(got instanceof PyFloat && Object.is(got.value, x), String(x));
  }
});

test('vocabulary words become VOCAB only in the pb dialect, anywhere they occur', () => {
  const expr: SExp = [b('message'), [b('list'), b('error'), b('errors'), b('')]];
  assert.equal(encodeBanana(expr, 'pb').toString('hex'), '02801a87 0480 0887 1c87 0682 6572726f7273 0082'.replace(/\s/g, ''));
  assert.equal(encodeBanana(expr, 'none').toString('hex'), '0280 0782 6d657373616765 0480 0482 6c697374 0582 6572726f72 0682 6572726f7273 0082'.replace(/\s/g, ''));
  for (let i = 1; i < PB_VOCABULARY.length; i++) {
    assert.deepEqual(decodeAll(encodeBanana(b(PB_VOCABULARY[i]!), 'pb'), 'pb'), [b(PB_VOCABULARY[i]!)]);
  }
  // Decoded words are fresh buffers: changing one does not change the vocabulary.
  const [w] = decodeAll(hex('1a87'), 'pb') as Buffer[];
  w!.fill(0);
  assert.deepEqual(decodeAll(hex('1a87'), 'pb'), [b('message')]);
});

test('a dialect change between two expressions applies to the bytes already received (pb.md §2.6)', () => {
  const dec = new BananaDecoder('none');
  dec.push(hex('02827062 028013870681'));
  assert.deepEqual(dec.next(), b('pb'));
  dec.dialect = 'pb';
  assert.deepEqual(dec.next(), [b('version'), 6]);
  assert.equal(dec.next(), undefined);
});

// ---- limits and malformed input ---------------------------------------------------------

test(`prefixes: ${MAX_BANANA_PREFIX_DIGITS} digits are accepted, one more is refused even before its type byte`, () => {
  const max = (1n << 448n) - 1n;
  const wire = encodeBanana(max, 'pb');
  assert.equal(wire.length, MAX_BANANA_PREFIX_DIGITS + 1);
  assert.deepEqual(decodeAll(wire, 'pb'), [max]);
  assert.deepEqual(decodeAll(encodeBanana(-max, 'pb'), 'pb'), [-max]);
  const tooLong = Buffer.alloc(MAX_BANANA_PREFIX_DIGITS + 1, 0x7f);
  assert.throws(() => new BananaDecoder('pb').feed(Buffer.concat([tooLong, hex('81')])), bananaError(BananaErrorCode.prefix));
  assert.throws(() => new BananaDecoder('pb').feed(tooLong), bananaError(BananaErrorCode.prefix));
  // Split across chunks too.
  const dec = new BananaDecoder('pb');
  assert.deepEqual(dec.feed(tooLong.subarray(0, 40)), []);
  assert.throws(() => dec.feed(tooLong.subarray(40)), bananaError(BananaErrorCode.prefix));
});

test('the encoder refuses integers of 2^448 and beyond', () => {
  assert.throws(() => encodeBanana(1n << 448n, 'pb'), bananaError(BananaErrorCode.intRange));
  assert.throws(() => encodeBanana(-(1n << 448n), 'pb'), bananaError(BananaErrorCode.intRange));
});

test(`strings: ${MAX_BANANA_STRING_BYTES} bytes pass both ways, one more is refused by both sides`, () => {
  const max = Buffer.alloc(MAX_BANANA_STRING_BYTES, 0x61);
  const wire = encodeBanana(max, 'pb');
  assert.deepEqual(decodeAll(wire, 'pb'), [max]);
  assert.throws(() => encodeBanana(Buffer.alloc(MAX_BANANA_STRING_BYTES + 1), 'pb'), bananaError(BananaErrorCode.stringLength));
  // The probe of pb-edge-cases.txt: only the header of a 655361-byte string.
  assert.throws(() => new BananaDecoder('pb').feed(hex('01002882')), bananaError(BananaErrorCode.stringLength));
  // A header within the limit waits for its bytes.
  const dec = new BananaDecoder('pb');
  assert.deepEqual(dec.feed(wire.subarray(0, 4)), []);
  assert.equal(dec.idle, false);
});

test(`lists: ${MAX_BANANA_LIST_LENGTH} elements pass both ways (beyond the default budget), one more is refused by both sides`, () => {
  const max: SExp[] = new Array<SExp>(MAX_BANANA_LIST_LENGTH).fill(0);
  const unlimited = new BananaDecoder('pb', { nodes: Infinity, bytes: Infinity });
  assert.deepEqual(unlimited.feed(encodeBanana(max, 'pb')), [max]);
  assert.throws(() => decodeAll(encodeBanana(max, 'pb'), 'pb'), bananaError(BananaErrorCode.budget));
  assert.throws(() => encodeBanana([...max, 0], 'pb'), bananaError(BananaErrorCode.listLength));
  assert.throws(() => new BananaDecoder('pb').feed(hex('01002880')), bananaError(BananaErrorCode.listLength));
});

test(`lists nest at most ${MAX_BANANA_DEPTH} deep; a cyclic expression is refused by the encoder`, () => {
  const deep = (n: number) => Buffer.concat([Buffer.from('0180'.repeat(n), 'hex'), hex('0080')]);
  assert.equal(decodeAll(deep(MAX_BANANA_DEPTH - 1), 'pb').length, 1);
  assert.throws(() => new BananaDecoder('pb').feed(deep(MAX_BANANA_DEPTH)), bananaError(BananaErrorCode.depth));
  const cycle: SExp[] = [];
  cycle.push(cycle);
  assert.throws(() => encodeBanana(cycle, 'pb'), bananaError(BananaErrorCode.depth));
});

test('VOCAB outside the pb dialect or outside the vocabulary is refused (pb-edge-cases.txt)', () => {
  assert.throws(() => new BananaDecoder('none').feed(hex('1a87')), bananaError(BananaErrorCode.vocab));
  for (const h of ['6387', '0087', '2087', '87', '7f7f7f7f7f7f7f7f0187']) {
    assert.throws(() => new BananaDecoder('pb').feed(hex(h)), bananaError(BananaErrorCode.vocab), h);
  }
});

test('an unknown type byte is refused; the decoder then stays failed', () => {
  const dec = new BananaDecoder('pb');
  assert.deepEqual(dec.feed(hex('0181')), [1]);
  let first: unknown;
  assert.throws(
    () => dec.feed(hex('018f 0181')),
    (err) => ((first = err), bananaError(BananaErrorCode.typeByte)(err)),
  );
  assert.throws(
    () => dec.next(),
    (err) => err === first,
  );
  assert.throws(
    () => dec.push(hex('0181')),
    (err) => err === first,
  );
  for (let t = 0x88; t <= 0xff; t++) assert.throws(() => new BananaDecoder('pb').feed(Buffer.from([t])), bananaError(BananaErrorCode.typeByte));
});

test('the encoder refuses what banana has no token for', () => {
  for (const v of ['text', true, null, undefined, {}, new Map(), Symbol('x')]) {
    assert.throws(() => encodeBanana(v as unknown as SExp, 'pb'), bananaError(BananaErrorCode.unencodable), String(v));
  }
});

// ---- properties -------------------------------------------------------------------------

const sexpArb: fc.Arbitrary<SExp> = fc.letrec<{ sexp: SExp }>((tie) => ({
  sexp: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: -(2 ** 31) - 5, max: 2 ** 31 + 5 }),
    fc.bigInt({ min: -((1n << 448n) - 1n), max: (1n << 448n) - 1n }).map((n): SExp => (n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n)),
    fc.double().map((x) => new PyFloat(x)),
    fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
    fc.constantFrom(...PB_VOCABULARY.slice(1)).map((w) => b(w)),
    fc.array(tie('sexp'), { maxLength: 6 }),
  ),
})).sexp;

/** Cut `bytes` at the given (sorted, deduplicated) offsets. */
function cut(bytes: Uint8Array, offsets: number[]): Uint8Array[] {
  const points = [...new Set(offsets.map((o) => o % (bytes.length + 1)))].sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const p of points) {
    out.push(bytes.subarray(at, p));
    at = p;
  }
  out.push(bytes.subarray(at));
  return out;
}

test('property: any expressions survive encoding and decoding in arbitrary chunks, in both dialects', () => {
  fc.assert(
    fc.property(fc.array(sexpArb, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 8 }), fc.constantFrom<Dialect>('pb', 'none'), (exprs, offsets, dialect) => {
      const wire = Buffer.concat(exprs.map((e) => encodeBanana(e, dialect)));
      const dec = new BananaDecoder(dialect);
      const got: SExp[] = [];
      for (const c of cut(wire, offsets)) got.push(...dec.feed(c));
      assert.ok(dec.idle);
      assertSame(got, exprs, 'round trip');
      // Byte-exact: decoding then encoding again gives the same bytes.
      assert.deepEqual(Buffer.concat(got.map((e) => encodeBanana(e, dialect))), wire);
    }),
    { numRuns: 500 },
  );
});

/** Feed `chunks`; only ever a ProtocolError, and every decoded expression unjellies or fails with a ProtocolError. */
function decodeHostile(chunks: Uint8Array[], dialect: Dialect): void {
  const dec = new BananaDecoder(dialect);
  try {
    for (const c of chunks) {
      for (const e of dec.feed(c)) {
        try {
          unjelly(e);
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
        }
      }
    }
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
  }
}

test('property: random bytes only ever raise ProtocolError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 5 }), fc.constantFrom<Dialect>('pb', 'none'), (bytes, offsets, dialect) => {
      decodeHostile(cut(bytes, offsets), dialect);
    }),
    { numRuns: 2000 },
  );
  // Bytes biased towards tokens (type bytes and small prefixes) reach deeper states.
  const tokenish = fc.array(fc.oneof(fc.integer({ min: 0x80, max: 0x88 }), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 255 })), { maxLength: 300 });
  fc.assert(
    fc.property(tokenish, fc.array(fc.nat(), { maxLength: 5 }), (bytes, offsets) => {
      decodeHostile(cut(Uint8Array.from(bytes), offsets), 'pb');
    }),
    { numRuns: 2000 },
  );
});

test('property: mutated capture bytes only ever raise ProtocolError', () => {
  const sources = streams.filter((s) => s.conn === 2).map((s) => s.bytes.subarray(s.expressions[1]!.start));
  const mutation = fc.record({
    at: fc.nat(),
    kind: fc.constantFrom('flip', 'set', 'insert', 'delete', 'truncate'),
    byte: fc.integer({ min: 0, max: 255 }),
  });
  fc.assert(
    fc.property(fc.constantFrom(...sources.keys()), fc.array(mutation, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 6 }), (which, mutations, offsets) => {
      let bytes = Buffer.from(sources[which]!);
      for (const m of mutations) {
        const at = m.at % (bytes.length + 1);
        if (m.kind === 'flip' && at < bytes.length) bytes[at] = bytes[at]! ^ (1 << (m.byte % 8));
        else if (m.kind === 'set' && at < bytes.length) bytes[at] = m.byte;
        else if (m.kind === 'insert') bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([m.byte]), bytes.subarray(at)]);
        else if (m.kind === 'delete') bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
        else if (m.kind === 'truncate') bytes = bytes.subarray(0, at);
      }
      decodeHostile(cut(bytes, offsets), 'pb');
    }),
    { numRuns: 1000 },
  );
});

test('encoded messages stay independent: after large ones, a refused one, and a change to a returned buffer', () => {
  const small: SExp = [b('update'), 7, b('stdout'), b('hello\n')];
  const expected = Buffer.from(encodeBanana(small, 'pb'));
  const large: SExp = [b('update'), Buffer.alloc(300_000, 0x78)];
  const largeOut = encodeBanana(large, 'pb');
  const huge = encodeBanana([Buffer.alloc(MAX_BANANA_STRING_BYTES, 0x79), Buffer.alloc(MAX_BANANA_STRING_BYTES, 0x7a)], 'pb');
  assert.equal(huge.length > 2 * MAX_BANANA_STRING_BYTES, true);
  assert.deepEqual(encodeBanana(small, 'pb'), expected);
  // A buffer already returned is the caller's: encoding more does not touch it.
  assert.deepEqual(decodeAll(largeOut, 'pb'), [large]);
  assert.throws(() => encodeBanana([b('partial'), 1n << 448n], 'pb'), bananaError(BananaErrorCode.intRange));
  const afterError = encodeBanana(small, 'pb');
  assert.deepEqual(afterError, expected);
  afterError.fill(0);
  assert.deepEqual(encodeBanana(small, 'pb'), expected);
});
