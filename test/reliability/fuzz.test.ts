import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ERR, WorkerError } from '../../src/errors.js';
import { BananaDecoder, type SExp } from '../../src/protocol/banana.js';
import { unjelly } from '../../src/protocol/jelly.js';
import { decodeMessage, encodeMessage, type MsgpackMessage } from '../../src/protocol/msgpack.js';
import { WorkerOps } from '../../src/session/msgpack/ops.js';
import { MsgpackPeer } from '../../src/engine/msgpack/peer.js';
import { runPbSession } from '../../src/session/pb/pb-session.js';
import { ManualClock } from '../../src/util/clock.js';
import { FakeHandlers } from '../worker/fake-handlers.js';
import { captureChunks, MemoryStream, memoryLogger, settle } from '../session/pb/fixtures.js';
import { fakeHandlers } from '../worker/fake-handlers.js';

/**
 * Property tests feeding random and mutated frames to the banana, jelly and msgpack
 * decoders and to both session layers. The only acceptable failure is the codec's or
 * session's own typed error (a WorkerError subclass); nothing else may escape, nothing may
 * hang. Runs per property: FUZZ_RUNS (default 2000, a few seconds in CI); a long run is
 * `FUZZ_RUNS=100000 node --test dist/test/reliability/fuzz.test.js`.
 */

const RUNS = Math.max(1, Number(process.env.FUZZ_RUNS ?? 2000));
/** Inputs tried by this file, reported for the README. */
let inputsTried = 0;
/** Error codes (or 'logged in') the PB session ended with under fuzzing. */
const pbOutcomes = new Set<string>();

function onlyOwnErrors(fn: () => void): void {
  inputsTried++;
  try {
    fn();
  } catch (err) {
    if (!(err instanceof WorkerError)) throw new Error(`escaped: ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`, { cause: err });
  }
}

const pbChunks = captureChunks('pb-session.jsonl');
const msgpackChunks = captureChunks('msgpack-session.jsonl');
/** Master → worker PB bytes after the dialect offer (PB dialect), and msgpack messages. */
const pbStream = Buffer.concat(
  pbChunks
    .filter((c) => c.conn === 2 && c.dir === 'm2w')
    .map((c) => c.bytes)
    .slice(1),
);
const dialectOffer = pbChunks.find((c) => c.conn === 2 && c.dir === 'm2w')!.bytes;
const pbM2w = pbChunks.filter((c) => c.conn === 2 && c.dir === 'm2w').map((c) => c.bytes);
const msgpackMessages = msgpackChunks.filter((c) => c.dir === 'm2w' && c.bytes.length > 0).map((c) => c.bytes);

/** A byte mutation: flip, insert, delete or truncate at random places. */
const mutation = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 16 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  ),
  { minLength: 1, maxLength: 6 },
);

type Mutation = { kind: string; at: number; value?: number; bytes?: Uint8Array; n?: number };

function mutate(input: Uint8Array, ops: Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const op of ops) {
    const at = b.length === 0 ? 0 : op.at % (b.length + 1);
    if (op.kind === 'flip' && b.length > 0) b[at % b.length] = op.value!;
    else if (op.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from(op.bytes!), b.subarray(at)]);
    else if (op.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + op.n!)]);
    else if (op.kind === 'truncate') b = b.subarray(0, at);
  }
  return b;
}

/** Banana bytes that are structurally plausible: tokens with random prefixes. */
const bananaTokens = fc
  .array(
    fc.tuple(
      fc.uint8Array({ minLength: 0, maxLength: 4 }).map((p) => p.map((x) => x & 0x7f)),
      fc.constantFrom(0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87),
      fc.uint8Array({ maxLength: 8 }),
    ),
    { maxLength: 40 },
  )
  .map((tokens) => Buffer.concat(tokens.flatMap(([prefix, type, tail]) => [Buffer.from(prefix), Buffer.from([type]), Buffer.from(tail)])));

test('banana decoder: random, token-shaped and mutated captured bytes raise only its own errors', () => {
  const decode = (bytes: Uint8Array, dialect: 'pb' | 'none') =>
    onlyOwnErrors(() => {
      const dec = new BananaDecoder(dialect);
      // In pieces, as a socket delivers them.
      for (let i = 0; i < bytes.length; i += 7) dec.feed(bytes.subarray(i, i + 7));
    });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), fc.constantFrom('pb' as const, 'none' as const), decode), { numRuns: RUNS });
  fc.assert(
    fc.property(bananaTokens, (b) => decode(b, 'pb')),
    { numRuns: RUNS },
  );
  fc.assert(
    fc.property(mutation, (m) => decode(mutate(pbStream, m), 'pb')),
    { numRuns: RUNS },
  );
});

