import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startTestMaster } from '../../src/master/test-master.js';
import { cli, cliAsync, cliRun, closedPort, createWorker, readLog, tempdir, waitFor } from './cli-helpers.js';

test('start --nodaemon against nothing retries with backoff, then gives up at maxretries (exit 1)', async () => {
  const port = await closedPort();
  const dir = createWorker(`127.0.0.1:${port}`, ['--maxretries', '2']);
  const run = cliAsync(['start', '--nodaemon', dir]);
  await waitFor(() => fs.existsSync(path.join(dir, 'twistd.pid')));
  assert.equal(fs.readFileSync(path.join(dir, 'twistd.pid'), 'utf8').trim(), String(run.child.pid), 'the foreground worker writes twistd.pid');
  const code = await run.exited;
  assert.equal(code, 1);
  const log = readLog(dir);
  assert.match(log, /Starting Worker -- version: /);
  assert.match(log, /connection to the master at 127\.0\.0\.1:\d+ failed/);
  assert.match(log, /Scheduling retry 1 to connect in (1\.[5-9]\d|2\.[0-4]\d|2\.50) seconds; will retry in \d seconds/);
  assert.match(log, /giving up: 2 connection attempt\(s\) in a row failed \(maxretries = 2\)/);
  assert.ok(run.output().includes('giving up'), 'the foreground worker logs to stdout too');
  assert.ok(!log.includes('pw-secret'));
  assert.ok(!fs.existsSync(path.join(dir, 'twistd.pid')), 'the pid file is removed on exit');
  assert.equal(fs.readFileSync(path.join(dir, 'twistd.hostname'), 'utf8').trim().length > 0, true);
});

test('stop stops a foreground worker through its pid file', async () => {
  const dir = createWorker(`127.0.0.1:${await closedPort()}`);
  const run = cliAsync(['start', '--nodaemon', dir]);
  await waitFor(() => readLog(dir).includes('Scheduling retry 1'));
  const second = cli(['start', '--nodaemon', dir]);
  assert.equal(second.code, 1);
  assert.ok(second.stdout.includes(`Another twistd server is running, PID ${run.child.pid}`));
  // Asynchronously: the worker is this process's child, and only a running event loop reaps it.
  const r = await cliRun(['stop', dir]);
  assert.equal(r.stdout, `worker process ${run.child.pid} is dead\n`);
  assert.equal(r.code, 0);
  assert.equal(await run.exited, 0);
  assert.match(readLog(dir), /Received SIGTERM, shutting down\./);
  assert.ok(!fs.existsSync(path.join(dir, 'twistd.pid')));
});

test('stop without a running worker, and on a directory that is not a worker', () => {
  const dir = createWorker('bm');
  assert.deepEqual([cli(['stop', dir]).stdout, cli(['stop', dir]).code], ['worker not running\n', 0]);
  const empty = tempdir();
  const r = cli(['stop', empty]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, `error reading '${empty}/buildbot.tac': No such file or directory\ninvalid worker directory '${empty}'\n`);
  fs.writeFileSync(path.join(empty, 'buildbot.tac'), 'something else\n');
  assert.equal(cli(['start', empty]).stdout, `unexpected content in '${empty}/buildbot.tac'\ninvalid worker directory '${empty}'\n`);
});

test('start (daemon) follows twistd.log until the master says attached; restart and stop work', async () => {
  const master = await startTestMaster({ workers: { w1: 'pw-secret' }, msgpackPort: null });
  try {
    const dir = createWorker(`127.0.0.1:${master.pbPort}`);
    // Asynchronously: this process serves the master while the CLI runs.
    const r = await cliRun(['start', dir]);
    assert.equal(r.code, 0, r.stdout);
    assert.ok(r.stdout.startsWith('Following twistd.log until startup finished..\n'));
    assert.ok(r.stdout.endsWith('message from master: attached\nThe buildbot-worker appears to have (re)started correctly.\n'), r.stdout);
    const pid = Number(fs.readFileSync(path.join(dir, 'twistd.pid'), 'utf8'));
    assert.ok(pid > 0);
    const re = await cliRun(['restart', dir]);
    assert.equal(re.code, 0, re.stdout);
    assert.ok(re.stdout.startsWith(`worker process ${pid} is dead\nnow restarting worker process..\nFollowing twistd.log until startup finished..\n`), re.stdout);
    const stop = await cliRun(['stop', dir]);
    assert.equal(stop.code, 0);
    assert.match(stop.stdout, /^worker process \d+ is dead\n$/);
    assert.ok(!readLog(dir).includes('pw-secret'));
  } finally {
    await master.close();
  }
});

test("start (daemon) against nothing gives Python's hints after 10 s and exit 1", async () => {
  const dir = createWorker(`127.0.0.1:${await closedPort()}`);
  try {
    const r = cli(['start', dir]);
    assert.equal(r.code, 1);
    assert.ok(r.stdout.includes('The worker took more than 10 seconds to start and/or connect'), r.stdout);
    assert.ok(r.stdout.includes('will retry in'), 'the log lines are echoed');
  } finally {
    cli(['stop', dir]);
  }
});

test('a bad tac makes the daemon exit at once with a reason', () => {
  const dir = createWorker('bm');
  const tac = path.join(dir, 'buildbot.tac');
  fs.writeFileSync(tac, fs.readFileSync(tac, 'utf8').replace("protocol = 'pb'", "protocol = 'null'"));
  const r = cli(['start', '--nodaemon', dir]);
  assert.equal(r.code, 1);
  assert.ok(r.stdout.includes('cannot start the worker:') && r.stdout.includes('Unknown protocol null'), r.stdout);
  const d = cli(['start', dir]);
  assert.equal(d.code, 1);
  assert.ok(d.stdout.includes('Unable to confirm that the worker started correctly.'), d.stdout);
});

test('a container without buildbot.tac runs from BUILDMASTER/WORKERNAME/WORKERPASS', async () => {
  const dir = tempdir();
  const env = { ...process.env, BUILDMASTER: '127.0.0.1', BUILDMASTER_PORT: String(await closedPort()), WORKERNAME: 'c1', WORKERPASS: 'container-secret' };
  const run = cliAsync(['start', '--nodaemon', dir], { env });
  await waitFor(() => run.output().includes('Scheduling retry 1'));
  assert.ok(!run.output().includes('container-secret'));
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0);
});
