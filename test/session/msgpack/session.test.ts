import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { AuthError, CommandError, ConnectionError, ERR } from '../../../src/errors.js';
import { MASTER_WORKER_SETTINGS, UTIME_BUG_TEXT } from '../../../src/master/msgpack/connection.js';
import { startTestMaster, type TestMaster } from '../../../src/master/test-master.js';
import type { WorkerHandle } from '../../../src/master/worker-handle.js';
import { RemoteCallError } from '../../../src/engine/msgpack/peer.js';
import { createMsgpackSession } from '../../../src/session/msgpack/session.js';
import { systemClock } from '../../../src/util/clock.js';
import { float } from '../../../src/values.js';
import type { Session, SessionOptions } from '../../../src/worker/session.js';
import { FakeHandlers, lines, out, status } from '../../worker/fake-handlers.js';
import { eventually } from '../../helpers/eventually.js';

const BUILDERS = [
  { name: 'b1', builddir: 'b1dir' },
  { name: 'b2', builddir: 'b2dir' },
];
const BASEDIR = '/srv/worker';

let master: TestMaster;

before(async () => {
  master = await startTestMaster({ workers: { w: 'sekrit', w2: 'pw2' }, builders: BUILDERS, pbPort: null });
});

after(async () => {
  await master.close();
});

function memoryLog(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines };
}

function options(handlers: FakeHandlers, overrides: Partial<SessionOptions> = {}): SessionOptions {
  return {
    transport: { host: '127.0.0.1', port: master.msgpackPort, connectTimeoutMs: 5000 },
    workername: 'w',
    password: 'sekrit',
    handlers,
    clock: systemClock,
    log: memoryLog().log,
    keepaliveSeconds: 0,
    ...overrides,
  };
}

/** Connect a session and wait until the master has attached it. */
async function attach(handlers = new FakeHandlers(BASEDIR), overrides: Partial<SessionOptions> = {}): Promise<{ session: Session; worker: WorkerHandle; handlers: FakeHandlers }> {
  const name = overrides.workername ?? 'w';
  const attached = master.waitForWorker(name);
  const session = await createMsgpackSession(options(handlers, overrides));
  const worker = await attached;
  return { session, worker, handlers };
}

async function detach(session: Session, worker: WorkerHandle): Promise<void> {
  session.close();
  await worker.detached;
}

test('attach: the master gets the worker info, sets the output settings, and runs listdir/mkdir through the handlers', async () => {
  const { session, worker, handlers } = await attach();
  assert.deepEqual(worker.info, await handlers.getWorkerInfo());
  assert.deepEqual(handlers.settings, {
    newlineRe: MASTER_WORKER_SETTINGS.newline_re,
    maxLineLength: MASTER_WORKER_SETTINGS.max_line_length,
    bufferSize: MASTER_WORKER_SETTINGS.buffer_size,
    bufferTimeout: MASTER_WORKER_SETTINGS.buffer_timeout,
  });
  assert.deepEqual(
    handlers.started.map((r) => [r.commandName, r.args, r.builderName]),
    [
      ['listdir', { path: BASEDIR }, undefined],
      ['mkdir', { paths: [`${BASEDIR}/b1dir`, `${BASEDIR}/b2dir`, `${BASEDIR}/info`] }, undefined],
    ],
  );
  assert.deepEqual(handlers.prints, ['attached', 'attached', 'attached']);
  assert.deepEqual(worker.violations, []);
  await detach(session, worker);
  assert.equal(handlers.connectionLostCalls, 1);
});

test('a shell command: absolute workdir, output/logfile/status updates in the msgpack format, complete', async () => {
  const { session, worker, handlers } = await attach();
  handlers.commands.set('shell', async (req) => {
    await req.channel.sendUpdates([out('header', 'make\n'), out('stdout', 'héllo ✓ 😀\nline 2\n'), out('stderr', 'warn\n')]);
    await req.channel.sendUpdates([{ kind: 'logfile', name: 'custom', chunk: lines('custom line\n') }, status('rc', 0), status('elapsed', float(0.25))]);
    await req.channel.complete(null);
  });
  const run = worker.startCommand('b1', 'shell', { workdir: 'build', command: ['make'], want_stdout: 1, logfiles: { custom: 'c.log' } });
  const result = await run.done;
  assert.equal(result.status, 'SUCCESS');
  assert.equal(result.logs.stdio, 'make\nhéllo ✓ 😀\nline 2\nwarn\n');
  assert.equal(result.logs.custom, 'custom line\n');
  assert.equal(result.elapsed, 0.25);
  assert.deepEqual(result.updates[1], ['stdout', ['héllo ✓ 😀\nline 2\n', [9, 16], [1_700_000_000.25, 1_700_000_000.25]]]);
  assert.deepEqual(result.updates[3], ['log', ['custom', ['custom line\n', [11], [1_700_000_000.25]]]]);
  assert.deepEqual(result.violations, []);
  const req = handlers.started.at(-1)!;
  assert.equal(req.commandId, run.commandId);
  assert.equal(req.builderName, 'b1');
  assert.deepEqual(req.args, { workdir: `${BASEDIR}/b1dir/build`, command: ['make'], want_stdout: true, logfiles: { custom: 'c.log' } });
  await detach(session, worker);
});

