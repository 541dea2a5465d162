import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import type { MasterEvent } from '../../../src/master/events.js';
import { MASTER_WORKER_SETTINGS, UTIME_BUG_TEXT } from '../../../src/master/msgpack/connection.js';
import { startTestMaster, type TestMaster } from '../../../src/master/test-master.js';
import type { WorkerHandle } from '../../../src/master/worker-handle.js';
import { decodeMessage } from '../../../src/protocol/msgpack.js';
import { ManualClock } from '../../../src/util/clock.js';
import { playAttach, ScriptedMsgpackClient, WORKER_BASEDIR, workerInfo } from './scripted-client.js';

const BUILDERS = [
  { name: 'b1', builddir: 'b1dir' },
  { name: 'b2', builddir: 'b2dir' },
];

let master: TestMaster;
const events: MasterEvent[] = [];

before(async () => {
  master = await startTestMaster({ workers: { mpw: 'sekrit', other: 'pw2', dup: 'pw3' }, builders: BUILDERS, pbPort: null });
  master.on('event', (e: MasterEvent) => events.push(e));
});

after(async () => {
  await master.close();
});

/** Connect and attach a scripted worker; returns the client and the master's handle. */
async function attach(name = 'mpw', password = 'sekrit'): Promise<{ client: ScriptedMsgpackClient; worker: WorkerHandle }> {
  const client = await ScriptedMsgpackClient.connect(master.msgpackPort, name, password);
  const attached = master.waitForWorker(name);
  await playAttach(client, { files: ['b1dir', 'b2dir', 'info'], builderCount: 2 });
  return { client, worker: await attached };
}

async function detach(client: ScriptedMsgpackClient, worker: WorkerHandle): Promise<void> {
  client.close();
  await worker.detached;
}

/** Raw HTTP upgrade, returning everything the master sent until it closed or `untilBytes` arrived. */
function rawUpgrade(authorization: string | undefined, untilBytes = Infinity): Promise<{ chunks: Buffer[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(master.msgpackPort, '127.0.0.1');
    const chunks: Buffer[] = [];
    let total = 0;
    sock.on('data', (d) => {
      chunks.push(d);
      total += d.length;
      if (total >= untilBytes) {
        sock.destroy();
        resolve({ chunks, closed: false });
      }
    });
    sock.on('end', () => sock.end());
    sock.on('close', () => resolve({ chunks, closed: true }));
    sock.on('error', reject);
    const head = ['GET / HTTP/1.1', 'Host: 127.0.0.1', 'Upgrade: WebSocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: hpRPO+TzQEafAJxwrhDFAQ==', 'Sec-WebSocket-Version: 13'];
    if (authorization !== undefined) head.push(`Authorization: ${authorization}`);
    sock.write(head.join('\r\n') + '\r\n\r\n');
  });
}

const basic = (user: string, pw: string): string => 'Basic ' + Buffer.from(`${user}:${pw}`).toString('base64');

test('bad credentials get a bare 401 status line and a closed connection', async () => {
  const before = events.length;
  const wrong = await rawUpgrade(basic('mpw', 'wrong-password'));
  assert.equal(Buffer.concat(wrong.chunks).toString('latin1'), 'HTTP/1.1 401 Unauthorized\r\n\r\n');
  assert.equal(wrong.closed, true);
  const unknown = await rawUpgrade(basic('nobody', 'sekrit'));
  assert.equal(Buffer.concat(unknown.chunks).toString('latin1'), 'HTTP/1.1 401 Unauthorized\r\n\r\n');
  const missing = await rawUpgrade(undefined);
  assert.equal(Buffer.concat(missing.chunks).toString('latin1'), 'HTTP/1.1 401 Unauthorized\r\n\r\n');
  const malformed = await rawUpgrade('Basic ' + Buffer.from('no-colon-here').toString('base64'));
  assert.equal(Buffer.concat(malformed.chunks).toString('latin1'), 'HTTP/1.1 400 Bad request\r\n\r\n');
  const failures = events.slice(before).filter((e) => e.type === 'authFailure');
  assert.deepEqual(
    failures.map((e) => e.type === 'authFailure' && [e.worker, e.reason]),
    [
      ['mpw', 'HTTP 401'],
      ['nobody', 'HTTP 401'],
      [null, 'HTTP 401'],
      [null, 'HTTP 400'],
    ],
  );
  await assert.rejects(ScriptedMsgpackClient.connect(master.msgpackPort, 'mpw', 'nope'), /HTTP 401/);
});

