import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthError, ConnectionError, ProtocolError, TimeoutError } from '../../../src/errors.js';
import { BananaDecoder, encodeBanana, type SExp } from '../../../src/protocol/banana.js';
import { unjelly } from '../../../src/protocol/jelly.js';
import { runPbSession } from '../../../src/session/pb/pb-session.js';
import { replyDeadlineMs as keepaliveDeadlineMs } from '../../../src/session/deadlines.js';
import { ManualClock } from '../../../src/util/clock.js';
import type { SessionOptions } from '../../../src/worker/session.js';
import type { WorkerInfo } from '../../../src/worker/handlers.js';
import { MemoryStream, captureChunks, memoryLogger, settle } from './fixtures.js';
import { fakeHandlers } from '../../worker/fake-handlers.js';
import { pbStreams } from '../../protocol/pb-capture.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const str = (v: SExp | undefined) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : undefined);
const chunks = captureChunks('pb-session.jsonl');
const conn = (n: number, dir: 'w2m' | 'm2w') => chunks.filter((c) => c.conn === n && c.dir === dir).map((c) => c.bytes);

/** Decode a whole direction of a PB connection: the first expression before the dialect switch, the rest in 'pb'. */
function decodeStream(bytes: Buffer): SExp[] {
  const dec = new BananaDecoder('none');
  dec.push(bytes);
  const first = dec.next();
  assert.ok(first !== undefined);
  dec.dialect = 'pb';
  const out: SExp[] = [first];
  for (let e = dec.next(); e !== undefined; e = dec.next()) out.push(e);
  return out;
}

function options(handlers: SessionOptions['handlers'], password: string, clock = new ManualClock(), keepaliveSeconds = 0) {
  const { log, lines } = memoryLogger();
  const opts: SessionOptions = { transport: { host: '127.0.0.1', port: 1 }, workername: 'pbworker', password, handlers, clock, log, keepaliveSeconds };
  return { opts, lines, clock };
}

test('a refused login (capture connection 1) is byte-exact and ends in AuthError', async () => {
  const m2w = conn(1, 'm2w');
  const w2m = conn(1, 'w2m');
  const { handlers, events } = fakeHandlers();
  const { opts, lines } = options(handlers, 'wrong-password');
  const stream = new MemoryStream();
  const session = runPbSession(stream, opts);
  session.catch(() => {});

  stream.feed(m2w[0]!); // dialect offer
  await settle();
  // Dialect choice b'pb', [version, 6] and root.login(b'pbworker'), exactly as captured.
  assert.equal(stream.output().toString('hex'), w2m[0]!.toString('hex'));
  assert.ok(stream.output().toString('hex').endsWith('07801a8701810482726f6f741487018102800b8708827062776f726b657201800587'));

  stream.feed(m2w[1]!); // version, login answer (challenge, challenger)
  await settle();
  // respond(MD5(MD5(password) || challenge), Bot) then decref of the challenger.
  assert.equal(stream.output().toString('hex'), Buffer.concat([w2m[0]!, w2m[1]!]).toString('hex'));

  stream.feed(m2w[2]!); // decref of our Bot, error UnauthorizedLogin
  await assert.rejects(session, AuthError);
  assert.ok(lines.some((l) => l.msg === 'unauthorized login; check worker name and password'));
  assert.ok(!JSON.stringify(lines).includes('wrong-password'), 'the password is never logged');
  assert.ok(stream.destroyed);
  assert.ok(!events.some((e) => e[0] === 'connectionLost'), 'no worker-level loss for a session that never started');
});

/** How many bytes the Python worker had sent on connection 2 when the answer to respond (the perspective) arrived. */
function pythonBytesBeforePerspective(): number {
  const streams = pbStreams().filter((s) => s.conn === 2);
  const m2w = streams.find((s) => s.dir === 'm2w')!;
  const w2m = streams.find((s) => s.dir === 'w2m')!;
  const answer = m2w.expressions.find((x) => m2w.bytes.subarray(x.start, x.end).toString('hex') === '03801b870281028010870281')!;
  return Math.max(...w2m.expressions.filter((x) => x.number < answer.number).map((x) => x.end));
}