test('failures: a command that raised completes with a failure text; an unknown command is refused at start', async () => {
  const { session, worker, handlers } = await attach();
  handlers.commands.set('upload_directory', async (req) => {
    await req.channel.sendUpdates([status('elapsed', float(0.0005))]);
    await req.channel.complete({ type: 'builtins.FileNotFoundError', value: "[Errno 2] No such file or directory: '/x'", traceback: 'transfer.py:10:start\n' });
  });
  const run = worker.startCommand('b2', 'uploadDirectory', { workersrc: 'does-not-exist' });
  const r = await run.done;
  assert.equal(r.status, 'EXCEPTION');
  assert.equal(r.failure, "[Failure instance: Traceback: <class 'FileNotFoundError'>: [Errno 2] No such file or directory: '/x'\ntransfer.py:10:start\n]");

  const refused = await worker.startCommand('b2', 'frobnicate', {}).done;
  assert.equal(refused.status, 'EXCEPTION');
  assert.match(refused.startError ?? '', /unrecognized WorkerCommand 'frobnicate'/);
  assert.deepEqual(handlers.errors, []);
  await detach(session, worker);
});

test('file upload through the channel writer: bin blocks, close, and the 3.7 utime error reaches the command', async () => {
  const { session, worker, handlers } = await attach();
  const data = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80, 10]);
  let utimeError: unknown;
  handlers.commands.set('upload_file', async (req) => {
    const w = req.channel.writer!;
    assert.equal(req.channel.reader, undefined);
    await w.write(data.subarray(0, 4));
    await w.write(data.subarray(4));
    await w.close();
    try {
      await w.utime(1_700_000_000.5, 1_700_000_001.5);
    } catch (err) {
      utimeError = err;
    }
    await req.channel.sendUpdates([out('header', `sending ${String(req.args.path)}\n`), status('rc', 0)]);
    await req.channel.complete(null);
  });
  const run = worker.startCommand('b1', 'uploadFile', { workdir: 'build', workersrc: 'out.bin', keepstamp: true }, { upload: { collect: true } });
  const r = await run.done;
  assert.equal(r.status, 'SUCCESS');
  assert.deepEqual(r.upload?.data, data);
  assert.equal(r.upload?.writes, 2);
  assert.equal(r.upload?.closed, true);
  assert.ok(utimeError instanceof RemoteCallError);
  assert.equal(utimeError.message, UTIME_BUG_TEXT);
  assert.equal(handlers.started.at(-1)!.args.path, `${BASEDIR}/b1dir/build/out.bin`);

  // A master with the upstream fix records the times.
  const run2 = worker.startCommand('b1', 'uploadFile', { workdir: 'build', workersrc: 'f', keepstamp: true }, { faithfulUtimeBug: false });
  handlers.commands.set('upload_file', async (req) => {
    await req.channel.writer!.close();
    await req.channel.writer!.utime(1.5, 2.5);
    await req.channel.sendUpdates([status('rc', 0)]);
    await req.channel.complete(null);
  });
  assert.deepEqual((await run2.done).upload?.utime, [1.5, 2.5]);
  await detach(session, worker);
});

test('directory upload through the channel writer: tar blocks then unpack; close needs no op', async () => {
  const { session, worker, handlers } = await attach();
  handlers.commands.set('upload_directory', async (req) => {
    const w = req.channel.writer!;
    await w.write(Buffer.alloc(10_307, 7));
    await w.write(Buffer.alloc(5, 1));
    await w.close();
    await assert.rejects(w.utime(1, 2), CommandError);
    await w.unpack();
    await req.channel.sendUpdates([status('rc', 0)]);
    await req.channel.complete(null);
  });
  const r = await worker.startCommand('b2', 'uploadDirectory', { workdir: 'build', workersrc: 'updir', compress: null }, { upload: { collect: true } }).done;
  assert.equal(r.status, 'SUCCESS');
  assert.deepEqual(r.upload?.data, Buffer.concat([Buffer.alloc(10_307, 7), Buffer.alloc(5, 1)]));
  assert.equal(r.upload?.unpacked, true);
  assert.deepEqual(handlers.errors, []);
  await detach(session, worker);
});

