import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cutChunk, splitChunk, UpdateBuffer, entryCost } from '../../../src/commands/output/update-buffer.js';
import type { LogChunk, UpdateEntry } from '../../../src/commands/update.js';
import { ManualClock } from '../../../src/util/clock.js';

function chunk(text: string, time = 0): LogChunk {
  const newlines: number[] = [];
  [...text].forEach((c, i) => c === '\n' && newlines.push(i));
  return { text, newlines, times: newlines.map(() => time) };
}
const out = (stream: 'stdout' | 'stderr' | 'header', text: string): UpdateEntry => ({ kind: 'output', stream, chunk: chunk(text) });

function setup(bufferSize = 1000, bufferTimeout = 5) {
  const clock = new ManualClock();
  const sent: UpdateEntry[][] = [];
  let gate: Promise<void> | undefined;
  const buf = new UpdateBuffer({
    clock,
    bufferSize,
    bufferTimeout,
    send: async (entries) => {
      sent.push(entries);
      if (gate) await gate;
    },
  });
  return { clock, sent, buf, setGate: (g: Promise<void> | undefined) => (gate = g) };
}

const tick = () => new Promise((r) => setImmediate(r));

test('costs: text + 8 per index and time; 20 per status', () => {
  assert.equal(entryCost(out('stdout', 'ab\ncd\n')), 6 + 8 * 4);
  assert.equal(entryCost(out('stdout', '😀\n')), 2 + 16, 'code points, like Python len()');
  assert.equal(entryCost({ kind: 'status', key: 'rc', value: 0 }), 20);
});

test('consecutive chunks of one stream merge, indexes shifted in code points', async () => {
  const { buf, sent } = setup();
  buf.append(out('stdout', '😀a\n'));
  buf.append(out('stdout', 'b\n'));
  buf.append(out('stderr', 'e\n'));
  buf.append({ kind: 'logfile', name: 'x', chunk: chunk('1\n') });
  buf.append({ kind: 'logfile', name: 'x', chunk: chunk('2\n') });
  buf.append({ kind: 'logfile', name: 'y', chunk: chunk('3\n') });
  buf.append(out('stdout', 'c\n'));
  await buf.flush();
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0], [
    { kind: 'output', stream: 'stdout', chunk: { text: '😀a\nb\n', newlines: [2, 4], times: [0, 0] } },
    { kind: 'output', stream: 'stderr', chunk: chunk('e\n') },
    { kind: 'logfile', name: 'x', chunk: { text: '1\n2\n', newlines: [1, 3], times: [0, 0] } },
    { kind: 'logfile', name: 'y', chunk: chunk('3\n') },
    { kind: 'output', stream: 'stdout', chunk: chunk('c\n') },
  ]);
});

test('the first output goes out promptly; later output waits bufferTimeout after its first entry', async () => {
  const { buf, sent, clock } = setup();
  buf.append(out('header', 'h\n'));
  buf.append(out('header', 'i\n'));
  assert.equal(sent.length, 0);
  clock.advance(0);
  await tick();
  assert.equal(sent.length, 1, 'sent on the next timer turn, both header lines together');
  assert.equal(sent[0]![0]!.kind === 'output' && sent[0]![0]!.chunk.text, 'h\ni\n');
  clock.advance(1000);
  buf.append(out('stdout', 'o\n'));
  clock.advance(4999);
  await tick();
  assert.equal(sent.length, 1, 'not before 5 s after the first entry');
  clock.advance(1);
  await tick();
  assert.equal(sent.length, 2);
  clock.advance(6000);
  buf.append(out('stdout', 'p\n'));
  clock.advance(0);
  await tick();
  assert.equal(sent.length, 3, 'after a quiet period output is prompt again');
  assert.equal(clock.pending, 0);
});

test('reaching bufferSize sends the queue first', async () => {
  const { buf, sent } = setup(100);
  buf.append(out('stdout', 'a'.repeat(49) + '\n')); // 50 + 16
  buf.append({ kind: 'status', key: 'rc', value: 0 }); // 86
  buf.append(out('stderr', 'b'.repeat(9) + '\n')); // 26 > 14 left
  await tick();
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.length, 2);
  await buf.flush();
  assert.equal(sent.length, 2);
});

