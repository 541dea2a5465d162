import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectionError, ERR, ProtocolError } from '../../../src/errors.js';
import { decodeMessage, encodeMessage, type MsgpackMessage } from '../../../src/protocol/msgpack.js';
import { MsgpackPeer, RemoteCallError, type OpHandler } from '../../../src/engine/msgpack/peer.js';
import { memoryLogger } from '../../session/pb/fixtures.js';

function peer(handlers: Record<string, OpHandler> = {}, bounds: { maxOutstanding?: number; maxQueued?: number } = {}) {
  const sent: MsgpackMessage[] = [];
  const { log, lines } = memoryLogger();
  const p = new MsgpackPeer({ send: (b) => void sent.push(decodeMessage(b)), log, handlers, ...bounds });
  const deliver = (m: MsgpackMessage): void => p.receive(encodeMessage(m));
  return { p, sent, deliver, lines };
}

test('requests are numbered from 0; responses resolve them by seq_number in any order; is_exception by presence', async () => {
  const { p, sent, deliver } = peer();
  const a = p.request({ op: 'update', command_id: '1', args: [] });
  const b = p.request({ op: 'complete', command_id: '1', args: null });
  const c = p.request({ op: 'update_read_file', command_id: '2', length: 10 });
  assert.deepEqual(
    sent.map((m) => [m.op, m.seq_number]),
    [
      ['update', 0],
      ['complete', 1],
      ['update_read_file', 2],
    ],
  );
  deliver({ op: 'response', seq_number: 2, result: Buffer.from('abc') });
  deliver({ op: 'response', seq_number: 0, result: null });
  deliver({ op: 'response', seq_number: 1, result: 'no good', is_exception: false });
  assert.deepEqual(await c, Buffer.from('abc'));
  assert.equal(await a, null);
  await assert.rejects(b, (err: unknown) => err instanceof RemoteCallError && err.message === 'no good' && err.method === 'complete');
  assert.equal(p.outstanding, 0);
});

test('at most maxOutstanding requests are in flight; the rest wait in order, and the queue is bounded', async () => {
  const { p, sent, deliver } = peer({}, { maxOutstanding: 2, maxQueued: 2 });
  const results = [1, 2, 3, 4].map((i) => p.request({ op: 'update', command_id: String(i), args: [] }));
  assert.deepEqual(
    sent.map((m) => m.command_id),
    ['1', '2'],
  );
  assert.equal(p.queued, 2);
  await assert.rejects(p.request({ op: 'update', command_id: '5', args: [] }), (err: unknown) => err instanceof ConnectionError && err.code === ERR.TOO_MANY_REQUESTS);
  deliver({ op: 'response', seq_number: 1, result: null });
  assert.deepEqual(
    sent.map((m) => [m.command_id, m.seq_number]),
    [
      ['1', 0],
      ['2', 1],
      ['3', 2],
    ],
  );
  deliver({ op: 'response', seq_number: 0, result: null });
  deliver({ op: 'response', seq_number: 2, result: null });
  deliver({ op: 'response', seq_number: 3, result: null });
  assert.deepEqual(
    sent.map((m) => m.command_id),
    ['1', '2', '3', '4'],
  );
  await Promise.all(results);
  assert.equal(p.outstanding, 0);
  assert.equal(p.queued, 0);
});

test('connection loss fails outstanding and queued requests, and later ones at once; no answers are sent after it', async () => {
  const { p, sent, deliver } = peer({ print: () => null }, { maxOutstanding: 1 });
  const a = p.request({ op: 'update', command_id: '1', args: [] });
  const b = p.request({ op: 'complete', command_id: '1', args: null });
  p.connectionLost(new ConnectionError('Connection lost'));
  await assert.rejects(a, /Connection lost/);
  await assert.rejects(b, /Connection lost/);
  await assert.rejects(p.request({ op: 'update', command_id: '2', args: [] }), ConnectionError);
  const before = sent.length;
  deliver({ op: 'print', message: 'late', seq_number: 0 });
  assert.equal(sent.length, before);
});

test('master requests: sync and async handlers answer with their result; throws and rejections answer with is_exception', async () => {
  const { sent, deliver } = peer({
    sync: () => ({ a: 1 }),
    nothing: () => undefined,
    async: async () => 'later',
    throws: () => {
      throw new ProtocolError('bad input');
    },
    rejects: async () => {
      throw new Error('failed later');
    },
  });
  deliver({ op: 'sync', seq_number: 0 });
  deliver({ op: 'nothing', seq_number: 1 });
  deliver({ op: 'async', seq_number: 2 });
  deliver({ op: 'throws', seq_number: 3 });
  deliver({ op: 'rejects', seq_number: 4 });
  deliver({ op: 'toString', seq_number: 5 });
  await new Promise((r) => setImmediate(r));
  const bySeq = Object.fromEntries(sent.map((m) => [m.seq_number as number, m]));
  assert.deepEqual(bySeq[0], { op: 'response', seq_number: 0, result: { a: 1 } });
  assert.deepEqual(bySeq[1], { op: 'response', seq_number: 1, result: null });
  assert.deepEqual(bySeq[2], { op: 'response', seq_number: 2, result: 'later' });
  assert.deepEqual(bySeq[3], { op: 'response', seq_number: 3, result: 'bad input', is_exception: true });
  assert.deepEqual(bySeq[4], { op: 'response', seq_number: 4, result: 'failed later', is_exception: true });
  assert.deepEqual(bySeq[5], { op: 'response', seq_number: 5, result: 'Command toString does not exist.', is_exception: true }, 'only own ops are served');
});

test('ignored without an answer: no seq_number, no op, a bad seq_number, a response to nothing', () => {
  const { sent, deliver, lines } = peer({ print: () => null });
  deliver({ op: 'print', message: 'x' });
  deliver({ seq_number: 3 });
  deliver({ op: 'print', seq_number: -1 });
  deliver({ op: 'print', seq_number: 1.5 });
  deliver({ op: 'response', seq_number: 7, result: null });
  assert.deepEqual(sent, []);
  assert.equal(lines.filter((l) => l.level === 40).length, 5);
});

test('a result that cannot be encoded is answered as an error; a request that cannot be encoded rejects', async () => {
  const { p, sent, deliver } = peer({ huge: () => 2n ** 70n });
  deliver({ op: 'huge', seq_number: 0 });
  assert.equal(sent.length, 1);
  assert.equal(sent[0].seq_number, 0);
  assert.equal(sent[0].is_exception, true);
  assert.match(String(sent[0].result), /cannot encode the result/);
  await assert.rejects(p.request({ op: 'update', command_id: '1', args: [2n ** 70n] }), (err: unknown) => err instanceof ProtocolError && err.code === ERR.MSGPACK_ENCODE);
  assert.equal(sent.length, 1);
  assert.equal(p.outstanding, 0);
  void p.request({ op: 'update', command_id: '1', args: [] });
  assert.equal(sent[1].seq_number, 0, 'the failed request used up no sequence number');
});
