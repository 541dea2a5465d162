import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { BananaError, ERR, MsgpackError, ProtocolError } from '../../src/errors.js';
import {
  BananaDecoder,
  BananaErrorCode,
  DIALECT_MESSAGE_BUDGET,
  MAX_BANANA_MESSAGE_BYTES,
  MAX_BANANA_MESSAGE_NODES,
  MAX_BANANA_STRING_BYTES,
  encodeBanana,
  type SExp,
} from '../../src/protocol/banana.js';
import { MAX_MSGPACK_MESSAGE_NODES, countMsgpackValues, decodeMessage, encodeMessage } from '../../src/protocol/msgpack.js';
import { ClientFraming } from '../../src/engine/pb/client-framing.js';

/**
 * What hostile bytes can make the decoders hold: a budget per message, shared empty
 * values, strings kept as received bytes rather than allocated from their declared length.
 * Memory is measured as the heap and ArrayBuffer growth after full collections, on
 * inputs big enough that collector noise (tens of KB) does not matter; nothing is timed.
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap plus ArrayBuffer bytes after two full collections. */
function used(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Memory growth while `hold` keeps what `run` returned alive. */
function growth(run: () => unknown): number {
  const before = used();
  const held = run();
  const after = used();
  assert.ok(held !== null); // keeps `held` alive up to the measurement
  return after - before;
}

/**
 * Bytes of memory one input byte may cost at most. The dearest token is a VOCAB word
 * (2 bytes, a fresh Buffer each) or an empty msgpack map (1 byte, an object): ~60.
 */
const K = 80;

const prefix = (n: number): Buffer => {
  const d: number[] = [];
  do {
    d.push(n % 128);
    n = Math.floor(n / 128);
  } while (n > 0);
  return Buffer.from(d);
};

/** Feed `input` in 64 KiB chunks; the decoder (its partial state) and the error code. */
function feedBanana(input: Buffer, dec = new BananaDecoder('pb')): { dec: BananaDecoder; code: string | undefined; out: SExp[] } {
  const out: SExp[] = [];
  try {
    for (let i = 0; i < input.length; i += 65536) out.push(...dec.feed(input.subarray(i, i + 65536)));
  } catch (err) {
    assert.ok(err instanceof BananaError, String(err));
    return { dec, code: err.code, out };
  }
  return { dec, code: undefined, out };
}

test('banana: a never-finished list of 4 × 640K empty strings (2.6 MB) is refused by the budget and holds next to nothing', () => {
  const parts = [Buffer.from([5, 0x80])];
  for (let i = 0; i < 4; i++) parts.push(Buffer.from([0, 0, 0x28, 0x80]), Buffer.alloc(640 * 1024, 0x82));
  const input = Buffer.concat(parts);
  let code: string | undefined;
  const grew = growth(() => {
    const r = feedBanana(input);
    code = r.code;
    return r;
  });
  assert.equal(code, BananaErrorCode.budget);
  assert.ok(grew < 4 * 1024 * 1024, `grew ${grew} bytes`);
});

test('banana: every cheap token, up to the budget, costs at most K bytes per input byte', () => {
  const tokens: Record<string, Buffer> = {
    'empty string': Buffer.from([0x82]),
    int: Buffer.from([0x81]),
    'empty list': Buffer.from([0x80]),
    'one-byte string': Buffer.from([1, 0x82, 0x61]),
    float: Buffer.from([0x84, 0, 0, 0, 0, 0, 0, 0, 1]),
    'vocabulary word': Buffer.from([1, 0x87]),
    'list of one': Buffer.from([1, 0x80, 0x81]),
    'long int': Buffer.from([...new Array<number>(9).fill(0x7f), 0x85]),
  };
  for (const [name, token] of Object.entries(tokens)) {
    // An outer list that never ends, holding as many tokens as the budget lets through.
    const count = MAX_BANANA_MESSAGE_NODES;
    const input = Buffer.concat([prefix(count + 1), Buffer.from([0x80]), Buffer.concat(new Array<Buffer>(count).fill(token))]);
    let code: string | undefined;
    const grew = growth(() => {
      const r = feedBanana(input);
      code = r.code;
      return r;
    });
    assert.equal(code, BananaErrorCode.budget, name);
    assert.ok(grew <= K * input.length, `${name}: ${grew} bytes for ${input.length} input bytes`);
  }
});

test('banana: a string header alone allocates nothing for the declared length', () => {
  // Before any payload byte, 100 headers of 640 KiB strings would be 64 MB if allocated up front.
  const header = Buffer.concat([prefix(MAX_BANANA_STRING_BYTES), Buffer.from([0x82, 0x61])]);
  const grew = growth(() =>
    Array.from({ length: 100 }, () => {
      const dec = new BananaDecoder('pb');
      assert.deepEqual(dec.feed(header), []);
      return dec;
    }),
  );
  assert.ok(grew < 8 * 1024 * 1024, `grew ${grew} bytes`);
});

test('banana: empty strings and lists are one shared value each; vocabulary words stay fresh copies', () => {
  const [expr] = new BananaDecoder('pb').feed(encodeBanana([Buffer.alloc(0), Buffer.alloc(0), [], []], 'pb')) as SExp[][];
  assert.equal(expr![0], expr![1]);
  assert.equal(expr![2], expr![3]);
  assert.ok(Object.isFrozen(expr![2]));
  const [w1, w2] = new BananaDecoder('pb').feed(Buffer.from('1a871a87', 'hex'));
  assert.notEqual(w1, w2);
});

test(`banana: the budget is per expression (${MAX_BANANA_MESSAGE_NODES} values, ${MAX_BANANA_MESSAGE_BYTES} bytes) and counts again from zero for the next`, () => {
  const full = new Array<SExp>(MAX_BANANA_MESSAGE_NODES - 1).fill(7);
  const wire = encodeBanana(full, 'pb');
  const dec = new BananaDecoder('pb');
  assert.equal(dec.feed(Buffer.concat([wire, wire])).length, 2);
  assert.deepEqual(dec.used, { nodes: 0, bytes: 0 });
  assert.equal(feedBanana(encodeBanana([...full, 7], 'pb')).code, BananaErrorCode.budget);
  // Bytes: two strings of the largest size fit; a third string's header is refused before its bytes come.
  const big = Buffer.alloc(MAX_BANANA_STRING_BYTES, 0x62);
  assert.equal(feedBanana(encodeBanana([big, big.subarray(0, big.length - 16)], 'pb')).out.length, 1);
  const over = encodeBanana([big, big, Buffer.from('x')], 'pb');
  const r = feedBanana(over.subarray(0, over.length - 1));
  assert.equal(r.code, BananaErrorCode.budget);
});

test('banana: the first expression (the dialect offer) gets a tiny budget; after it the full one applies', () => {
  const written: Uint8Array[] = [];
  const got: SExp[] = [];
  const framing = new ClientFraming({ write: (b) => written.push(b), onNegotiated: () => {}, onExpression: (e) => got.push(e) });
  const offer = encodeBanana(new Array<SExp>(DIALECT_MESSAGE_BUDGET.nodes).fill(Buffer.from('pb')), 'none');
  assert.throws(
    () => framing.receive(offer),
    (err: unknown) => err instanceof BananaError && err.code === BananaErrorCode.budget,
  );

  const ok = new ClientFraming({ write: (b) => written.push(b), onNegotiated: () => {}, onExpression: (e) => got.push(e) });
  ok.receive(encodeBanana([Buffer.from('pb'), Buffer.from('none')], 'none'));
  ok.receive(encodeBanana(new Array<SExp>(1000).fill(1), 'pb'));
  assert.equal(got.length, 1);
});

test('property: whatever the bytes, the banana decoder raises only BananaError and holds at most one value per byte', () => {
  const tokenish = fc.array(fc.oneof(fc.integer({ min: 0x80, max: 0x87 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 255 })), { maxLength: 2000 });
  fc.assert(
    fc.property(tokenish, fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }), (bytes, sizes) => {
      const input = Buffer.from(bytes);
      const dec = new BananaDecoder('pb');
      let fed = 0;
      try {
        for (let i = 0; fed < input.length; i++) {
          const n = sizes[i % sizes.length]!;
          dec.feed(input.subarray(fed, fed + n));
          fed = Math.min(input.length, fed + n);
          assert.ok(dec.used.nodes <= fed && dec.used.bytes <= fed, `${JSON.stringify(dec.used)} after ${fed} bytes`);
        }
      } catch (err) {
        if (!(err instanceof BananaError)) throw err;
      }
    }),
    { numRuns: 1000 },
  );
});