test('a log entry that does not fit fills the queue first, goes out in full pieces, and its tail stays queued', async () => {
  const { buf, sent } = setup(100);
  buf.append({ kind: 'status', key: 'a', value: 1 }); // 20
  const lines = Array.from({ length: 9 }, (_, i) => `line ${i} ${'x'.repeat(10)}\n`).join(''); // 18 chars + 16 per line
  buf.append({ kind: 'logfile', name: 'big', chunk: chunk(lines, 7) });
  await tick();
  // 80 left: two lines join the status; then 2 + 2 + 2 lines in full pieces; the last line waits.
  assert.equal(sent.length, 4);
  assert.equal(sent[0]!.length, 2);
  assert.deepEqual(sent[0]![0], { kind: 'status', key: 'a', value: 1 });
  assert.equal(buf.queued, 1);
  assert.equal(buf.cost, 34);
  await buf.flush();
  assert.equal(sent.length, 5);
  const pieces = sent.map((b) => {
    const e = b[b.length - 1]!;
    assert.ok(e.kind === 'logfile' && e.name === 'big');
    return e.chunk;
  });
  assert.equal(pieces.map((p) => p.text).join(''), lines);
  assert.deepEqual(
    pieces.map((p) => p.newlines.length),
    [2, 2, 2, 2, 1],
  );
  for (const p of pieces) {
    assert.ok(entryCost({ kind: 'logfile', name: 'big', chunk: p }) <= 100);
    assert.deepEqual(p, chunk(p.text, 7));
  }
});

test('the queued tail merges with the next output of the same stream', async () => {
  const { buf, sent } = setup(100);
  buf.append(out('stdout', 'a'.repeat(49) + '\n')); // 66
  buf.append(out('stdout', 'b'.repeat(17) + '\n' + 'c'.repeat(9) + '\n')); // 34 + 26: the b line fits (100)
  await tick();
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.length, 1);
  const e = sent[0]![0]!;
  assert.ok(e.kind === 'output');
  assert.equal(e.chunk.text, 'a'.repeat(49) + '\n' + 'b'.repeat(17) + '\n');
  assert.deepEqual(e.chunk.newlines, [49, 67]);
  buf.append(out('stdout', 'd\n'));
  await buf.flush();
  assert.equal(sent.length, 2);
  const tail = sent[1]![0]!;
  assert.ok(tail.kind === 'output');
  assert.equal(tail.chunk.text, 'c'.repeat(9) + '\nd\n');
  assert.deepEqual(tail.chunk.newlines, [9, 11]);
});

test('cutChunk: leading lines within the limit, indexes of the rest rebased; multi-unit characters counted once', () => {
  const c = chunk('é😀\nab\ncd\n', 3); // code points: 3 + 3 + 3
  const [head, rest] = cutChunk(c, 3 + 16 + 3 + 16);
  assert.deepEqual(head, chunk('é😀\nab\n', 3));
  assert.deepEqual(rest, chunk('cd\n', 3));
  assert.deepEqual(cutChunk(c, 18), [undefined, c]);
  assert.deepEqual(cutChunk(c, 1000), [c, undefined]);
});

test('splitChunk keeps a single line larger than the limit whole', () => {
  const c = chunk('a'.repeat(100) + '\nb\n');
  const parts = splitChunk(c, 50);
  assert.deepEqual(
    parts.map((p) => p.text),
    ['a'.repeat(100) + '\n', 'b\n'],
  );
  assert.deepEqual(parts[1]!.newlines, [1]);
});

test('sends are serialized and flush waits for delivery; a failed send does not stop the next', async () => {
  const clock = new ManualClock();
  const events: string[] = [];
  let release!: () => void;
  const first = new Promise<void>((r) => (release = r));
  let n = 0;
  const errors: unknown[] = [];
  const buf = new UpdateBuffer({
    clock,
    bufferSize: 30,
    bufferTimeout: 5,
    onSendError: (e) => errors.push(e),
    send: async (entries) => {
      const i = n++;
      events.push(`start ${i}`);
      if (i === 0) await first;
      if (i === 1) throw new Error('lost');
      events.push(`end ${i} ${entries.length}`);
    },
  });
  buf.append({ kind: 'status', key: 'a', value: 1 });
  buf.append({ kind: 'status', key: 'b', value: 2 }); // over 30: a is sent
  buf.append({ kind: 'status', key: 'c', value: 3 }); // b is sent
  const flushed = buf.flush().then(() => events.push('flushed'));
  await tick();
  assert.deepEqual(events, ['start 0']);
  release();
  await flushed;
  assert.deepEqual(events, ['start 0', 'end 0 1', 'start 1', 'start 2', 'end 2 1', 'flushed']);
  assert.equal(errors.length, 1);
});

