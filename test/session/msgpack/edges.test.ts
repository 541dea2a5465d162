import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { ConnectionError, ERR, ProtocolError, TimeoutError } from '../../../src/errors.js';
import { MASTER_WORKER_SETTINGS } from '../../../src/master/msgpack/connection.js';
import { decodeMessage, encodeMessage, type MsgpackMessage } from '../../../src/protocol/msgpack.js';
import { runMsgpackSession } from '../../../src/session/msgpack/session.js';
import { connectWebSocket } from '../../../src/transport/websocket.js';
import { ManualClock, systemClock, type Clock } from '../../../src/util/clock.js';
import type { Session } from '../../../src/worker/session.js';
import { memoryLogger } from '../pb/fixtures.js';
import { FakeHandlers } from '../../worker/fake-handlers.js';
import { eventually } from '../../helpers/eventually.js';

/**
 * The session against a bare WebSocket server playing a misbehaving master: ops and
 * payloads the 3.7 master never sends, answered per `msgpack.md` §2.1 without crashing.
 */

interface Served {
  session: Session;
  handlers: FakeHandlers;
  /** The server side of the connection. */
  peer: WebSocket;
  /** The worker side of the connection (the session's own WebSocket). */
  worker: WebSocket;
  /** Send a request from the "master"; resolves with the worker's response. */
  ask(msg: MsgpackMessage): Promise<MsgpackMessage>;
  inbox: MsgpackMessage[];
}

const servers: WebSocketServer[] = [];
after(() => {
  for (const s of servers) {
    for (const c of s.clients) c.terminate();
    s.close();
  }
});

async function serve(opts: { autoPong?: boolean; clock?: Clock; keepaliveSeconds?: number; maxPayloadBytes?: number } = {}): Promise<Served> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, autoPong: opts.autoPong ?? true });
  servers.push(wss);
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const port = (wss.address() as AddressInfo).port;
  const connected = new Promise<WebSocket>((r) => wss.once('connection', (ws) => r(ws)));
  const handlers = new FakeHandlers('/srv/worker');
  const sessionOpts = {
    transport: { host: '127.0.0.1', port },
    workername: 'w',
    password: 'pw',
    handlers,
    clock: opts.clock ?? systemClock,
    log: memoryLogger().log,
    keepaliveSeconds: opts.keepaliveSeconds ?? 0,
  };
  // What createMsgpackSession does, keeping the worker's WebSocket to watch its pongs.
  const worker = await connectWebSocket({ transport: sessionOpts.transport, username: 'w', password: 'pw', maxPayloadBytes: opts.maxPayloadBytes });
  const session = runMsgpackSession(worker, sessionOpts);
  const peer = await connected;
  const inbox: MsgpackMessage[] = [];
  const waiters = new Map<number, (m: MsgpackMessage) => void>();
  peer.on('message', (data: Buffer) => {
    const m = decodeMessage(data);
    if (m.op === 'response' && waiters.has(m.seq_number as number)) waiters.get(m.seq_number as number)!(m);
    else inbox.push(m);
  });
  let seq = 0;
  const ask = (msg: MsgpackMessage): Promise<MsgpackMessage> => {
    const n = seq++;
    const p = new Promise<MsgpackMessage>((r) => waiters.set(n, r));
    peer.send(encodeMessage({ ...msg, seq_number: n }));
    return p;
  };
  return { session, handlers, peer, worker, ask, inbox };
}

test('unknown ops, missing keys and bad settings are answered with errors; the session goes on', async () => {
  const { session, handlers, ask, peer } = await serve();
  assert.deepEqual(await ask({ op: 'frobnicate' }), { op: 'response', seq_number: 0, result: 'Command frobnicate does not exist.', is_exception: true });
  assert.deepEqual(await ask({ op: 'print', message: 'hi' }), { op: 'response', seq_number: 1, result: null }, 'no is_exception key on success');
  assert.equal((await ask({ op: 'print' })).result, `'message did not contain obligatory "message" key'`);
  assert.equal((await ask({ op: 'start_command', command_id: '1', args: {} })).result, `'message did not contain obligatory "command_name" key'`);
  assert.equal((await ask({ op: 'interrupt_command', command_id: '1' })).result, `'message did not contain obligatory "why" key'`);
  assert.equal((await ask({ op: 'set_worker_settings', args: { buffer_size: 1 } })).result, `'message did not contain obligatory settings for worker'`);
  const badType = await ask({ op: 'set_worker_settings', args: { buffer_size: 'big', buffer_timeout: 5, newline_re: 'x', max_line_length: 10 } });
  assert.equal(badType.is_exception, true);
  assert.match(String(badType.result), /buffer_size must be an integer/);
  assert.equal(handlers.settings, undefined);
  const badArgs = await ask({ op: 'start_command', command_id: '1', command_name: 'shell', args: ['x'] });
  assert.equal(badArgs.is_exception, true);
  const unknown = await ask({ op: 'start_command', command_id: '7', command_name: 'nope', args: {} });
  assert.deepEqual(unknown, { op: 'response', seq_number: 8, result: "(command 7): unrecognized WorkerCommand 'nope'", is_exception: true });
  // Ignored: a text frame, a message without seq_number, a response to nothing.
  peer.send('hello', { binary: false });
  peer.send(encodeMessage({ op: 'print', message: 'no seq' }));
  peer.send(encodeMessage({ op: 'response', seq_number: 999, result: null }));
  assert.deepEqual(await ask({ op: 'keepalive' }), { op: 'response', seq_number: 9, result: null });
  assert.deepEqual(handlers.prints, ['hi']);
  session.close();
  assert.equal(await session.closed, undefined);
});

