import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startTestMaster } from '../../src/master/test-master.js';
import { cli, cliAsync, cliRun, closedPort, createWorker, readLog, tempdir, waitFor } from './cli-helpers.js';

/**
 * What a user of the Python worker sees on day one, through the real CLI: error output,
 * --verbose, port range, twistd.pid, the daemon's umask and twistd.log's lines.
 */

const mode = (file: string) => (fs.statSync(file).mode & 0o777).toString(8).padStart(3, '0');

test('a usage error is printed once (no second copy from commander), with the usage', () => {
  for (const args of [['start', '--bogus'], ['bogus-command'], ['create-worker', '--keepalive']]) {
    const r = cli(args);
    assert.equal(r.code, 1, r.stdout);
    const text = r.stdout + r.stderr;
    const firstLine = text.split('\n')[0]!;
    assert.match(firstLine, /worker\.js: {2}\S/, text);
    const message = firstLine.replace(/^.*worker\.js: {2}/, '');
    assert.equal(text.split(message).length - 1, 1, `"${message}" printed once:\n${text}`);
    assert.ok(!/^error: /m.test(text), text);
    assert.match(text, /\nUsage: buildbot-worker /);
  }
});

test('a master port outside 1-65535 says so', () => {
  for (const port of ['0', '65536', '99999']) {
    const dir = path.join(tempdir(), 'w');
    const r = cli(['create-worker', dir, `bm:${port}`, 'w1', 'pw']);
    assert.equal(r.code, 1);
    assert.ok(r.stdout.includes(`invalid master port '${port}', must be between 1 and 65535`), r.stdout);
    assert.ok(!fs.existsSync(dir), 'nothing is created');
  }
  // A tac edited by hand gets the same check when the worker starts.
  const dir = createWorker('bm:9989');
  const tac = path.join(dir, 'buildbot.tac');
  fs.writeFileSync(tac, fs.readFileSync(tac, 'utf8').replace('port = 9989', 'port = 70000'));
  const r = cli(['start', '--nodaemon', dir]);
  assert.equal(r.code, 1);
  assert.ok(r.stdout.includes('master port 70000 is not a port number: it must be between 1 and 65535'), r.stdout);
});

test('--verbose writes the log to stderr too, like Twisted startLogging(sys.stderr)', async () => {
  const dir = createWorker(`127.0.0.1:${await closedPort()}`, ['--maxretries', '1']);
  const quiet = cli(['start', '--nodaemon', dir]);
  assert.equal(quiet.code, 1);
  assert.equal(quiet.stderr, '');
  const loud = cli(['--verbose', 'start', '--nodaemon', dir]);
  assert.equal(loud.code, 1);
  assert.match(loud.stderr, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4} \[-\] Loading buildbot\.tac\.\.\.\n/);
  assert.match(loud.stderr, /\[-\] Starting Worker -- version: /);
  assert.ok(!loud.stderr.includes('pw-secret'));
  assert.ok(cli(['--help']).stdout.includes('--verbose'));
});

test('--log-format json writes pino JSON lines, --log-level filters; bad values are refused', async () => {
  const dir = createWorker(`127.0.0.1:${await closedPort()}`, ['--maxretries', '1']);
  const r = cli(['start', '--nodaemon', '--log-format', 'json', dir]);
  assert.equal(r.code, 1);
  const records = readLog(dir)
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { level: number; time: number; msg: string });
  assert.ok(
    records.some((rec) => rec.msg.startsWith('Starting Worker -- version: ') && rec.level === 30 && typeof rec.time === 'number'),
    readLog(dir),
  );
  assert.ok(!readLog(dir).includes('pw-secret'));

  fs.rmSync(path.join(dir, 'twistd.log'));
  assert.equal(cli(['start', '--nodaemon', '--log-level', 'error', dir]).code, 1);
  const text = readLog(dir);
  assert.ok(!text.includes('Starting Worker'), text);
  assert.match(text, /giving up: 1 connection attempt/);

  // A daemon whose level hides the 'attached' line is not followed (nothing would confirm it).
  const daemon = await cliRun(['start', '--log-level', 'warn', dir]);
  try {
    assert.equal(daemon.code, 0, daemon.stdout);
    assert.equal(daemon.stdout, "Not following twistd.log: --log-level warn leaves out 'message from master: attached'.\n");
  } finally {
    await cliRun(['stop', dir]); // it also gives up by itself (maxretries 1)
  }

  const bad = cli(['start', '--log-format', 'xml', dir]);
  assert.equal(bad.code, 1);
  assert.ok(bad.stdout.includes("option '--log-format <format>' argument 'xml' is invalid"), bad.stdout);
  assert.equal(cli(['start', '--log-level', 'loud', dir]).code, 1);
});

test('a stale twistd.pid naming a live unrelated process (pid 1) neither blocks start nor is signalled by stop', async () => {
  const dir = createWorker(`127.0.0.1:${await closedPort()}`);
  const pidFile = path.join(dir, 'twistd.pid');
  // A process that is alive but not a worker: this test runner (its cwd is not the basedir).
  const unrelated = process.pid;
  fs.writeFileSync(pidFile, String(unrelated));
  const stop = cli(['stop', dir]);
  assert.equal(stop.code, 0);
  assert.equal(stop.stdout, `twistd.pid names process ${unrelated}, which is not a worker of ${dir}: not signalling it\nworker not running\n`);
  fs.writeFileSync(pidFile, '1');
  const run = cliAsync(['start', '--nodaemon', dir]);
  try {
    await waitFor(() => readLog(dir).includes('Scheduling retry 1'));
    assert.equal(fs.readFileSync(pidFile, 'utf8'), String(run.child.pid), 'the stale file is replaced (no newline, like twistd)');
    assert.match(readLog(dir), new RegExp(`Removing stale pidfile ${pidFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(pid 1\\)`));
    // The worker it names now is trusted: a second start is refused with twistd's words.
    const second = cli(['start', '--nodaemon', dir]);
    assert.equal(second.code, 1);
    assert.ok(second.stdout.startsWith(`Another twistd server is running, PID ${run.child.pid}\n\nThis could either be a previously started instance`), second.stdout);
    const daemon = cli(['start', dir]);
    assert.equal(daemon.code, 1);
    assert.ok(daemon.stdout.startsWith(`Another twistd server is running, PID ${run.child.pid}\n`), daemon.stdout);
  } finally {
    const r = await cliRun(['stop', dir]);
    assert.equal(r.stdout, `worker process ${run.child.pid} is dead\n`);
  }
});

