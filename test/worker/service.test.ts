import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuthError, ConnectionError, ERR } from '../../src/errors.js';
import { ManualClock } from '../../src/util/clock.js';
import { WorkerBot } from '../../src/worker/bot.js';
import { DRAIN_SETTLE_MS, WorkerService, type ServiceEnd } from '../../src/worker/service.js';
import type { Session, SessionFactory, SessionOptions } from '../../src/worker/session.js';
import { FakeRunner, memoryLogger } from './fakes.js';

const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

class FakeSession implements Session {
  readonly closed: Promise<Error | undefined>;
  private resolveClosed!: (e: Error | undefined) => void;
  closeCalls = 0;
  shutdownRequests = 0;
  constructor(private readonly canShutdown = true) {
    this.closed = new Promise((r) => (this.resolveClosed = r));
  }
  async requestShutdown(): Promise<boolean> {
    this.shutdownRequests++;
    return this.canShutdown;
  }
  close(reason?: Error): void {
    this.closeCalls++;
    this.resolveClosed(reason);
  }
  /** The connection drops. */
  drop(): void {
    this.resolveClosed(new ConnectionError('connection reset'));
  }
}

/** A SessionFactory whose every call waits for the test to decide. */
class FakeFactory {
  calls: Array<{ opts: SessionOptions; signal?: AbortSignal; resolve: (s: Session) => void; reject: (e: Error) => void }> = [];
  readonly factory: SessionFactory = (opts, signal) =>
    new Promise<Session>((resolve, reject) => {
      this.calls.push({ opts, signal, resolve, reject });
      signal?.addEventListener('abort', () => reject(new ConnectionError('aborted', ERR.ABORTED)));
    });
  get last() {
    return this.calls[this.calls.length - 1]!;
  }
}

function setup(opts: { maxRetries?: number | null; maxDelaySeconds?: number; exitWhenIdleMs?: number } = {}) {
  const clock = new ManualClock();
  const runner = new FakeRunner();
  const { log, messages } = memoryLogger();
  const basedir = fs.mkdtempSync(path.join(os.tmpdir(), 'svc-test-'));
  const bot = new WorkerBot(basedir, runner, { log, commandVersions: {}, environ: {} });
  const factory = new FakeFactory();
  const service = new WorkerService({
    sessionFactory: factory.factory,
    transport: { host: 'bm', port: 9989 },
    workername: 'w',
    password: 'pw',
    keepaliveSeconds: 600,
    bot,
    runner,
    clock,
    log,
    random: () => 0,
    ...opts,
  });
  let ended: ServiceEnd | undefined;
  const done = service.run().then((e) => (ended = e));
  return {
    clock,
    runner,
    messages,
    bot,
    factory,
    service,
    done,
    ended: () => ended,
    /** The pending connection attempt fails with `err`. */
    refuse: async (err: Error = new ConnectionError('refused')) => {
      factory.last.reject(err);
      await settle();
    },
    /** The pending connection attempt logs in with `session`. */
    attach: async (session: Session) => {
      factory.last.resolve(session);
      await settle();
    },
    /** Time passes. */
    advance: async (ms: number) => {
      clock.advance(ms);
      await settle();
    },
  };
}

test('failed attempts back off with Twisted delays (1.5, 2.25, 3.375 s ...)', async () => {
  const t = setup();
  await settle();
  assert.equal(t.factory.calls.length, 1);
  assert.equal(t.factory.last.opts.workername, 'w');
  assert.equal(t.factory.last.opts.handlers, t.bot);
  for (const [i, delayMs] of [1500, 2250, 3375].entries()) {
    await t.refuse();
    assert.ok(t.messages().includes(`Scheduling retry ${i + 1} to connect in ${(delayMs / 1000).toFixed(2)} seconds; will retry in ${Math.round(delayMs / 1000)} seconds`), t.messages().join('\n'));
    await t.advance(delayMs - 1);
    assert.equal(t.factory.calls.length, i + 1, 'not before the delay');
    await t.advance(1);
    assert.equal(t.factory.calls.length, i + 2);
  }
  t.service.stop();
  await t.done;
  assert.equal(t.ended(), 'stopped');
});

test('a successful login resets the backoff; a lost connection retries as attempt 1', async () => {
  const t = setup();
  await settle();
  for (let i = 0; i < 3; i++) {
    await t.refuse();
    await t.advance(60_000);
  }
  const s = new FakeSession();
  await t.attach(s);
  assert.ok(t.service.connected);
  assert.ok(t.messages().includes('Connected to buildmaster; worker is ready'));
  s.drop();
  await settle();
  assert.ok(!t.service.connected);
  assert.ok(t.messages().some((m) => m.startsWith('Lost connection to the master: connection reset')));
  const calls = t.factory.calls.length;
  await t.advance(1500);
  assert.equal(t.factory.calls.length, calls + 1);
  t.service.stop();
  await t.done;
});

test('maxretries failures in a row end the loop with gave-up', async () => {
  const t = setup({ maxRetries: 3 });
  await settle();
  for (let i = 0; i < 3; i++) {
    await t.refuse();
    await t.advance(10_000);
  }
  await t.done;
  assert.equal(t.ended(), 'gave-up');
  assert.equal(t.factory.calls.length, 3);
  assert.ok(t.messages().includes('giving up: 3 connection attempt(s) in a row failed (maxretries = 3)'));
});