test('a relative path from the master is resolved against the basedir; absolute ones pass unchanged', async () => {
  const { session, handlers, ask } = await serve();
  handlers.commands.set('cpdir', async () => undefined);
  await ask({ op: 'start_command', command_id: '3', command_name: 'cpdir', args: { from_path: 'a/../b', to_path: '/abs/c' } });
  assert.deepEqual(handlers.started[0].args, { from_path: '/srv/worker/a/../b', to_path: '/abs/c' });
  const dup = await ask({ op: 'start_command', command_id: '3', command_name: 'cpdir', args: {} });
  assert.match(String(dup.result), /already running/);
  session.close();
});

test('bytes that are not one msgpack map end the session with a ProtocolError', async () => {
  for (const bytes of [
    [0x81, 0xa2, 0x6f],
    [0x92, 1, 2],
  ]) {
    const { session, handlers, peer } = await serve();
    peer.send(Buffer.from(bytes));
    const reason = await session.closed;
    assert.ok(reason instanceof ProtocolError);
    assert.equal(reason.code, ERR.MSGPACK);
    assert.equal(handlers.connectionLostCalls, 1);
  }
});

test('a message above the payload bound ends the session with ERR_MESSAGE_TOO_BIG', async () => {
  const { session, peer } = await serve({ maxPayloadBytes: 1024 });
  peer.send(encodeMessage({ op: 'print', message: 'x'.repeat(2000), seq_number: 0 }));
  const reason = await session.closed;
  assert.ok(reason instanceof ProtocolError);
  assert.equal(reason.code, ERR.MESSAGE_TOO_BIG);
});

test('requests the worker sends wait for the master; a closed connection fails them', async () => {
  const { session, handlers, ask, peer, inbox } = await serve();
  let failure: unknown;
  handlers.commands.set('shell', async (req) => {
    try {
      await req.channel.sendUpdates([{ kind: 'status', key: 'rc', value: 0 }]);
    } catch (err) {
      failure = err;
    }
  });
  await ask({ op: 'start_command', command_id: '5', command_name: 'shell', args: { workdir: '/w' } });
  await eventually(() => inbox.length > 0, 'the update');
  assert.deepEqual(inbox[0], { op: 'update', args: [['rc', 0]], command_id: '5', seq_number: 0 });
  peer.terminate();
  const reason = await session.closed;
  assert.ok(reason instanceof ConnectionError);
  await handlers.idle();
  assert.ok(failure instanceof ConnectionError);
});

test('WebSocket pings: answered pongs keep the session, a silent master is dropped at the deadline', async () => {
  const clock = new ManualClock();
  const live = await serve({ clock, keepaliveSeconds: 30 });
  // Attached, so only the ping deadline is running (the attach deadline has its own test).
  await live.ask({ op: 'set_worker_settings', args: { ...MASTER_WORKER_SETTINGS } });
  // The worker's pong listener runs after the session's: once we count a pong, the session has heard it.
  let pongs = 0;
  live.worker.on('pong', () => pongs++);
  clock.advance(30_000);
  await eventually(() => pongs === 1, 'the pong to the first ping');
  clock.advance(30_000);
  await eventually(() => pongs === 2, 'the pong to the second ping');
  live.session.close();
  assert.equal(await live.session.closed, undefined, 'answered pings never time out');

  const clock2 = new ManualClock();
  const silent = await serve({ clock: clock2, keepaliveSeconds: 30, autoPong: false });
  await silent.ask({ op: 'set_worker_settings', args: { ...MASTER_WORKER_SETTINGS } });
  let got = false;
  silent.peer.on('ping', () => (got = true));
  clock2.advance(30_000);
  await eventually(() => got, 'the ping to reach the master');
  clock2.advance(60_000); // the deadline is twice the keepalive period (src/session/deadlines.ts)
  const reason = await silent.session.closed;
  assert.ok(reason instanceof TimeoutError);
  assert.match(reason.message, /did not answer a WebSocket ping within 60 s/);
});

test('attach deadline: a master that upgrades and never sends set_worker_settings is dropped (buildbot #4678)', async () => {
  const clock = new ManualClock();
  const stalled = await serve({ clock, keepaliveSeconds: 30 });
  await stalled.ask({ op: 'print', message: 'hello' });
  clock.advance(59_999); // the reply deadline: twice the keepalive period
  await new Promise((r) => setTimeout(r, 20));
  clock.advance(1);
  const reason = await stalled.session.closed;
  assert.ok(reason instanceof TimeoutError);
  assert.match(reason.message, /did not attach this worker within 60 s/);
});
