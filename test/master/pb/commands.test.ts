import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuthError } from '../../../src/errors.js';
import type { MasterEvent } from '../../../src/master/events.js';
import { REF_MARKERS } from '../../../src/master/pb/connection.js';
import { startTestMaster, type TestMaster } from '../../../src/master/test-master.js';
import type { WorkerHandle } from '../../../src/master/worker-handle.js';
import { RemoteRef, jelly, jellyFailure } from '../../../src/protocol/jelly.js';
import { PreJellied, RemoteCallError } from '../../../src/engine/pb/broker.js';
import { ManualClock } from '../../../src/util/clock.js';
import { PyFloat, PyTuple } from '../../../src/values.js';
import { b, PbTestWorker, RawPbClient } from './scripted-client.js';
import { eventually } from '../../helpers/eventually.js';

const BUILDERS = [
  { name: 'b1', builddir: 'b1dir' },
  { name: 'b2', builddir: 'b2dir' },
];

let master: TestMaster;
const events: MasterEvent[] = [];

before(async () => {
  master = await startTestMaster({ workers: { pbw: 'sekrit', other: 'pw2', dup: 'pw3', legacy: 'pw4' }, builders: BUILDERS, msgpackPort: null });
  master.on('event', (e: MasterEvent) => events.push(e));
});

after(async () => {
  await master.close();
});

async function attach(name = 'pbw', password = 'sekrit', opts = {}): Promise<{ w: PbTestWorker; h: WorkerHandle }> {
  const attached = master.waitForWorker(name);
  const w = await PbTestWorker.login(master.pbPort, name, password, opts);
  return { w, h: await attached };
}

async function detach(w: PbTestWorker, h: WorkerHandle): Promise<void> {
  w.close();
  await h.detached;
}

/** Poll until `cond` holds (the peer's decrefs travel over real TCP). */
const until = (cond: () => boolean, what: string): Promise<void> => eventually(cond, what);

/** update(pairs) on a RemoteCommand. */
const update = (cmd: PbTestWorker['perspective'], ...dicts: Array<Record<string, unknown>>) => cmd.callRemote('update', [dicts.map((d) => [d, 0])]);

test('bad password and unknown worker: login refused with UnauthorizedLogin, authFailure events', async () => {
  const before = events.length;
  await assert.rejects(PbTestWorker.login(master.pbPort, 'pbw', 'wrong'), AuthError);
  await assert.rejects(PbTestWorker.login(master.pbPort, 'nobody', 'sekrit'), AuthError);
  assert.deepEqual(
    events.slice(before).flatMap((e) => (e.type === 'authFailure' ? [[e.worker, e.protocol, e.reason]] : [])),
    [
      ['pbw', 'pb', 'UnauthorizedLogin'],
      ['nobody', 'pb', 'UnauthorizedLogin'],
    ],
  );
  assert.equal(master.worker('pbw'), undefined);
});

test('attach: print, getWorkerInfo, setBuilderList, print per builder; respond answered with the perspective afterwards', async () => {
  const { w, h } = await attach();
  assert.deepEqual(w.prints.all, ['attached', 'attached', 'attached']);
  assert.deepEqual(w.calls, ['getWorkerInfo', 'setBuilderList b1,b2']);
  assert.equal(h.protocol, 'pb');
  assert.equal(h.attached, true);
  assert.deepEqual(h.info, { basedir: '/w', system: 'posix', version: '3.7.0', worker_commands: { shell: '3.1' } });
  assert.equal(h.liveReferences(), 1, 'the perspective (the challenger was released by the login)');
  assert.equal(master.liveReferences('pbw'), 1);
  await detach(w, h);
  assert.equal(h.attached, false);
});