/** The worker's answer to `getWorkerInfo` in the capture, to make our answer comparable byte for byte. */
function capturedWorkerInfo(): WorkerInfo {
  const exprs = decodeStream(Buffer.concat(conn(2, 'w2m')));
  const answer = exprs.find((e) => Array.isArray(e) && str(e[0]) === 'answer' && e[1] === 2) as SExp[];
  return unjelly(answer[2]!) as unknown as WorkerInfo;
}

async function loginConnection2(password = 'pb-secret', keepaliveSeconds = 0) {
  const m2w = conn(2, 'm2w');
  const { handlers, events } = fakeHandlers({ info: capturedWorkerInfo(), onStart: (req) => void req.channel.complete(null).catch(() => {}) });
  const { opts, lines, clock } = options(handlers, password, new ManualClock(), keepaliveSeconds);
  const stream = new MemoryStream();
  let resolved = false;
  const sessionP = runPbSession(stream, opts);
  sessionP.then(
    () => (resolved = true),
    () => {},
  );
  // Up to and including the answer to respond (#30).
  const respondAnswer = m2w.findIndex((c) => c.toString('hex') === '03801b870281028010870281');
  assert.ok(respondAnswer > 0);
  for (let i = 0; i <= respondAnswer; i++) {
    assert.equal(resolved, false, 'resolves only once respond is answered');
    stream.feed(m2w[i]!);
    await settle();
  }
  const session = await sessionP;
  return { session, stream, events, lines, clock, m2w, rest: m2w.slice(respondAnswer + 1) };
}

test('a full login (capture connection 2): calls before the respond answer are served, bytes match the capture', async () => {
  const { stream, events } = await loginConnection2();
  const w2m = Buffer.concat(conn(2, 'w2m'));
  // Everything the Python worker sent until the perspective arrived: dialect, version, login,
  // respond, decref, answers to print, getWorkerInfo, setBuilderList and three prints.
  const ours = stream.output();
  const sent = pythonBytesBeforePerspective();
  assert.ok(sent > 1000, `${sent} bytes`);
  assert.equal(ours.length, sent);
  assert.equal(ours.toString('hex'), w2m.subarray(0, sent).toString('hex'));
  assert.deepEqual(events[0], ['print', 'attached']);
  // The master's builder order is its own (it differs between recordings); the worker keeps it.
  const builders = events[1]!;
  assert.equal(builders[0], 'setBuilderList');
  assert.deepEqual([...(builders[1] as Array<[string, string]>)].sort(), [
    ['errorbuilder', 'errorbuilder'],
    ['interruptbuilder', 'interruptbuilder'],
    ['protobuilder', 'protobuilder'],
  ]);
  assert.equal(events.filter((e) => e[0] === 'print').length, 4);
});

