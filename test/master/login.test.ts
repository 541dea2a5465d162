import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { RemoteCallError } from '../../src/engine/pb/broker.js';
import { AuthError } from '../../src/errors.js';
import { passwordMatches } from '../../src/master/credentials.js';
import type { MasterEvent } from '../../src/master/events.js';
import { startTestMaster } from '../../src/master/test-master.js';
import { TRACEBACK_UNAVAILABLE } from '../../src/protocol/python-failure.js';
import { ManualClock } from '../../src/util/clock.js';
import { eventually } from '../helpers/eventually.js';
import { PbTestWorker, RawPbClient } from './pb/scripted-client.js';

/** What a peer that has not logged in can learn or hold on to in the test master. */

test('msgpack passwords are compared in constant time: equal, different, other length, unknown worker', () => {
  assert.equal(passwordMatches('sekrit', 'sekrit'), true);
  assert.equal(passwordMatches('sekrit', 'sekriT'), false);
  assert.equal(passwordMatches('sekrit', 'sekrit-and-more'), false);
  assert.equal(passwordMatches('sekrit', ''), false);
  assert.equal(passwordMatches(undefined, ''), false, 'an unknown worker never matches, not even an empty password');
  assert.equal(passwordMatches('pässwort', 'pässwort'), true);
});

test('PB: no traceback before login; a logged-in worker gets the master tracebacks', async () => {
  const master = await startTestMaster({ workers: { w: 'pw' }, msgpackPort: null });
  try {
    const refused = await PbTestWorker.login(master.pbPort, 'w', 'wrong').then(
      () => assert.fail('the login should be refused'),
      (err: unknown) => err,
    );
    assert.ok(refused instanceof AuthError, String(refused));
    const failure = refused.cause;
    assert.ok(failure instanceof RemoteCallError, String(failure));
    assert.equal(failure.failure.type, 'twisted.cred.error.UnauthorizedLogin');
    assert.equal(failure.failure.traceback, TRACEBACK_UNAVAILABLE, 'a stranger learns nothing of the master internals');

    const attached = master.waitForWorker('w');
    const w = await PbTestWorker.login(master.pbPort, 'w', 'pw');
    const h = await attached;
    const run = h.startCommand('builder', 'uploadFile', { workersrc: 'f' }, { upload: { collect: true } });
    const s = await w.starts.next();
    await s.writer!.callRemote('close');
    const late = await s.writer!.callRemote('write', [Buffer.from('late')]).then(
      () => assert.fail('a write after close should fail'),
      (err: unknown) => err,
    );
    assert.ok(late instanceof RemoteCallError);
    assert.equal(late.failure.type, 'builtins.ValueError');
    assert.match(late.failure.traceback, /^Traceback \(most recent call last\):/, 'after login the master shares tracebacks');
    w.close();
    assert.equal((await run.done).status, 'RETRY');
  } finally {
    await master.close();
  }
});

test('PB: a connection that does not log in within the login deadline is closed; a logged-in one stays', async () => {
  const clock = new ManualClock();
  const events: MasterEvent[] = [];
  const master = await startTestMaster({ workers: { w: 'pw' }, msgpackPort: null, clock, loginTimeoutMs: 30_000 });
  master.on('event', (e: MasterEvent) => events.push(e));
  try {
    const idle = await RawPbClient.connect(master.pbPort);
    await idle.waitBytes(12); // the dialect offer: the master has accepted the connection
    const attached = master.waitForWorker('w');
    const w = await PbTestWorker.login(master.pbPort, 'w', 'pw');
    const h = await attached;

    clock.advance(30_000);
    await idle.closed;
    assert.ok(
      events.some((e) => e.type === 'violation' && e.worker === null && /no login within 30 s/.test(e.message)),
      JSON.stringify(events.map((e) => e.type)),
    );
    await h.print('still here');
    assert.equal(h.attached, true, 'the worker that logged in in time is not dropped');
    w.close();
    await h.detached;
  } finally {
    await master.close();
  }
});

test('msgpack: a connection that sends no upgrade request within the login deadline is closed', async () => {
  const clock = new ManualClock();
  const master = await startTestMaster({ workers: { w: 'pw' }, pbPort: null, clock, loginTimeoutMs: 30_000 });
  try {
    const before = clock.pending;
    const socket = net.connect(master.msgpackPort, '127.0.0.1');
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n'); // a request that never ends
    await eventually(() => clock.pending > before, 'the master to accept the connection');
    clock.advance(30_000);
    await closed;
  } finally {
    await master.close();
  }
});