test('command round trip: ping, startBuild, startCommand(ref, id, name, args); updates answered with 0; complete', async () => {
  const { w, h } = await attach();
  const run = h.startCommand('b1', 'shell', { workdir: 'build', command: ['echo', 'hi'], want_stdout: true, timeout: 1200, maxTime: null });
  const start = await w.starts.next();
  assert.deepEqual(w.prints.all.slice(3), ['ping']);
  assert.deepEqual(w.calls.slice(2), ['startBuild b1', `startCommand b1 ${run.commandId} shell`]);
  assert.equal(start.commandId, run.commandId);
  assert.deepEqual({ ...start.args }, { workdir: 'build', command: ['echo', 'hi'], want_stdout: true, timeout: 1200, maxTime: null });
  assert.equal(h.liveReferences(), 2, 'perspective + RemoteCommand');

  assert.equal(await update(start.command, { header: 'sh -c ...\n' }, { stdout: 'partial' }), 0);
  assert.equal(await update(start.command, { stdout: ' line\n' }, { log: new PyTuple(['custom', 'l1\n']) }), 0);
  await update(start.command, { rc: 0 });
  await update(start.command, { elapsed: new PyFloat(1) });
  assert.equal(await start.command.callRemote('complete', [null]), null);
  const result = await run.done;
  assert.equal(result.status, 'SUCCESS');
  assert.equal(result.rc, 0);
  assert.equal(result.elapsed, 1);
  assert.equal(result.logs.stdout, 'partial line\n', 'partial lines are fine over PB');
  assert.equal(result.logs.stdio, 'sh -c ...\npartial line\n');
  assert.equal(result.logs.custom, 'l1\n');
  assert.deepEqual(result.updates, [
    ['header', 'sh -c ...\n'],
    ['stdout', 'partial'],
    ['stdout', ' line\n'],
    ['log', ['custom', 'l1\n']],
    ['rc', 0],
    ['elapsed', 1],
  ]);
  assert.deepEqual(result.violations, []);
  const seen = events.filter((e) => e.type === 'update' && e.commandId === run.commandId).map((e) => e.type === 'update' && e.key);
  assert.deepEqual(seen, ['header', 'stdout', 'stdout', 'log', 'rc', 'elapsed']);

  // A second command on the same builder: no new ping/startBuild.
  const run2 = h.startCommand('b1', 'mkdir', { dir: 'build/x' });
  const start2 = await w.starts.next();
  assert.deepEqual(w.calls.slice(-1), [`startCommand b1 ${run2.commandId} mkdir`]);
  assert.deepEqual(w.prints.all.slice(3), ['ping']);
  await update(start2.command, { rc: 0 });
  await start2.command.callRemote('complete', []);
  assert.equal((await run2.done).status, 'SUCCESS');

  assert.equal(h.liveReferences(), 3);
  start.command.release();
  start2.command.release();
  await until(() => h.liveReferences() === 1, 'decrefs bring the count back');
  await detach(w, h);
});

test('complete without rc, complete with a failure, refused start, malformed update', async () => {
  const { w, h } = await attach();
  const noRc = h.startCommand('b1', 'shell', { command: 'true' });
  const s1 = await w.starts.next();
  await s1.command.callRemote('complete', [null]);
  const r1 = await noRc.done;
  assert.equal(r1.status, 'FAILURE');
  assert.deepEqual(r1.violations, ['complete without a preceding rc update']);
  assert.ok(h.violations.some((v) => v.includes('complete without a preceding rc update')));

  const failed = h.startCommand('b1', 'uploadDirectory', { workersrc: 'nope' });
  const s2 = await w.starts.next();
  await update(s2.command, { elapsed: new PyFloat(0.5) });
  const failure = jellyFailure({ type: 'builtins.FileNotFoundError', value: "[Errno 2] No such file or directory: 'nope'", traceback: 'Traceback (most recent call last):\n...\n' });
  await s2.command.callRemote('complete', [new PreJellied(failure)]);
  const r2 = await failed.done;
  assert.equal(r2.status, 'EXCEPTION');
  assert.equal(r2.failureType, 'builtins.FileNotFoundError');
  assert.equal(r2.failure, "builtins.FileNotFoundError: [Errno 2] No such file or directory: 'nope'\nTraceback (most recent call last):\n...\n");
  assert.deepEqual(r2.violations, []);

  const bad = h.startCommand('b2', 'shell', { command: 'x' });
  const s3 = await w.starts.next();
  assert.equal(await update(s3.command, { stdout: 42 }), 0, 'a malformed update is still acknowledged');
  const r3 = await bad.done;
  assert.equal(r3.status, 'EXCEPTION');
  assert.match(r3.failure!, /stdout update is not text/);
  // The worker goes on and completes; the master has already ended the step.
  await update(s3.command, { rc: 0 });
  await s3.command.callRemote('complete', [null]);
  assert.ok(h.violations.some((v) => v.includes('stdout update is not text')));
  await detach(w, h);

  const refusing = await attach('pbw', 'sekrit', { refuseStart: 'unknown command' });
  const r4 = await refusing.h.startCommand('b1', 'frobnicate', {}).done;
  assert.equal(r4.status, 'EXCEPTION');
  assert.match(r4.startError!, /unknown command/);
  await detach(refusing.w, refusing.h);
});