test('the rest of connection 2: commands start with resolved arguments and every master call is answered as captured', async () => {
  const { stream, events, rest, session } = await loginConnection2();
  const before = stream.output().length;
  for (const c of rest) {
    stream.feed(c);
    await settle();
  }
  const answersOf = (exprs: SExp[]) => new Map(exprs.filter((e): e is SExp[] => Array.isArray(e) && str(e[0]) === 'answer').map((e) => [e[1] as number, e[2]]));
  const captured = answersOf(decodeStream(Buffer.concat(conn(2, 'w2m'))));
  const dec = new BananaDecoder('pb');
  const ours = answersOf(dec.feed(stream.output().subarray(before)));
  for (const [id, value] of ours) assert.deepEqual(value, captured.get(id), `answer to master request ${id}`);
  // Master requests 7..25 after the login: print, startBuild, startCommand x10, interrupt, print..., shutdown.
  for (const id of [7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]) assert.ok(ours.has(id), `answered ${id}`);

  const starts = events.filter((e) => e[0] === 'startCommand').map((e) => e[1] as import('../../../src/worker/handlers.js').StartCommandRequest);
  assert.deepEqual(
    starts.map((s) => [s.commandId, s.commandName, s.builderName]),
    [
      ['0', 'shell', 'protobuilder'],
      ['1', 'downloadFile', 'protobuilder'],
      ['2', 'mkdir', 'protobuilder'],
      ['3', 'cpdir', 'protobuilder'],
      ['4', 'rmdir', 'protobuilder'],
      ['5', 'stat', 'protobuilder'],
      ['6', 'uploadDirectory', 'protobuilder'],
      ['7', 'uploadFile', 'protobuilder'],
      ['8', 'shell', 'interruptbuilder'],
      ['9', 'uploadDirectory', 'errorbuilder'],
    ],
  );
  const base = '/tmp/bbproto/pb/worker';
  const shell = starts[0]!.args;
  assert.equal(shell.workdir, `${base}/protobuilder/build`);
  assert.deepEqual([...(shell.command as string[])].slice(0, 2), ['/bin/sh', '-c']);
  assert.equal(shell.want_stdout, true);
  assert.equal(shell.timeout, 1200);
  assert.deepEqual({ ...(shell.env as object) }, { CAPTURE_VAR: 'value' });
  assert.equal(starts[1]!.args.path, `${base}/protobuilder/build/downloaded.txt`);
  assert.equal(starts[1]!.args.reader, undefined);
  assert.ok(starts[1]!.channel.reader && !starts[1]!.channel.writer);
  assert.deepEqual(starts[2]!.args.paths, [`${base}/protobuilder/build/newdir`]);
  assert.equal(starts[3]!.args.from_path, `${base}/protobuilder/build/updir`);
  assert.equal(starts[5]!.args.path, `${base}/protobuilder/build/downloaded.txt`);
  assert.ok(starts[6]!.channel.writer);
  assert.equal(starts[7]!.args.path, `${base}/protobuilder/build/out.txt`);
  assert.equal(starts[9]!.args.path, `${base}/errorbuilder/build/does-not-exist`);
  assert.deepEqual(
    events.find((e) => e[0] === 'interrupt'),
    ['interrupt', '8', 'capture: interrupt test'],
  );
  // The master's Bot.shutdown (#183) reaches the worker after its answer went out.
  assert.ok(events.some((e) => e[0] === 'shutdown'));
  session.close();
  assert.equal(await session.closed, undefined);
  assert.deepEqual(events.at(-1), ['connectionLost']);
});

function keepaliveCalls(stream: MemoryStream, from: number): SExp[][] {
  return new BananaDecoder('pb').feed(stream.output().subarray(from)).filter((e): e is SExp[] => Array.isArray(e) && str(e[0]) === 'message' && str(e[3]) === 'keepalive');
}

test('keepalive: an answered keepalive keeps the session, an unanswered one closes it with TimeoutError after twice the period', async () => {
  const { stream, clock, session, events } = await loginConnection2('pb-secret', 30);
  const mark = stream.output().length;
  assert.equal(keepaliveDeadlineMs(30), 60_000);
  clock.advance(29_999);
  await settle();
  assert.equal(keepaliveCalls(stream, mark).length, 0);
  clock.advance(1);
  await settle();
  const [first] = keepaliveCalls(stream, mark);
  assert.ok(first);
  assert.equal(first[2], 2, 'called on the perspective (luid 2)');
  stream.feed(encodeBanana([b('answer'), first[1]!, [b('None')]], 'pb'));
  await settle();
  clock.advance(30_000); // one period after the answer, the next keepalive goes out
  await settle();
  const calls = keepaliveCalls(stream, mark);
  assert.equal(calls.length, 2);
  const state: { closedWith: Error | undefined | 'open' } = { closedWith: 'open' };
  void session.closed.then((r) => (state.closedWith = r));
  clock.advance(59_999); // past the first keepalive's deadline: it was answered, nothing happens
  await settle();
  assert.equal(state.closedWith, 'open');
  clock.advance(1);
  await settle();
  assert.ok((state.closedWith as unknown) instanceof TimeoutError);
  assert.ok(stream.destroyed);
  assert.deepEqual(events.at(-1), ['connectionLost']);
});

