import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startTestMaster, type TestMaster } from '../../src/master/test-master.js';
import { cli, cliAsync, cliRun, tempdir, waitFor } from './cli-helpers.js';

type Proto = 'pb' | 'msgpack';

async function withWorker(protocol: Proto, fn: (m: TestMaster, dir: string, run: ReturnType<typeof cliAsync>) => Promise<void>, startArgs: string[] = []) {
  const master = await startTestMaster({ workers: { w1: 'drain-secret' } });
  const dir = path.join(tempdir(), 'w');
  const port = protocol === 'pb' ? master.pbPort : master.msgpackPort;
  const protoArgs = protocol === 'pb' ? [] : ['--protocol', 'msgpack_experimental_v7'];
  assert.equal(cli(['create-worker', '-q', ...protoArgs, dir, `127.0.0.1:${port}`, 'w1', 'drain-secret']).code, 0);
  const attached = master.waitForWorker('w1', { timeoutMs: 20_000 });
  const run = cliAsync(['start', '--nodaemon', ...startArgs, dir]);
  try {
    await attached;
    await fn(master, dir, run);
  } finally {
    run.child.kill('SIGKILL');
    await master.close();
  }
}

for (const protocol of ['pb', 'msgpack'] as const) {
  test(`stop --graceful (${protocol}): the running build finishes, then the worker exits; stop prints the drain`, async () => {
    await withWorker(protocol, async (master, dir, run) => {
      const handle = master.worker('w1')!;
      // The build ends only when the test says so: after the worker has taken the stop request.
      const release = path.join(tempdir(), 'release');
      const script = `while [ ! -e '${release}' ]; do sleep 0.05; done; echo build-finished`;
      const build = handle.startCommand('builder', 'shell', { command: ['sh', '-c', script], workdir: 'build' });
      await waitFor(() => handle.runningCommands().length === 1);
      const stop = cliRun(['stop', '--graceful', '--wait', '60', dir]);
      const log = path.join(dir, 'twistd.log');
      await waitFor(() => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('stopping once 1 running command(s) finish'), 60_000);
      fs.writeFileSync(release, '');
      const r = await build.done;
      assert.equal(r.status, 'SUCCESS', JSON.stringify(r));
      assert.match(r.logs.stdout, /build-finished/);
      assert.equal(r.interrupted, false);
      const s = await stop;
      assert.equal(s.code, 0, s.stdout);
      const lines = s.stdout.trimEnd().split('\n');
      assert.match(lines[0]!, /^waiting up to 60 seconds for worker process \d+ to finish its running commands \(run 'stop' without --graceful to interrupt them\)$/);
      assert.ok(s.stdout.includes('Received SIGTERM, shutting down.'), s.stdout);
      assert.ok(s.stdout.includes('stopping once 1 running command(s) finish; signal again to stop now'), s.stdout);
      assert.match(lines[lines.length - 1]!, /^worker process \d+ is dead$/);
      assert.equal(await run.exited, 0);
      if (protocol === 'pb') assert.equal(handle.shutdownRequested, true, 'PB: the master was asked to shut the worker down');
      assert.ok(!s.stdout.includes('drain-secret'));
      assert.ok(!fs.existsSync(path.join(dir, 'twistd.pid')));
    });
  });
}

test('plain stop interrupts a running build (like the Python worker) and is quick', async () => {
  await withWorker('pb', async (master, dir, run) => {
    const handle = master.worker('w1')!;
    const build = handle.startCommand('builder', 'shell', { command: ['sh', '-c', 'sleep 30; echo never'], workdir: 'build' });
    await waitFor(() => handle.runningCommands().length === 1);
    await new Promise((r) => setTimeout(r, 300));
    const s = await cliRun(['stop', dir]);
    assert.equal(s.code, 0, s.stdout);
    assert.match(s.stdout, /^worker process \d+ is dead\n$/);
    const r = await build.done;
    assert.notEqual(r.status, 'SUCCESS');
    assert.ok(!r.logs.stdout.includes('never'));
    assert.equal(await run.exited, 0);
    assert.match(fs.readFileSync(path.join(dir, 'twistd.log'), 'utf8'), /Received SIGTERM again, stopping now\./);
  });
});