test('maxInFlight: up to that many batches are handed over before the first settles, in order; flush waits for all', async () => {
  const clock = new ManualClock();
  const started: string[] = [];
  const releases: Array<() => void> = [];
  const buf = new UpdateBuffer({
    clock,
    bufferSize: 30,
    bufferTimeout: 5,
    maxInFlight: 3,
    send: (entries) => {
      started.push(entries.map((e) => (e.kind === 'status' ? e.key : '?')).join(''));
      return new Promise<void>((r) => releases.push(r));
    },
  });
  for (const key of ['a', 'b', 'c', 'd', 'e']) buf.append({ kind: 'status', key, value: 0 }); // each one pushes out the previous
  let flushed = false;
  const done = buf.flush().then(() => (flushed = true));
  await tick();
  assert.deepEqual(started, ['a', 'b', 'c'], 'three in flight, oldest first');
  releases[1]!(); // a later batch settling first still frees a slot
  await tick();
  assert.deepEqual(started, ['a', 'b', 'c', 'd']);
  releases[0]!();
  await tick();
  assert.deepEqual(started, ['a', 'b', 'c', 'd', 'e']);
  assert.equal(flushed, false, 'flush waits for every batch');
  for (const r of releases.slice(2)) r();
  await done;
  assert.equal(flushed, true);
});

test('maxInFlight defaults to one batch at a time', async () => {
  const { buf, sent, setGate } = setup(30);
  let release!: () => void;
  setGate(new Promise<void>((r) => (release = r)));
  for (const key of ['a', 'b', 'c']) buf.append({ kind: 'status', key, value: 0 });
  await tick();
  assert.equal(sent.length, 1);
  release();
  setGate(undefined);
  await buf.flush();
  assert.equal(sent.length, 3);
});

test('backlog: queued, waiting and in-flight cost; writable until over highWaterMark; whenWritable at half', async () => {
  const clock = new ManualClock();
  const answers: Array<() => void> = [];
  const buf = new UpdateBuffer({
    clock,
    bufferSize: 200,
    bufferTimeout: 5,
    maxInFlight: 2,
    highWaterMark: 400,
    send: () => new Promise<void>((r) => answers.push(r)),
  });
  const line = out('stdout', 'x'.repeat(91) + '\n'); // cost 92 + 16 = 108: one per batch
  for (let i = 0; i < 3; i++) buf.append(out('stdout', 'x'.repeat(91) + '\n'));
  assert.equal(entryCost(line), 108);
  assert.equal(buf.backlog, 3 * 108, 'two dispatched, one queued');
  assert.equal(buf.writable, true);
  buf.append(out('stdout', 'x'.repeat(91) + '\n'));
  assert.equal(buf.backlog, 4 * 108);
  assert.equal(buf.writable, false);
  let writable = false;
  void buf.whenWritable().then(() => (writable = true));
  await tick();
  assert.equal(answers.length, 2, 'the window holds two batches');
  answers.shift()!();
  await tick();
  assert.equal(buf.backlog, 3 * 108);
  assert.equal(buf.writable, true);
  assert.equal(writable, false, 'still above half of the mark');
  answers.shift()!();
  await tick();
  assert.equal(buf.backlog, 2 * 108);
  assert.equal(writable, false, '216 is above 200');
  answers.shift()!();
  await tick();
  assert.equal(buf.backlog, 108);
  assert.equal(writable, true);
  await buf.whenWritable();
});

test('discard releases a producer waiting for whenWritable', async () => {
  const buf = new UpdateBuffer({ clock: new ManualClock(), bufferSize: 50, bufferTimeout: 5, highWaterMark: 10, send: () => new Promise<void>(() => {}) });
  buf.append(out('stdout', 'x'.repeat(60) + '\n'));
  assert.equal(buf.writable, false);
  const waiting = buf.whenWritable();
  buf.discard();
  await waiting;
  assert.equal(buf.writable, true);
});