test('the master speaks first: print "attached" (seq 0) in the same TCP chunk as the 101', async () => {
  const res = await rawUpgrade(basic('other', 'pw2'), 1);
  const first = res.chunks[0];
  const headEnd = first.indexOf('\r\n\r\n');
  assert.ok(headEnd > 0);
  assert.match(first.subarray(0, headEnd).toString('latin1'), /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  const frame = first.subarray(headEnd + 4);
  assert.equal(frame[0], 0x82, 'FIN + binary opcode');
  assert.equal(frame[1] & 0x80, 0, 'server frames are not masked');
  const len = frame[1] & 0x7f;
  assert.deepEqual(decodeMessage(frame.subarray(2, 2 + len)), { op: 'print', message: 'attached', seq_number: 0 });
});

test('attach sequence: print, get_worker_info, set_worker_settings, listdir, stat/rmdir leftovers, mkdir, print per builder', async () => {
  const client = await ScriptedMsgpackClient.connect(master.msgpackPort, 'mpw', 'sekrit');
  const attached = master.waitForWorker('mpw');
  const info = workerInfo({ delete_leftover_dirs: 1 });
  const seen = await playAttach(client, {
    info,
    files: ['buildbot.tac', 'b1dir', 'oldbuilder', 'twistd.log'],
    stats: { oldbuilder: 0o040755 },
    builderCount: 2,
  });
  const worker = await attached;
  assert.deepEqual(worker.info, info);
  assert.deepEqual(
    seen.map((m) => [m.op, m.seq_number]),
    [
      ['print', 0],
      ['get_worker_info', 1],
      ['set_worker_settings', 2],
      ['start_command', 3],
      ['start_command', 4],
      ['start_command', 5],
      ['start_command', 6],
      ['start_command', 7],
      ['start_command', 8],
      ['print', 9],
      ['print', 10],
    ],
  );
  assert.deepEqual(seen[2].args, MASTER_WORKER_SETTINGS);
  const starts = seen.filter((m) => m.op === 'start_command');
  for (const s of starts) assert.equal('builder_name' in s, false, 'setup commands carry no builder_name');
  assert.deepEqual(
    starts.map((s) => [s.command_name, s.args]),
    [
      ['listdir', { path: WORKER_BASEDIR }],
      ['stat', { path: `${WORKER_BASEDIR}/buildbot.tac` }],
      ['stat', { path: `${WORKER_BASEDIR}/oldbuilder` }],
      ['stat', { path: `${WORKER_BASEDIR}/twistd.log` }],
      ['rmdir', { paths: [`${WORKER_BASEDIR}/oldbuilder`] }],
      ['mkdir', { paths: [`${WORKER_BASEDIR}/b2dir`, `${WORKER_BASEDIR}/info`] }],
    ],
  );
  const ids = starts.map((s) => Number(s.command_id));
  for (let i = 1; i < ids.length; i++) assert.equal(ids[i], ids[i - 1] + 1, 'master-wide decimal command ids');
  assert.deepEqual(
    seen.slice(-2).map((m) => m.message),
    ['attached', 'attached'],
  );
  await detach(client, worker);
});

test('attach fails (Close frame, no attach) when a setup command has no rc', async () => {
  const client = await ScriptedMsgpackClient.connect(master.msgpackPort, 'mpw', 'sekrit');
  const violation = master.waitForEvent((e) => e.type === 'violation' && e.message.startsWith('attach failed'));
  client.respond(await client.nextOp('print'));
  client.respond(await client.nextOp('get_worker_info'), workerInfo());
  client.respond(await client.nextOp('set_worker_settings'));
  const listdir = await client.nextOp('start_command');
  client.finishCommand(listdir, [['files', []]]);
  const v = await violation;
  assert.match(v.type === 'violation' ? v.message : '', /Worker could not send a list of builder directories\.\. 'rc' did not arrive\./);
  await client.closed;
  assert.equal(master.worker('mpw'), undefined);
});

test('command round trip: rewritten start_command, updates, complete, responses', async () => {
  const { client, worker } = await attach();
  const run = worker.startCommand('b1', 'shell', { workdir: 'build', command: ['make'], want_stdout: 1, want_stderr: true, logfiles: { custom: 'c.log' } });
  const ping = await client.nextOp('print');
  assert.equal(ping.message, 'ping', 'a build starts with print("ping")');
  client.respond(ping);
  const start = await client.nextOp('start_command');
  assert.deepEqual(start, {
    op: 'start_command',
    builder_name: 'b1',
    command_id: run.commandId,
    command_name: 'shell',
    args: { workdir: `${WORKER_BASEDIR}/b1dir/build`, command: ['make'], want_stdout: true, want_stderr: true, logfiles: { custom: 'c.log' } },
    seq_number: start.seq_number,
  });
  client.respond(start);
  const t = 1700000000.5;
  const u = client.request('update', {
    command_id: run.commandId,
    args: [
      ['header', ['make\n', [4], [t]]],
      ['stdout', ['héllo ✓\nline 2\n', [7, 14], [t, t]]],
      ['stderr', ['warn\n', [4], [t]]],
      ['log', ['custom', ['custom line\n', [11], [t]]]],
      ['stdout', ['more\n', [4], [t]]],
      ['rc', 2],
      ['elapsed', 0.25],
    ],
  });
  const c = client.request('complete', { command_id: run.commandId, args: null });
  assert.deepEqual(await client.responseTo(u), { op: 'response', seq_number: u, result: null });
  assert.deepEqual(await client.responseTo(c), { op: 'response', seq_number: c, result: null });
  const result = await run.done;
  assert.equal(result.status, 'FAILURE');
  assert.equal(result.rc, 2);
  assert.equal(result.elapsed, 0.25);
  assert.equal(result.logs.stdio, 'make\nhéllo ✓\nline 2\nwarn\nmore\n');
  assert.equal(result.logs.stdout, 'héllo ✓\nline 2\nmore\n');
  assert.equal(result.logs.stderr, 'warn\n');
  assert.equal(result.logs.header, 'make\n');
  assert.equal(result.logs.custom, 'custom line\n');
  assert.deepEqual(
    result.updates.map(([k]) => k),
    ['header', 'stdout', 'stderr', 'log', 'stdout', 'rc', 'elapsed'],
  );
  assert.deepEqual(result.violations, []);
  assert.equal(run.wireName, 'shell');

  // A second command on the same builder sends no new ping.
  const run2 = worker.startCommand('b1', 'mkdir', { dir: 'build/newdir' });
  const start2 = await client.nextOp('start_command');
  assert.deepEqual(start2.args, { paths: [`${WORKER_BASEDIR}/b1dir/build/newdir`] });
  assert.equal(Number(start2.command_id), Number(run.commandId) + 1);
  client.respond(start2);
  client.request('update', { command_id: run2.commandId, args: [['rc', 0]] });
  client.request('complete', { command_id: run2.commandId, args: null });
  assert.equal((await run2.done).status, 'SUCCESS');
  assert.equal(client.pendingMessages.filter((m) => m.op === 'print').length, 0);
  await detach(client, worker);
});

test('complete without rc is a FAILURE and a violation; a failure string is an EXCEPTION; a refused start is an EXCEPTION', async () => {
  const { client, worker } = await attach();
  const run = worker.startCommand('b2', 'shell', { workdir: 'build', command: 'true' });
  client.respond(await client.nextOp('print'));
  const start = await client.nextOp('start_command');
  client.respond(start);
  client.request('complete', { command_id: run.commandId, args: null });
  const result = await run.done;
  assert.equal(result.status, 'FAILURE');
  assert.equal(result.rc, null);
  assert.deepEqual(result.violations, ['complete without a preceding rc update']);
  assert.ok(worker.violations.some((v) => v.includes('complete without a preceding rc update')));

  const run2 = worker.startCommand('b2', 'upload_directory', { workdir: 'build', workersrc: 'nope' });
  client.respond(await client.nextOp('start_command'));
  client.request('update', { command_id: run2.commandId, args: [['elapsed', 0.001]] });
  client.request('complete', { command_id: run2.commandId, args: "[Failure instance: Traceback: <class 'FileNotFoundError'>: nope]" });
  const r2 = await run2.done;
  assert.equal(r2.status, 'EXCEPTION');
  assert.match(r2.failure ?? '', /FileNotFoundError/);

  const run3 = worker.startCommand('b2', 'frobnicate', {});
  client.respondError(await client.nextOp('start_command'), 'unknown command: frobnicate');
  const r3 = await run3.done;
  assert.equal(r3.status, 'EXCEPTION');
  assert.equal(r3.startError, 'unknown command: frobnicate');
  await detach(client, worker);
});

test('master error texts: unknown op, missing keys, unknown command_id, text without newline', async () => {
  const { client, worker } = await attach();
  const unknownOp = client.request('frobnicate', {});
  assert.deepEqual(await client.responseTo(unknownOp), {
    op: 'response',
    seq_number: unknownOp,
    result: 'Command frobnicate does not exist.',
    is_exception: true,
  });
  const noArgs = client.request('complete', { command_id: '12345' });
  assert.equal((await client.responseTo(noArgs)).result, `'message did not contain obligatory "args" key'`);
  const noId = client.request('update', { args: [] });
  assert.equal((await client.responseTo(noId)).result, `'message did not contain obligatory "command_id" key'`);
  const badId = client.request('update', { command_id: '12345', args: [['rc', 0]] });
  assert.deepEqual(await client.responseTo(badId), { op: 'response', seq_number: badId, result: `'unknown "command_id"'`, is_exception: true });
  const noLength = client.request('update_read_file', { command_id: '12345' });
  assert.equal((await client.responseTo(noLength)).result, `'message did not contain obligatory "length" key'`);
  const noTimes = client.request('update_upload_file_utime', { command_id: '1', access_time: 1 });
  assert.equal((await client.responseTo(noTimes)).result, `'message did not contain obligatory "modified_time" key'`);
  const writeUnknown = client.request('update_upload_file_write', { command_id: '12345', args: Buffer.from('x') });
  assert.equal((await client.responseTo(writeUnknown)).result, `'unknown "command_id"'`);

  // A message without seq_number is ignored: the next answer is for the following request.
  client.send({ op: 'update', command_id: '1', args: [] });
  const afterIgnored = client.request('frobnicate', {});
  await client.responseTo(afterIgnored);
  assert.equal(client.pendingMessages.filter((m) => m.seq_number === undefined).length, 0);

  // A partial line in msgpack output fails the command like the master's line assertion.
  const run = worker.startCommand('b1', 'shell', { workdir: 'build', command: 'x' });
  client.respond(await client.nextOp('print'));
  client.respond(await client.nextOp('start_command'));
  const upd = client.request('update', {
    command_id: run.commandId,
    args: [
      ['stdout', ['no newline', [], []]],
      ['rc', 0],
    ],
  });
  assert.equal((await client.responseTo(upd)).result, null, 'the update itself is answered with null');
  const r = await run.done;
  assert.equal(r.status, 'EXCEPTION');
  assert.match(r.violations[0], /does not end with a newline/);
  await detach(client, worker);
});

test('interrupt sends interrupt_command once; the run records it', async () => {
  const { client, worker } = await attach();
  const run = worker.startCommand('b1', 'shell', { workdir: 'build', command: ['sleep', '60'] });
  client.respond(await client.nextOp('print'));
  client.respond(await client.nextOp('start_command'));
  const interrupted = run.interrupt('test: stop');
  void run.interrupt('second time is a no-op');
  const msg = await client.nextOp('interrupt_command');
  assert.deepEqual(msg, { op: 'interrupt_command', builder_name: 'b1', command_id: run.commandId, why: 'test: stop', seq_number: msg.seq_number });
  client.request('update', { command_id: run.commandId, args: [['header', ['\ncommand interrupted, attempting to kill\n', [0, 40], [1, 1]]]] });
  client.respond(msg);
  await interrupted;
  client.request('update', { command_id: run.commandId, args: [['rc', -1]] });
  client.request('complete', { command_id: run.commandId, args: null });
  const result = await run.done;
  assert.equal(result.interrupted, true);
  assert.equal(result.rc, -1);
  assert.equal(client.pendingMessages.filter((m) => m.op === 'interrupt_command').length, 0);
  await detach(client, worker);
});

test('file upload: bin blocks collected, close, utime answered with the 3.7 TypeError by default', async () => {
  const { client, worker } = await attach();
  const chunks: Buffer[] = [];
  const run = worker.startCommand('b1', 'uploadFile', { workersrc: 'out.bin', keepstamp: true }, { upload: { collect: true, onData: (c) => chunks.push(c) } });
  client.respond(await client.nextOp('print'));
  const start = await client.nextOp('start_command');
  assert.equal(start.command_name, 'upload_file');
  assert.deepEqual(start.args, {
    workdir: 'build',
    maxsize: null,
    blocksize: 262144,
    keepstamp: true,
    workersrc: 'out.bin',
    path: `${WORKER_BASEDIR}/b1dir/build/out.bin`,
  });
  client.respond(start);
  const w1 = client.request('update_upload_file_write', { command_id: run.commandId, args: Buffer.from([0, 1, 2, 255]) });
  const w2 = client.request('update_upload_file_write', { command_id: run.commandId, args: Buffer.from('tail') });
  const cl = client.request('update_upload_file_close', { command_id: run.commandId });
  const ut = client.request('update_upload_file_utime', { command_id: run.commandId, access_time: 1.5, modified_time: 2.5 });
  for (const s of [w1, w2, cl]) assert.equal((await client.responseTo(s)).result, null);
  assert.deepEqual(await client.responseTo(ut), { op: 'response', seq_number: ut, result: UTIME_BUG_TEXT, is_exception: true });
  client.request('update', {
    command_id: run.commandId,
    args: [
      ['header', ['sending out.bin\n', [15], [1]]],
      ['rc', 0],
    ],
  });
  client.request('complete', { command_id: run.commandId, args: 'RemoteWorkerError: utime' });
  const result = await run.done;
  assert.deepEqual(result.upload?.data, Buffer.concat([Buffer.from([0, 1, 2, 255]), Buffer.from('tail')]));
  assert.equal(result.upload?.closed, true);
  assert.equal(result.upload?.utime, undefined);
  assert.equal(chunks.length, 2);
  // After complete the writer is forgotten.
  const late = client.request('update_upload_file_write', { command_id: run.commandId, args: Buffer.from('x') });
  assert.equal((await client.responseTo(late)).result, `'unknown "command_id"'`);

  const run2 = worker.startCommand('b1', 'uploadFile', { workersrc: 'f', keepstamp: true }, { upload: { collect: true }, faithfulUtimeBug: false });
  client.respond(await client.nextOp('start_command'));
  client.request('update_upload_file_close', { command_id: run2.commandId });
  const ut2 = client.request('update_upload_file_utime', { command_id: run2.commandId, access_time: 1.5, modified_time: 2.5 });
  assert.equal((await client.responseTo(ut2)).result, null);
  client.request('update', { command_id: run2.commandId, args: [['rc', 0]] });
  client.request('complete', { command_id: run2.commandId, args: null });
  assert.deepEqual((await run2.done).upload?.utime, [1.5, 2.5]);
  await detach(client, worker);
});

test('directory upload: tar blocks then unpack', async () => {
  const { client, worker } = await attach();
  const run = worker.startCommand('b2', 'uploadDirectory', { workersrc: 'updir', compress: 'gz' }, { upload: { collect: true } });
  client.respond(await client.nextOp('print'));
  const start = await client.nextOp('start_command');
  assert.equal(start.command_name, 'upload_directory');
  assert.equal((start.args as Record<string, unknown>).path, `${WORKER_BASEDIR}/b2dir/build/updir`);
  client.respond(start);
  client.request('update_upload_directory_write', { command_id: run.commandId, args: Buffer.alloc(1024, 7) });
  const up = client.request('update_upload_directory_unpack', { command_id: run.commandId });
  assert.equal((await client.responseTo(up)).result, null);
  client.request('update', { command_id: run.commandId, args: [['rc', 0]] });
  client.request('complete', { command_id: run.commandId, args: null });
  const result = await run.done;
  assert.deepEqual(result.upload?.data, Buffer.alloc(1024, 7));
  assert.equal(result.upload?.unpacked, true);
  await detach(client, worker);
});

test('download: the 3.7 master answers update_read_file with null; faithfulReadBug=false serves the data', async () => {
  const { client, worker } = await attach();
  const run = worker.startCommand('b1', 'downloadFile', { workerdest: '~/dl.txt', mode: 0o640 }, { download: { data: 'hello download' } });
  client.respond(await client.nextOp('print'));
  const start = await client.nextOp('start_command');
  assert.equal(start.command_name, 'download_file');
  assert.equal((start.args as Record<string, unknown>).path, '/home/tester/dl.txt');
  client.respond(start);
  const r1 = client.request('update_read_file', { command_id: run.commandId, length: 16384 });
  assert.deepEqual(await client.responseTo(r1), { op: 'response', seq_number: r1, result: null });
  client.request('update_read_file_close', { command_id: run.commandId });
  client.request('update', { command_id: run.commandId, args: [['rc', 0]] });
  client.request('complete', { command_id: run.commandId, args: null });
  const result = await run.done;
  assert.deepEqual(result.download, { reads: 1, bytesServed: 14, closed: true });

  const run2 = worker.startCommand('b1', 'downloadFile', { workerdest: 'x' }, { download: { data: Buffer.from('0123456789'), faithfulReadBug: false } });
  client.respond(await client.nextOp('start_command'));
  const a = client.request('update_read_file', { command_id: run2.commandId, length: 4 });
  const b = client.request('update_read_file', { command_id: run2.commandId, length: 100 });
  const c = client.request('update_read_file', { command_id: run2.commandId, length: 100 });
  assert.deepEqual((await client.responseTo(a)).result, Buffer.from('0123'));
  assert.deepEqual((await client.responseTo(b)).result, Buffer.from('456789'));
  assert.deepEqual((await client.responseTo(c)).result, Buffer.alloc(0));
  client.request('update_read_file_close', { command_id: run2.commandId });
  client.request('update', { command_id: run2.commandId, args: [['rc', 0]] });
  client.request('complete', { command_id: run2.commandId, args: null });
  assert.deepEqual((await run2.done).download, { reads: 3, bytesServed: 10, closed: true });
  await detach(client, worker);
});

test('keepalive: periodic on the injected clock, and on demand; print and shutdown ops', async () => {
  const clock = new ManualClock();
  const m2 = await startTestMaster({ workers: { kw: 'pw' }, builders: [{ name: 'b', builddir: 'b' }], pbPort: null, clock, keepaliveIntervalMs: 60_000 });
  try {
    const client = await ScriptedMsgpackClient.connect(m2.msgpackPort, 'kw', 'pw');
    const attached = m2.waitForWorker('kw');
    await playAttach(client, { files: ['b', 'info'] });
    const worker = await attached;
    const requests = () => client.pendingMessages.filter((m) => m.op !== 'response');
    assert.equal(requests().length, 0);
    clock.advance(59_999);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(requests().length, 0, 'no keepalive before the interval');
    clock.advance(1);
    const ka = await client.nextOp('keepalive');
    assert.deepEqual(Object.keys(ka).sort(), ['op', 'seq_number']);
    client.respond(ka);
    clock.advance(60_000);
    client.respond(await client.nextOp('keepalive'));

    const explicit = worker.keepalive();
    client.respond(await client.nextOp('keepalive'));
    await explicit;
    const printed = worker.print('hello there');
    const p = await client.nextOp('print');
    assert.equal(p.message, 'hello there');
    client.respond(p);
    await printed;

    const down = worker.shutdown();
    const sd = await client.nextOp('shutdown');
    assert.deepEqual(Object.keys(sd).sort(), ['op', 'seq_number']);
    client.respond(sd);
    await down;
    client.close();
    assert.equal(await worker.detached, 'connection lost');
  } finally {
    await m2.close();
  }
});

test('malformed frame: the master drops the connection, records a violation and keeps serving', async () => {
  const { client, worker } = await attach();
  const violation = master.waitForEvent((e) => e.type === 'violation' && e.message.startsWith('undecodable'));
  const detached = master.waitForEvent((e) => e.type === 'detach' && e.worker === 'mpw');
  client.sendRaw(Buffer.from([0xc1, 0x00]));
  await violation;
  await client.closed;
  await detached;
  assert.equal(worker.attached, false);
  // Still serving: the same worker attaches again.
  const again = await attach();
  assert.equal(again.worker.attached, true);

  // A response for a seq_number the master never used also drops the connection.
  again.client.send({ op: 'response', seq_number: 999, result: null });
  await again.client.closed;
  await again.worker.detached;
});

test('disconnect drops TCP; running commands end as RETRY and the detach event fires', async () => {
  const { client, worker } = await attach();
  const run = worker.startCommand('b1', 'shell', { workdir: 'build', command: 'sleep 9' });
  client.respond(await client.nextOp('print'));
  client.respond(await client.nextOp('start_command'));
  assert.deepEqual(worker.runningCommands(), [run]);
  const detachEvent = master.waitForEvent((e) => e.type === 'detach' && e.worker === 'mpw');
  worker.disconnect();
  await client.closed;
  const result = await run.done;
  assert.equal(result.status, 'RETRY');
  assert.equal(result.connectionLost, true);
  await detachEvent;
  assert.throws(() => worker.startCommand('b1', 'shell', {}), /not attached/);
});

test('a duplicate connection is refused with a Close frame while the old one answers', async () => {
  const { client, worker } = await attach('dup', 'pw3');
  const second = await ScriptedMsgpackClient.connect(master.msgpackPort, 'dup', 'pw3');
  const ping = await client.nextOp('print');
  assert.equal(ping.message, 'master got a duplicate connection');
  client.respond(ping);
  await second.closed;
  assert.equal(master.worker('dup'), worker);
  await detach(client, worker);
});

test('events() iterates master events', async () => {
  const it = master.events();
  const { client, worker } = await attach('other', 'pw2');
  const first = await it.next();
  assert.equal(first.value?.type, 'attach');
  await detach(client, worker);
  const second = await it.next();
  assert.equal(second.value?.type, 'detach');
  await it.return?.();
});