test('stop --graceful --wait: when the drain outlasts the wait, running commands are interrupted', async () => {
  await withWorker('pb', async (master, dir, run) => {
    const handle = master.worker('w1')!;
    const build = handle.startCommand('builder', 'shell', { command: ['sh', '-c', 'sleep 30; echo never'], workdir: 'build' });
    await waitFor(() => handle.runningCommands().length === 1);
    const s = await cliRun(['stop', '--graceful', '--wait', '1', dir]);
    assert.equal(s.code, 0, s.stdout);
    assert.match(s.stdout, /worker process \d+ is still draining after 1 seconds; interrupting its running commands\n/);
    assert.match(s.stdout, /worker process \d+ is dead\n$/);
    assert.notEqual((await build.done).status, 'SUCCESS');
    assert.equal(await run.exited, 0);
  });
});

test('stop --wait must be a number of seconds', () => {
  const r = cli(['stop', '--wait', 'soon', tempdir()]);
  assert.equal(r.code, 1);
  assert.ok(r.stdout.includes("--wait must be a number of seconds, not 'soon'"), r.stdout);
});

test('start --exit-when-idle: the worker exits 0 by itself after the build (also from WORKER_EXIT_WHEN_IDLE)', async () => {
  await withWorker(
    'msgpack',
    async (master, dir, run) => {
      const handle = master.worker('w1')!;
      const r = await handle.startCommand('builder', 'shell', { command: ['sh', '-c', 'echo step1'], workdir: 'build' }).done;
      assert.equal(r.status, 'SUCCESS');
      assert.equal(await run.exited, 0);
      const log = fs.readFileSync(path.join(dir, 'twistd.log'), 'utf8');
      assert.match(log, /exit when idle: the worker stops once no command has run for 1 seconds/);
      assert.match(log, /no command ran for 1 seconds; stopping \(exit when idle\)/);
    },
    ['--exit-when-idle', '1'],
  );
  const bad = cli(['start', '--nodaemon', '--exit-when-idle', '-3', tempdir()], { env: { ...process.env, BUILDMASTER: '127.0.0.1', WORKERPASS: 'x' } });
  assert.equal(bad.code, 1);
  assert.ok(bad.stdout.includes('cannot start the worker: --exit-when-idle must be a number of seconds'), bad.stdout);
  const badEnv = cli(['start', '--nodaemon', tempdir()], { env: { ...process.env, BUILDMASTER: '127.0.0.1', WORKERPASS: 'x', WORKER_EXIT_WHEN_IDLE: 'soon' } });
  assert.equal(badEnv.code, 1);
  assert.ok(badEnv.stdout.includes('WORKER_EXIT_WHEN_IDLE must be a number of seconds'), badEnv.stdout);
});

test('restart --graceful: the running build finishes, then a daemon worker takes over', async () => {
  await withWorker('pb', async (master, dir, run) => {
    const handle = master.worker('w1')!;
    const build = handle.startCommand('builder', 'shell', { command: ['sh', '-c', 'sleep 1.5; echo build-finished'], workdir: 'build' });
    await waitFor(() => handle.runningCommands().length === 1);
    const reattached = master.waitForEvent((e) => e.type === 'attach' && e.handle !== handle, { timeoutMs: 30_000 });
    try {
      const re = await cliRun(['restart', '--graceful', '--wait', '60', dir]);
      assert.equal(re.code, 0, re.stdout);
      assert.equal((await build.done).status, 'SUCCESS');
      assert.equal(await run.exited, 0);
      assert.match(re.stdout, /worker process \d+ is dead\nnow restarting worker process\.\.\nFollowing twistd\.log until startup finished\.\./);
      assert.ok(re.stdout.endsWith('The buildbot-worker appears to have (re)started correctly.\n'), re.stdout);
      await reattached;
    } finally {
      assert.equal((await cliRun(['stop', dir])).code, 0, 'the daemon is stopped');
    }
  });
});