test('keepalive: anything the master sends while a keepalive waits proves the link (a busy master is not dropped)', async () => {
  const { stream, clock, session } = await loginConnection2('pb-secret', 30);
  const mark = stream.output().length;
  clock.advance(30_000);
  await settle();
  assert.equal(keepaliveCalls(stream, mark).length, 1);
  const state: { closedWith: Error | undefined | 'open' } = { closedWith: 'open' };
  void session.closed.then((r) => (state.closedWith = r));
  clock.advance(50_000);
  await settle();
  // Not the keepalive's answer: a call from the master on the perspective (what the master sends while it works).
  stream.feed(encodeBanana([b('message'), 900, 0, b('print'), 1, [b('tuple'), b('still here')], [b('dictionary')]], 'pb'));
  await settle();
  clock.advance(30_000); // 80 s after the keepalive: past its deadline had the call not come
  await settle();
  assert.equal(state.closedWith, 'open');
  assert.equal(keepaliveCalls(stream, mark).length, 2, 'the next keepalive went out one period after the master was heard');
});

test('keepalive 0 sends no keepalives', async () => {
  const { stream, clock } = await loginConnection2('pb-secret', 0);
  const mark = stream.output().length;
  clock.advance(3_600_000);
  await settle();
  assert.equal(keepaliveCalls(stream, mark).length, 0);
});

test('requestShutdown calls perspective.shutdown and resolves true once answered', async () => {
  const { stream, session } = await loginConnection2();
  const mark = stream.output().length;
  const result = session.requestShutdown();
  await settle();
  const [call] = new BananaDecoder('pb').feed(stream.output().subarray(mark)) as SExp[][];
  assert.equal(str(call![3]), 'shutdown');
  assert.equal(call![2], 2);
  stream.feed(encodeBanana([b('answer'), call![1]!, [b('None')]], 'pb'));
  assert.equal(await result, true);
});

test('garbage from the master closes the session with a ProtocolError and tells the worker', async () => {
  const { stream, session, events } = await loginConnection2();
  const pending = session.requestShutdown();
  stream.feed(Buffer.from([0x01, 0x8f])); // no such banana type byte
  const reason = await session.closed;
  assert.ok(reason instanceof ProtocolError, String(reason));
  assert.equal(await pending, false);
  assert.deepEqual(events.at(-1), ['connectionLost']);
  assert.ok(stream.destroyed);
});

test('the master closing the connection resolves closed with a ConnectionError', async () => {
  const { stream, session } = await loginConnection2();
  stream.push(null);
  const reason = await session.closed;
  assert.ok(reason instanceof ConnectionError);
});

test('a wrong PB version from the master fails the login with a ProtocolError', async () => {
  const { handlers } = fakeHandlers();
  const { opts } = options(handlers, 'pb-secret');
  const stream = new MemoryStream();
  const session = runPbSession(stream, opts);
  stream.feed(conn(2, 'm2w')[0]!);
  await settle();
  stream.feed(encodeBanana([b('version'), 5], 'pb'));
  await assert.rejects(session, ProtocolError);
});

test('losing the connection during login rejects with ConnectionError', async () => {
  const { handlers } = fakeHandlers();
  const { opts } = options(handlers, 'pb-secret');
  const stream = new MemoryStream();
  const session = runPbSession(stream, opts);
  stream.feed(conn(2, 'm2w')[0]!);
  await settle();
  stream.destroy();
  await assert.rejects(session, ConnectionError);
});

test('a server offering no known dialect is a ProtocolError', async () => {
  const { handlers } = fakeHandlers();
  const { opts } = options(handlers, 'pb-secret');
  const stream = new MemoryStream();
  const session = runPbSession(stream, opts);
  stream.feed(encodeBanana([b('xml')], 'none'));
  await assert.rejects(session, ProtocolError);
});