/** Random s-expressions using jelly's type names, so the unjellier goes deep. */
const jellyWords = [
  'list',
  'tuple',
  'dictionary',
  'reference',
  'dereference',
  'copyable',
  'remote',
  'local',
  'unpersistable',
  'boolean',
  'none',
  'set',
  'frozenset',
  'unicode',
  'module',
  'class',
  'function',
  'instance',
  'twisted.spread.pb.CopyableFailure',
  'x',
];
const { sexp } = fc.letrec<{ sexp: SExp }>((tie) => ({
  sexp: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer().map((n) => n as SExp),
    fc.constantFrom(...jellyWords).map((w) => Buffer.from(w, 'latin1') as SExp),
    fc.uint8Array({ maxLength: 8 }).map((u) => u as SExp),
    fc.array(tie('sexp'), { maxLength: 5 }).map((a) => a as SExp),
    fc.tuple(fc.constantFrom(...jellyWords), fc.array(tie('sexp'), { maxLength: 4 })).map(([w, rest]) => [Buffer.from(w, 'latin1'), ...rest] as SExp),
  ),
}));

test('jelly: random s-expressions built from its type names raise only its own errors', () => {
  fc.assert(
    fc.property(sexp, (e) => onlyOwnErrors(() => void unjelly(e))),
    { numRuns: RUNS * 3 },
  );
});

test('msgpack decoder: random and mutated captured messages raise only its own errors', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), (b) => onlyOwnErrors(() => void decodeMessage(b))),
    { numRuns: RUNS },
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: msgpackMessages.length - 1 }), mutation, (i, m) => onlyOwnErrors(() => void decodeMessage(mutate(msgpackMessages[i]!, m)))),
    { numRuns: RUNS },
  );
});

/** A msgpack session's message layer (peer + ops + command handlers), as the WebSocket feeds it. */
const ops = new WorkerOps({ handlers: new FakeHandlers('/srv/worker'), log: memoryLogger().log, peer: () => undefined as never, afterShutdownResponse: () => undefined });

function tryDecode(frame: Uint8Array): MsgpackMessage | undefined {
  try {
    return decodeMessage(frame);
  } catch {
    return undefined;
  }
}

function msgpackWorker() {
  const { log } = memoryLogger();
  const handlers = new FakeHandlers('/srv/worker');
  const sent: MsgpackMessage[] = [];
  const ops: WorkerOps = new WorkerOps({ handlers, log, peer: () => peer, afterShutdownResponse: () => undefined });
  const peer: MsgpackPeer = new MsgpackPeer({ log, handlers: ops.table, send: (b) => void sent.push(decodeMessage(b)) });
  return { peer, sent, handlers };
}

const OPS = ['print', 'keepalive', 'get_worker_info', 'set_worker_settings', 'start_command', 'interrupt_command', 'response', 'update', 'complete', 'bogus'];
const anyValue = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.uint8Array({ maxLength: 8 }),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
);
const msgpackMessage = fc.record(
  {
    op: fc.oneof(fc.constantFrom(...OPS), anyValue),
    seq_number: fc.oneof(fc.nat(20), anyValue),
    command_id: fc.oneof(fc.constantFrom('1', '2'), anyValue),
    command_name: fc.oneof(fc.constantFrom('shell', 'mkdir', 'nope'), anyValue),
    args: fc.oneof(fc.dictionary(fc.constantFrom('workdir', 'command', 'paths', 'path', 'buffer_size', 'newline_re', 'max_line_length', 'buffer_timeout'), anyValue, { maxKeys: 4 }), anyValue),
    message: anyValue,
    result: anyValue,
    is_exception: anyValue,
  },
  { requiredKeys: [] },
);