test('download through the channel reader: null from a 3.7 master is end of file, logged once; real data is read in blocks', async () => {
  const mem = memoryLog();
  const { session, worker, handlers } = await attach(new FakeHandlers(BASEDIR), { log: mem.log });
  const received: Buffer[] = [];
  handlers.commands.set('download_file', async (req) => {
    const r = req.channel.reader!;
    assert.equal(req.channel.writer, undefined);
    for (;;) {
      const block = await r.read(4);
      if (block === null || block.length === 0) break;
      received.push(Buffer.from(block));
    }
    await r.close();
    await req.channel.sendUpdates([status('rc', 0)]);
    await req.channel.complete(null);
  });
  const bugged = await worker.startCommand('b1', 'downloadFile', { workdir: 'build', workerdest: 'dl.txt' }, { download: { data: 'hello download' } }).done;
  assert.equal(bugged.status, 'SUCCESS');
  assert.deepEqual(bugged.download, { reads: 1, bytesServed: 4, closed: true });
  assert.deepEqual(received, []);
  const again = await worker.startCommand('b1', 'downloadFile', { workdir: 'build', workerdest: 'dl2.txt' }, { download: { data: 'x' } }).done;
  assert.equal(again.status, 'SUCCESS');
  const notes = mem.lines.filter((l) => String(l.msg).includes('never send download data'));
  assert.equal(notes.length, 1, 'the master bug is logged once per connection');

  const fixed = await worker.startCommand('b1', 'downloadFile', { workdir: 'build', workerdest: 'dl3.txt' }, { download: { data: 'hello download', faithfulReadBug: false } }).done;
  assert.equal(fixed.status, 'SUCCESS');
  assert.equal(Buffer.concat(received).toString(), 'hello download');
  assert.deepEqual(fixed.download, { reads: 5, bytesServed: 14, closed: true });
  await detach(session, worker);
});

test('interrupt_command reaches the handlers with id and reason; the command then reports rc -1', async () => {
  const { session, worker, handlers } = await attach();
  handlers.commands.set('shell', async (req, h) => {
    const why = await h.interrupted(req.commandId);
    await req.channel.sendUpdates([out('header', `\ncommand interrupted (${why})\n`), status('rc', -1)]);
    await req.channel.complete(null);
  });
  const run = worker.startCommand('b1', 'shell', { workdir: 'build', command: ['sleep', '60'] });
  await eventually(() => handlers.started.some((r) => r.commandId === run.commandId), 'the command to start');
  await run.interrupt('test: stop');
  const r = await run.done;
  assert.deepEqual(handlers.interrupts, [[run.commandId, 'test: stop']]);
  assert.equal(r.rc, -1);
  assert.equal(r.interrupted, true);
  assert.equal(r.logs.header, '\ncommand interrupted (test: stop)\n');
  await detach(session, worker);
});

test('print, keepalive and shutdown ops are answered; shutdown reaches the handlers after the answer', async () => {
  const { session, worker, handlers } = await attach();
  await worker.print('hello from the master');
  assert.equal(handlers.prints.at(-1), 'hello from the master');
  await worker.keepalive();
  assert.equal(handlers.shutdownCalls, 0);
  await worker.shutdown();
  await new Promise((r) => setImmediate(r));
  assert.equal(handlers.shutdownCalls, 1);
  assert.equal(await session.requestShutdown(), false, 'msgpack has no worker-initiated shutdown');
  await detach(session, worker);
});

test('a wrong password is an AuthError with a clear message', async () => {
  const handlers = new FakeHandlers(BASEDIR);
  await assert.rejects(createMsgpackSession(options(handlers, { password: 'wrong' })), (err: unknown) => {
    assert.ok(err instanceof AuthError);
    assert.equal(err.code, ERR.AUTH);
    assert.match(err.message, /HTTP 401/);
    assert.match(err.message, /"w"/);
    return true;
  });
  await assert.rejects(createMsgpackSession(options(handlers, { workername: 'nobody' })), AuthError);
  await assert.rejects(createMsgpackSession(options(handlers, { workername: 'a:b' })), AuthError);
  assert.equal(handlers.connectionLostCalls, 0);
});

test('the master dropping the connection: closed resolves with a ConnectionError, running commands hear connectionLost, their requests fail', async () => {
  const { session, worker, handlers } = await attach();
  let sendError: unknown;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  handlers.commands.set('shell', async (req) => {
    await gate;
    try {
      await req.channel.sendUpdates([status('rc', 0)]);
    } catch (err) {
      sendError = err;
    }
  });
  worker.startCommand('b1', 'shell', { workdir: 'build', command: 'true' });
  await eventually(() => handlers.started.length >= 3, 'three commands to start');
  worker.disconnect();
  const reason = await session.closed;
  assert.ok(reason instanceof ConnectionError);
  assert.equal(handlers.connectionLostCalls, 1);
  release();
  await handlers.idle();
  assert.ok(sendError instanceof ConnectionError, 'requests after the loss reject');
  session.close();
  assert.equal(handlers.connectionLostCalls, 1, 'connectionLost is reported once');
});

test('closing the session: closed resolves with undefined and the master sees the worker go', async () => {
  const { session, worker, handlers } = await attach();
  session.close();
  assert.equal(await session.closed, undefined);
  assert.match(await worker.detached, /./);
  assert.equal(handlers.connectionLostCalls, 1);
});

test('an aborted signal ends the session', async () => {
  const ac = new AbortController();
  const attached = master.waitForWorker('w2');
  const handlers = new FakeHandlers(BASEDIR);
  const session = await createMsgpackSession(options(handlers, { workername: 'w2', password: 'pw2' }), ac.signal);
  const worker = await attached;
  ac.abort();
  const reason = await session.closed;
  assert.ok(reason instanceof ConnectionError);
  assert.equal(reason.code, ERR.ABORTED);
  await worker.detached;
});
