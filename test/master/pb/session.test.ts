import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { AuthError } from '../../../src/errors.js';
import { startTestMaster } from '../../../src/master/test-master.js';
import type { LogChunk } from '../../../src/commands/update.js';
import { createPbSession } from '../../../src/session/pb/pb-session.js';
import { ManualClock } from '../../../src/util/clock.js';
import { PyFloat } from '../../../src/values.js';
import type { StartCommandRequest } from '../../../src/worker/handlers.js';
import type { SessionOptions } from '../../../src/worker/session.js';
import { fakeHandlers } from '../../worker/fake-handlers.js';
import { eventually } from '../../helpers/eventually.js';

/** The worker's own PB session (src/session/pb) against the test master, over real TCP. */

const chunk = (text: string): LogChunk => ({ text, newlines: [...text].flatMap((c, i) => (c === '\n' ? [i] : [])), times: [1700000000] });

const until = (cond: () => boolean, what: string): Promise<void> => eventually(cond, what);

test('createPbSession logs in, attaches and runs commands and transfers against the PB test master', async () => {
  const master = await startTestMaster({ workers: { pbworker: 'pb-secret' }, builders: [{ name: 'b1', builddir: 'b1dir' }], msgpackPort: null });
  const starts: StartCommandRequest[] = [];
  let wake: (() => void) | undefined;
  const { handlers, events } = fakeHandlers({
    basedir: '/srv/worker',
    info: { basedir: '/srv/worker', system: 'posix', version: '3.7.0', worker_commands: { shell: '3.1', uploadFile: '3.1', downloadFile: '3.1' } },
    onStart: (req) => {
      starts.push(req);
      wake?.();
    },
  });
  const nextStart = async (): Promise<StartCommandRequest> => {
    while (starts.length === 0) await new Promise<void>((r) => (wake = r));
    return starts.shift()!;
  };
  const opts: SessionOptions = {
    transport: { host: '127.0.0.1', port: master.pbPort },
    workername: 'pbworker',
    password: 'pb-secret',
    handlers,
    clock: new ManualClock(),
    log: pino({ level: 'silent' }),
    keepaliveSeconds: 0,
  };
  try {
    const attached = master.waitForWorker('pbworker');
    const session = await createPbSession(opts);
    const h = await attached;
    assert.equal(h.info.version, '3.7.0');
    assert.deepEqual(
      events.filter((e) => e[0] !== 'startCommand'),
      [
        ['print', 'attached'],
        ['setBuilderList', [['b1', 'b1dir']]],
        ['print', 'attached'],
      ],
    );
    assert.equal(h.liveReferences(), 1, 'the session released the challenger');

    // A shell command: the session resolves the workdir against the builder directory.
    const run = h.startCommand('b1', 'shell', { workdir: 'build', command: ['echo', 'hi'] });
    const req = await nextStart();
    assert.equal(req.commandId, run.commandId);
    assert.equal(req.args.workdir, '/srv/worker/b1dir/build');
    await req.channel.sendUpdates([
      { kind: 'output', stream: 'header', chunk: chunk('echo hi\n') },
      { kind: 'output', stream: 'stdout', chunk: chunk('hi\n') },
      { kind: 'logfile', name: 'custom', chunk: chunk('c\n') },
      { kind: 'status', key: 'rc', value: 0 },
      { kind: 'status', key: 'elapsed', value: new PyFloat(0.25) },
    ]);
    await req.channel.complete(null);
    const result = await run.done;
    assert.equal(result.status, 'SUCCESS');
    assert.equal(result.logs.stdout, 'hi\n');
    assert.equal(result.logs.custom, 'c\n');
    assert.equal(result.elapsed, 0.25);
    assert.deepEqual(result.violations, []);

    // Upload through the FileWriter, download through the FileReader.
    const up = h.startCommand('b1', 'uploadFile', { workersrc: 'out.bin', keepstamp: true }, { upload: { collect: true } });
    const upReq = await nextStart();
    await upReq.channel.writer!.write(Buffer.from([0, 1, 2, 255]));
    await upReq.channel.writer!.close();
    await upReq.channel.writer!.utime!(1795343306.5, 1795343306);
    await upReq.channel.sendUpdates([{ kind: 'status', key: 'rc', value: 0 }]);
    await upReq.channel.complete(null);
    const upResult = await up.done;
    assert.deepEqual([...upResult.upload!.data], [0, 1, 2, 255]);
    assert.deepEqual(upResult.upload!.utime, [1795343306.5, 1795343306]);

    const down = h.startCommand('b1', 'downloadFile', { workerdest: 'in.txt' }, { download: { data: 'from the master\n' } });
    const downReq = await nextStart();
    assert.equal(downReq.args.path, '/srv/worker/b1dir/build/in.txt', 'the default workdir "build" was sent');
    const block = await downReq.channel.reader!.read(16384);
    assert.equal(Buffer.from(block!).toString(), 'from the master\n');
    assert.equal((await downReq.channel.reader!.read(16384))!.length, 0);
    await downReq.channel.reader!.close();
    await downReq.channel.sendUpdates([{ kind: 'status', key: 'rc', value: 0 }]);
    await downReq.channel.complete(null);
    assert.deepEqual((await down.done).download, { reads: 2, bytesServed: 16, closed: true });

    await until(() => h.liveReferences() === 1, 'every command object released by the session');
    assert.deepEqual(h.violations, []);

    // Interrupt reaches the handlers; a graceful shutdown request makes the master call Bot.shutdown.
    const long = h.startCommand('b1', 'shell', { command: 'sleep 60' });
    await nextStart();
    await long.interrupt('stop it');
    await until(() => events.some((e) => e[0] === 'interrupt'), 'interrupt delivered');
    assert.deepEqual(
      events.find((e) => e[0] === 'interrupt'),
      ['interrupt', long.commandId, 'stop it'],
    );
    assert.equal(await session.requestShutdown(), true);
    assert.equal(h.shutdownRequested, true);
    h.disconnect();
    assert.ok((await session.closed) instanceof Error);
    assert.equal((await long.done).status, 'RETRY');
  } finally {
    await master.close();
  }
});

test('createPbSession with a wrong password is refused with AuthError', async () => {
  const master = await startTestMaster({ workers: { pbworker: 'pb-secret' }, msgpackPort: null });
  try {
    const { handlers } = fakeHandlers();
    await assert.rejects(
      createPbSession({
        transport: { host: '127.0.0.1', port: master.pbPort },
        workername: 'pbworker',
        password: 'nope',
        handlers,
        clock: new ManualClock(),
        log: pino({ level: 'silent' }),
        keepaliveSeconds: 0,
      }),
      AuthError,
    );
  } finally {
    await master.close();
  }
});