test('msgpack session layer: random messages and bytes get answers or typed errors, nothing escapes', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.oneof(
          msgpackMessage.map((m) => encodeMessage(m as MsgpackMessage)),
          fc.uint8Array({ maxLength: 64 }),
        ),
        { minLength: 1, maxLength: 10 },
      ),
      async (frames) => {
        const { peer, handlers, sent } = msgpackWorker();
        const requests = new Map<number, number>();
        const unknownOps = new Set<number>();
        for (const f of frames) {
          onlyOwnErrors(() => peer.receive(f));
          const m = tryDecode(f);
          if (!m || !Object.hasOwn(m, 'op') || !Object.hasOwn(m, 'seq_number') || m.op === 'response') continue;
          const seq = m.seq_number;
          if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0) continue;
          requests.set(seq, (requests.get(seq) ?? 0) + 1);
          if (typeof m.op !== 'string' || !Object.hasOwn(ops.table, m.op)) unknownOps.add(seq);
        }
        await settle();
        // Every message out is a stamped map; every response answers a request, at most once per request.
        const answered = new Map<number, number>();
        for (const m of sent) {
          assert.ok(typeof m.op === 'string' && typeof m.seq_number === 'number', JSON.stringify(m));
          if (m.op !== 'response') continue;
          const seq = m.seq_number as number;
          answered.set(seq, (answered.get(seq) ?? 0) + 1);
          assert.ok((answered.get(seq) ?? 0) <= (requests.get(seq) ?? 0), `response to seq_number ${seq}, which was not asked (or asked fewer times)`);
        }
        // An unknown op is answered at once, with an error.
        for (const seq of unknownOps) {
          assert.ok(
            sent.some((m) => m.op === 'response' && m.seq_number === seq && m.is_exception === true && String(m.result).endsWith('does not exist.')),
            `unknown op ${seq} answered`,
          );
        }
        peer.connectionLost(new (class extends WorkerError {})(ERR.CONNECTION_CLOSED, 'test over'));
        await handlers.idle();
      },
    ),
    { numRuns: RUNS },
  );
});

test('msgpack session layer: a duplicate answer to `complete` (or any request) is ignored, the next request still works', async () => {
  const { peer, sent } = msgpackWorker();
  const first = peer.request({ op: 'complete', command_id: '1', args: null });
  const seq = sent.at(-1)!.seq_number as number;
  peer.receive(encodeMessage({ op: 'response', seq_number: seq, result: null }));
  assert.equal(await first, null);
  peer.receive(encodeMessage({ op: 'response', seq_number: seq, result: null }));
  const second = peer.request({ op: 'update', command_id: '2', args: [['rc', 0]] });
  peer.receive(encodeMessage({ op: 'response', seq_number: sent.at(-1)!.seq_number as number, result: null }));
  assert.equal(await second, null);
});

test('PB session: after a valid dialect offer, random and mutated master bytes end in a typed error or nothing', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ maxLength: 600 }).map((b) => [Buffer.from(b)]),
        bananaTokens.map((b) => [b]),
        fc.tuple(fc.integer({ min: 1, max: pbM2w.length - 1 }), mutation).map(([i, m]) => [...pbM2w.slice(1, i), mutate(pbM2w[i]!, m), ...pbM2w.slice(i + 1)]),
      ),
      async (chunks) => {
        inputsTried++;
        const { handlers } = fakeHandlers();
        const { log } = memoryLogger();
        const clock = new ManualClock();
        const stream = new MemoryStream();
        let outcome: unknown = 'pending';
        runPbSession(stream, { transport: { host: '127.0.0.1', port: 1 }, workername: 'pbworker', password: 'pb-secret', handlers, clock, log, keepaliveSeconds: 0 }).then(
          (s) => {
            outcome = 'logged in';
            s.close();
          },
          (err: unknown) => (outcome = err),
        );
        stream.feed(dialectOffer);
        await settle();
        for (const c of chunks) {
          stream.feed(c);
          await settle();
        }
        // Whatever the bytes did, the login deadline ends a session that is still waiting.
        clock.advance(400_000);
        await settle();
        assert.ok(outcome === 'logged in' || outcome instanceof WorkerError, `outcome: ${String(outcome)}`);
        pbOutcomes.add(outcome instanceof WorkerError ? outcome.code : String(outcome));
        assert.equal(clock.pending, 0, 'no timer outlives the session');
      },
    ),
    { numRuns: RUNS },
  );
});

test('fuzz figures', (t) => {
  t.diagnostic(`fuzz inputs tried: ${inputsTried} (FUZZ_RUNS=${RUNS})`);
  assert.ok(inputsTried > 0);
  t.diagnostic(`PB session outcomes: ${[...pbOutcomes].sort().join(', ')}`);
  // Random master bytes must end in typed errors of more than one kind, and never hang (the
  // login deadline ends whatever waits).
  assert.ok(pbOutcomes.size >= 2, [...pbOutcomes].join(', '));
  assert.ok(!pbOutcomes.has('pending'));
});