// ---- msgpack ----------------------------------------------------------------------------

function msgpackWith(count: number, token: number[]): Buffer {
  const head = Buffer.from([0x81, 0xa1, 0x61, 0xdd, (count >>> 24) & 255, (count >>> 16) & 255, (count >>> 8) & 255, count & 255]);
  return Buffer.concat([head, Buffer.concat(new Array<Buffer>(count).fill(Buffer.from(token)))]);
}

function decodeCode(input: Buffer): string | undefined {
  try {
    decodeMessage(input);
    return undefined;
  } catch (err) {
    assert.ok(err instanceof MsgpackError, String(err));
    return err.code;
  }
}

test('msgpack: 8 MB of empty arrays is refused by the value budget before decoding', () => {
  const input = msgpackWith(8 * 1024 * 1024, [0x90]);
  let code: string | undefined;
  const grew = growth(() => (code = decodeCode(input)));
  assert.equal(code, ERR.MSGPACK_BUDGET);
  assert.ok(grew < 4 * 1024 * 1024, `grew ${grew} bytes`);
});

test('msgpack: every cheap value, up to the budget, costs at most K bytes per input byte', () => {
  const tokens: Record<string, number[]> = {
    'empty array': [0x90],
    'empty map': [0x80],
    'empty bin': [0xc4, 0],
    'empty str': [0xa0],
    int: [0x01],
    nil: [0xc0],
    'array of one': [0x91, 0x90],
  };
  for (const [name, token] of Object.entries(tokens)) {
    const count = Math.floor((MAX_MSGPACK_MESSAGE_NODES - 3) / (name === 'array of one' ? 2 : 1));
    const input = msgpackWith(count, token);
    let value: unknown;
    const grew = growth(() => (value = decodeMessage(input)));
    assert.ok(value, name);
    assert.ok(grew <= K * input.length, `${name}: ${grew} bytes for ${input.length} input bytes`);
    assert.equal(decodeCode(msgpackWith(count + 3, token)), ERR.MSGPACK_BUDGET, name);
  }
});

test('property: random bytes raise only MsgpackError; the value count never exceeds the byte count', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 500 }), (bytes) => {
      try {
        assert.ok(countMsgpackValues(bytes, Infinity) <= bytes.length);
        decodeMessage(bytes);
      } catch (err) {
        if (!(err instanceof MsgpackError)) throw err;
      }
    }),
    { numRuns: 3000 },
  );
  // Real messages count as many values as they hold.
  const msg = { op: 'update', args: [['stdout', ['a\n', [1], [1.5]]]], command_id: 'x' };
  // map, 3 keys and 'update', 'x'; args, the pair, 'stdout', the chunk, its text, [1] and [1.5] with their elements.
  assert.equal(countMsgpackValues(encodeMessage(msg)), 1 + 3 + 2 + 1 + 1 + 1 + 1 + 1 + 2 + 2);
  assert.ok(new MsgpackError('x') instanceof ProtocolError);
});