test('file upload through the FileWriter: bytes, close, utime; unpack is not a FileWriter method', async () => {
  const { w, h } = await attach();
  const run = h.startCommand('b1', 'uploadFile', { workersrc: 'out.txt', keepstamp: true }, { upload: { collect: true } });
  const s = await w.starts.next();
  assert.deepEqual(Object.keys(s.args), ['workdir', 'writer', 'maxsize', 'blocksize', 'keepstamp', 'workersrc'], 'the 3.7 master argument order (#132)');
  assert.ok(s.writer);
  assert.equal(run.wireArgs.writer, REF_MARKERS.writer);
  assert.equal(h.liveReferences(), 3, 'perspective + RemoteCommand + FileWriter');
  assert.equal(await s.writer.callRemote('write', [Buffer.from('upload ')]), null);
  await s.writer.callRemote('write', [Buffer.from('me\n')]);
  await s.writer.callRemote('close');
  await s.writer.callRemote('utime', [new PyTuple([new PyFloat(1795343306.5), new PyFloat(1795343306.25)])]);
  await assert.rejects(s.writer.callRemote('unpack'), (err: unknown) => err instanceof RemoteCallError && err.failure.type === 'twisted.spread.flavors.NoSuchMethod');
  await assert.rejects(s.writer.callRemote('write', [Buffer.from('late')]), (err: unknown) => err instanceof RemoteCallError && err.failure.value === 'I/O operation on closed file.');
  await update(s.command, { header: 'sending out.txt\n' }, { rc: 0 });
  await s.command.callRemote('complete', [null]);
  const r = await run.done;
  assert.equal(r.upload!.data.toString(), 'upload me\n');
  assert.deepEqual(r.upload!.utime, [1795343306.5, 1795343306.25]);
  assert.equal(r.upload!.closed, true);
  assert.equal(r.upload!.writes, 2, 'the write after close was refused');
  s.writer.release();
  s.command.release();
  await until(() => h.liveReferences() === 1, 'writer and command released');
  assert.ok(
    h.violations.some((v) => v.includes('does not implement')),
    'the unknown method is recorded',
  );
  await detach(w, h);
});

test('directory upload (DirectoryWriter.unpack) and download through the FileReader', async () => {
  const { w, h } = await attach();
  const up = h.startCommand('b1', 'uploadDirectory', { workersrc: 'dir' }, { upload: { collect: true } });
  const s = await w.starts.next();
  assert.equal(up.wireArgs.writer, REF_MARKERS.directoryWriter);
  await s.writer!.callRemote('write', [Buffer.alloc(1024, 1)]);
  await s.writer!.callRemote('unpack');
  await update(s.command, { rc: 0 });
  await s.command.callRemote('complete', [null]);
  const ru = await up.done;
  assert.equal(ru.upload!.bytes, 1024);
  assert.equal(ru.upload!.unpacked, true);

  const data = 'x'.repeat(20000);
  const down = h.startCommand('b2', 'downloadFile', { workerdest: 'f.txt', mode: 416 }, { download: { data } });
  const d = await w.starts.next();
  assert.deepEqual(Object.keys(d.args), ['maxsize', 'reader', 'blocksize', 'workdir', 'mode', 'workerdest'], 'the 3.7 master argument order (#55)');
  assert.equal(down.wireArgs.reader, REF_MARKERS.reader);
  const got: Buffer[] = [];
  for (;;) {
    const block = (await d.reader!.callRemote('read', [16384])) as Uint8Array;
    assert.ok(block instanceof Uint8Array, 'file data is bytes');
    if (block.length === 0) break;
    got.push(Buffer.from(block));
  }
  assert.equal(Buffer.concat(got).toString(), data);
  await d.reader!.callRemote('close');
  await assert.rejects(d.reader!.callRemote('read', [10]), (err: unknown) => err instanceof RemoteCallError && err.failure.type === 'builtins.ValueError');
  await update(d.command, { rc: 0 });
  await d.command.callRemote('complete', [null]);
  const rd = await down.done;
  assert.deepEqual(rd.download, { reads: 3, bytesServed: 20000, closed: true });
  await detach(w, h);
});

test('interrupt, keepalives both ways, graceful shutdown once idle', async () => {
  const clock = new ManualClock();
  const m2 = await startTestMaster({ workers: { kw: 'pw' }, builders: [{ name: 'b', builddir: 'b' }], msgpackPort: null, clock, keepaliveIntervalMs: 60_000 });
  try {
    const attached = m2.waitForWorker('kw');
    const w = await PbTestWorker.login(m2.pbPort, 'kw', 'pw');
    const h = await attached;
    clock.advance(60_000);
    assert.equal(await w.prints.next(), 'attached');
    await w.prints.next();
    assert.equal(await w.prints.next(), 'keepalive', 'print(message="keepalive") on the master interval');

    const run = h.startCommand('b', 'shell', { command: 'sleep 60' });
    const s = await w.starts.next();
    await run.interrupt('test interrupt');
    assert.deepEqual(await w.interrupts.next(), [s.commandId, 'test interrupt']);
    await run.interrupt('again');
    assert.equal(w.interrupts.all.length, 1, 'a second interrupt is a no-op');

    assert.equal(await w.perspective.callRemote('keepalive'), null);
    assert.equal(h.keepalivesReceived, 1);

    // Graceful shutdown asked while a command runs: Bot.shutdown only once it is done.
    assert.equal(await w.perspective.callRemote('shutdown'), null);
    assert.equal(h.shutdownRequested, true);
    await sleep(20);
    assert.equal(w.shutdowns.all.length, 0);
    await update(s.command, { rc: -1 });
    await s.command.callRemote('complete', [null]);
    assert.equal(await w.shutdowns.next(), 'bot');
    assert.equal((await run.done).interrupted, true);
    w.close();
    await h.detached;
  } finally {
    await m2.close();
  }
});