test('a refused login is logged clearly and retried', async () => {
  const t = setup();
  await settle();
  await t.refuse(new AuthError('login refused'));
  assert.ok(t.messages().some((m) => m.startsWith('unauthorized login; check worker name and password')));
  await t.advance(1500);
  assert.equal(t.factory.calls.length, 2);
  t.service.stop();
  await t.done;
});

test('maxdelay caps the wait', async () => {
  const t = setup({ maxDelaySeconds: 2 });
  await settle();
  for (let i = 0; i < 4; i++) {
    await t.refuse();
    await t.advance(2000);
  }
  assert.equal(t.factory.calls.length, 5);
  t.service.stop();
  await t.done;
});

test('stop while waiting to retry or while connecting ends at once', async () => {
  const t = setup();
  await settle();
  await t.refuse();
  t.service.stop();
  await t.done;
  assert.equal(t.ended(), 'stopped');

  const u = setup();
  await settle();
  u.service.stop();
  await u.done;
  assert.ok(u.factory.last.signal?.aborted, 'the pending connect is aborted');
});

test('stop while idle closes the session; with running commands it drains first', async () => {
  const t = setup();
  await settle();
  const s = new FakeSession();
  await t.attach(s);
  t.runner.runningCount = 2;
  t.service.stop();
  await settle();
  assert.equal(s.shutdownRequests, 1, 'the master is asked not to start new builds');
  assert.equal(s.closeCalls, 0, 'running commands are not killed');
  assert.equal(t.ended(), undefined);
  t.runner.finishAll();
  await settle();
  await t.advance(DRAIN_SETTLE_MS - 1);
  assert.equal(s.closeCalls, 0, 'the drain waits a moment: the next step of the build may start');
  await t.advance(1);
  assert.equal(s.closeCalls, 1);
  await t.done;
  assert.equal(t.ended(), 'stopped');
  assert.deepEqual(t.runner.interruptAlls, []);
});

test('a second stop interrupts running commands at once', async () => {
  const t = setup();
  await settle();
  const s = new FakeSession();
  await t.attach(s);
  t.runner.runningCount = 1;
  t.service.stop();
  await settle();
  t.service.stop();
  await settle();
  assert.deepEqual(t.runner.interruptAlls, ['worker stopping']);
  assert.equal(s.closeCalls, 1);
  t.runner.finishAll();
  await t.done;
  assert.equal(t.ended(), 'stopped');
});

test("the master's shutdown closes the session after 0.2 s and ends the loop", async () => {
  const t = setup();
  await settle();
  const s = new FakeSession();
  await t.attach(s);
  t.bot.shutdown();
  await t.advance(199);
  assert.equal(s.closeCalls, 0);
  t.clock.advance(1);
  await t.done;
  assert.equal(t.ended(), 'master-shutdown');
  assert.equal(t.factory.calls.length, 1, 'no reconnect');
});

test('gracefulShutdown asks the master; without a connection it stops now; msgpack drains locally', async () => {
  const t = setup();
  await settle();
  const s = new FakeSession();
  await t.attach(s);
  await t.service.gracefulShutdown();
  assert.equal(s.shutdownRequests, 1);
  assert.ok(t.messages().includes('Telling the master we want to shutdown after any running builds are finished'));
  assert.equal(s.closeCalls, 0, 'the master decides when');
  t.bot.shutdown();
  t.clock.advance(200);
  await t.done;

  const u = setup();
  await settle();
  await u.service.gracefulShutdown();
  await u.done;
  assert.ok(u.messages().includes('No active connection, shutting down NOW'));

  const m = setup();
  await settle();
  const ms = new FakeSession(false);
  m.factory.last.resolve(ms);
  await settle();
  m.runner.runningCount = 1;
  await m.service.gracefulShutdown();
  await settle();
  assert.equal(ms.closeCalls, 0);
  m.runner.finishAll();
  await settle();
  m.clock.advance(DRAIN_SETTLE_MS);
  await m.done;
  assert.equal(ms.closeCalls, 1);
});

test("a command that starts during the drain's settle time is waited for too", async () => {
  const t = setup();
  await settle();
  const s = new FakeSession();
  await t.attach(s);
  t.runner.runningCount = 1;
  t.service.stop();
  assert.ok(t.service.draining);
  t.runner.finishAll();
  await settle();
  t.clock.advance(1000);
  t.runner.runningCount = 1; // the build's next step
  await t.advance(DRAIN_SETTLE_MS);
  assert.equal(s.closeCalls, 0);
  assert.ok(t.messages().includes('still draining: 1 command(s) started meanwhile'));
  t.runner.finishAll();
  await settle();
  t.clock.advance(DRAIN_SETTLE_MS);
  await t.done;
  assert.equal(s.closeCalls, 1);
  assert.deepEqual(t.runner.interruptAlls, []);
});

test('exit when idle: counted from the first login and from the end of each command', async () => {
  const t = setup({ exitWhenIdleMs: 5000 });
  await settle();
  await t.advance(60_000);
  assert.equal(t.ended(), undefined, 'not before the first login');
  const s = new FakeSession();
  await t.attach(s);
  t.clock.advance(3000);
  t.runner.runningCount = 1;
  await t.advance(30_000);
  assert.equal(s.closeCalls, 0, 'a long command is not idle time');
  t.runner.finishAll();
  await t.advance(4000);
  assert.equal(s.closeCalls, 0);
  t.clock.advance(1000);
  await t.done;
  assert.equal(s.closeCalls, 1);
  assert.equal(t.ended(), 'idle');
  assert.ok(t.messages().includes('no command ran for 5 seconds; stopping (exit when idle)'));
});