test('two starts at the same moment: exactly one runs (the pid file is created exclusively)', async () => {
  const dir = createWorker(`127.0.0.1:${await closedPort()}`);
  const runs = [0, 1, 2].map(() => cliAsync(['start', '--nodaemon', dir]));
  try {
    // Those that lost exit at once; the winner keeps retrying.
    const codes = await waitFor(() => {
      const done = runs.filter((r) => r.child.exitCode !== null);
      return done.length === runs.length - 1 ? done.map((r) => r.child.exitCode) : undefined;
    }, 60_000);
    assert.deepEqual(codes, [1, 1]);
    const winner = runs.find((r) => r.child.exitCode === null)!;
    assert.equal(fs.readFileSync(path.join(dir, 'twistd.pid'), 'utf8'), String(winner.child.pid));
    for (const lost of runs.filter((r) => r !== winner)) assert.ok(lost.output().includes(`Another twistd server is running, PID ${winner.child.pid}`), lost.output());
  } finally {
    await cliRun(['stop', dir]);
  }
});

test('daemon: umask 077 (build outputs -rw-------, twistd.pid 0600); --nodaemon keeps the inherited umask; the tac umask wins', async () => {
  const master = await startTestMaster({ workers: { w1: 'pw-secret' }, msgpackPort: null });
  try {
    const runStep = async (dir: string) => {
      const handle = await master.waitForWorker('w1', { timeoutMs: 20_000 });
      const r = await handle.startCommand('builder', 'shell', { workdir: 'build', command: ['/bin/sh', '-c', 'echo x > out.txt; mkdir sub'] }).done;
      assert.equal(r.status, 'SUCCESS', JSON.stringify(r));
      const build = path.join(dir, 'builder', 'build');
      return { file: mode(path.join(build, 'out.txt')), dir: mode(path.join(build, 'sub')) };
    };

    const daemonDir = createWorker(`127.0.0.1:${master.pbPort}`);
    assert.equal((await cliRun(['start', daemonDir])).code, 0);
    assert.equal(mode(path.join(daemonDir, 'twistd.pid')), '600');
    assert.deepEqual(await runStep(daemonDir), { file: '600', dir: '700' });
    assert.equal((await cliRun(['stop', daemonDir])).code, 0);
    await waitFor(() => master.worker('w1') === undefined);

    const tacDir = createWorker(`127.0.0.1:${master.pbPort}`, ['--umask', '0o22']);
    assert.equal((await cliRun(['start', tacDir])).code, 0);
    assert.equal(mode(path.join(tacDir, 'twistd.pid')), '600', 'twistd.pid is written before the tac umask applies');
    assert.deepEqual(await runStep(tacDir), { file: '644', dir: '755' });
    assert.equal((await cliRun(['stop', tacDir])).code, 0);
    await waitFor(() => master.worker('w1') === undefined);

    const fgDir = createWorker(`127.0.0.1:${master.pbPort}`);
    const fg = cliAsync(['start', '--nodaemon', fgDir]); // this test runner's umask, 022 or whatever it is
    try {
      const inherited = process.umask();
      const r = await runStep(fgDir);
      assert.deepEqual(r, { file: (0o666 & ~inherited).toString(8).padStart(3, '0'), dir: (0o777 & ~inherited).toString(8).padStart(3, '0') });
    } finally {
      await cliRun(['stop', fgDir]);
      await fg.exited;
    }
  } finally {
    await master.close();
  }
});

test('a hand-edited tac (password read from a file, a helper) is evaluated by python3 and the worker attaches', { skip: fs.existsSync('/usr/bin/python3') ? false : 'no python3' }, async () => {
  const master = await startTestMaster({ workers: { w1: 'tac-file-secret' }, msgpackPort: null });
  try {
    const dir = createWorker(`127.0.0.1:${master.pbPort}`, [], 'placeholder');
    const secret = path.join(path.dirname(dir), 'secret');
    fs.writeFileSync(secret, 'tac-file-secret\n', { mode: 0o600 });
    const tac = path.join(dir, 'buildbot.tac');
    const edited = fs
      .readFileSync(tac, 'utf8')
      .replace("passwd = 'placeholder'", `def read_secret(p):\n    with open(p) as f:\n        return f.read().strip()\n\npasswd = read_secret(${JSON.stringify(secret)})`);
    assert.notEqual(edited, fs.readFileSync(tac, 'utf8'));
    fs.writeFileSync(tac, edited);
    const attached = master.waitForWorker('w1', { timeoutMs: 30_000 });
    const run = cliAsync(['start', '--nodaemon', dir]);
    try {
      await attached;
      const log = readLog(dir);
      assert.match(log, /\[-\] buildbot\.tac evaluated with \S*python3; the built-in reader said: /);
      assert.ok(!log.includes('tac-file-secret') && !run.output().includes('tac-file-secret'), 'the password is not logged');
    } finally {
      await cliRun(['stop', dir]);
      await run.exited;
    }
  } finally {
    await master.close();
  }
});