test('a worker without getWorkerInfo/Bot.shutdown gets the legacy API: getSlaveInfo, getCommands, getVersion, WorkerForBuilder.shutdown', async () => {
  const { w, h } = await attach('legacy', 'pw4', { legacy: true });
  assert.deepEqual(w.prints.all.slice(0, 2), ['attached', 'buildbot-slave detected, failing back to deprecated buildslave API. (Ignoring missing getWorkerInfo method.)']);
  assert.deepEqual(h.info, { worker_commands: { shell: '3.1' }, version: '0.8-legacy' });
  await h.shutdown();
  assert.equal(await w.shutdowns.next(), 'wfb b1');
  await detach(w, h);
});

test('a duplicate login is refused while the old connection answers its ping', async () => {
  const first = await attach('dup', 'pw3');
  await assert.rejects(PbTestWorker.login(master.pbPort, 'dup', 'pw3'), (err: unknown) => err instanceof RemoteCallError && err.failure.value === 'rejecting duplicate worker');
  assert.equal(first.w.prints.all.at(-1), 'master got a duplicate connection');
  assert.equal(master.worker('dup'), first.h);
  await detach(first.w, first.h);
});

test('protocol mistakes that make Twisted drop the link: recorded, connection dropped', async () => {
  const cases: Array<[string, (w: PbTestWorker) => void, RegExp]> = [
    ['decref of an unknown luid', (w) => w.framing.send([b('decref'), 999]), /decref of object 999/],
    ['answer to no request', (w) => w.framing.send([b('answer'), 77, jelly(null)]), /answer for request 77/],
    ['unknown PB command', (w) => w.framing.send([b('frobnicate'), 1]), /unknown PB command/],
    ['not a list', (w) => w.framing.send(5), /not a list/],
  ];
  for (const [what, act, pattern] of cases) {
    const { w, h } = await attach();
    act(w);
    assert.equal(await h.detached, 'connection lost', what);
    assert.ok(
      h.violations.some((v) => pattern.test(v)),
      `${what}: ${JSON.stringify(h.violations)}`,
    );
  }
  // Bad banana before login: a violation without a worker name, and the link is dropped.
  const raw = await RawPbClient.connect(master.pbPort);
  await raw.waitBytes(12);
  const before = events.length;
  raw.write(Buffer.from([0x02, 0x82, 0x70, 0x62, 0x01, 0x88]));
  await raw.closed;
  assert.ok(events.slice(before).some((e) => e.type === 'violation' && e.worker === null && e.protocol === 'pb'));
});

test('a dialect that was not offered closes the connection', async () => {
  const raw = await RawPbClient.connect(master.pbPort);
  assert.equal((await raw.waitBytes(12)).toString('hex'), '02800282706204826e6f6e65', "[b'pb', b'none']");
  raw.write(Buffer.from([0x04, 0x82, 0x6a, 0x73, 0x6f, 0x6e])); // b'json'
  await raw.closed;
  assert.equal(raw.received().length, 12, 'nothing after the offer');
});

test('tolerated mistakes are answered and recorded: unknown method, unknown object id', async () => {
  const { w, h } = await attach();
  await assert.rejects(w.perspective.callRemote('frobnicate'), (err: unknown) => err instanceof RemoteCallError && err.failure.type === 'twisted.spread.flavors.NoSuchMethod');
  await assert.rejects(w.broker.callRemote(new RemoteRef(4242), 'update', [[]]), (err: unknown) => err instanceof RemoteCallError && err.failure.value === 'Invalid Object ID');
  assert.equal(h.attached, true, 'the link stays up');
  assert.equal(h.violations.length, 2, JSON.stringify(h.violations));
  await detach(w, h);
});

test('disconnect drops TCP; running commands end as RETRY; calls on a gone worker fail', async () => {
  const { w, h } = await attach();
  const run = h.startCommand('b1', 'shell', { command: 'sleep 1' });
  await w.starts.next();
  h.disconnect();
  assert.equal((await run.done).status, 'RETRY');
  assert.equal(await h.detached, 'connection lost');
  await w.closed;
  await assert.rejects(h.print('x'));
  assert.throws(() => h.startCommand('b1', 'shell', {}), /not attached/);
  assert.ok(events.some((e) => e.type === 'detach' && e.protocol === 'pb' && e.worker === 'pbw'));
});
