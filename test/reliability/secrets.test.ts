import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { WORKER_BIN } from '../../src/cli/local-worker.js';
import { startTestMaster, type TestMaster } from '../../src/master/test-master.js';
import type { WorkerHandle } from '../../src/master/worker-handle.js';
import { attachWorker, processesWith, startWorker, uniqueMarker, type Protocol, type RunningWorker } from './harness.js';
import { eventually } from '../helpers/eventually.js';
import { selfSigned } from '../helpers/self-signed.js';

/**
 * The worker's password stays secret: not in twistd.log, not in what the worker tells the
 * master, not in the environment or command line of the processes it starts; buildbot.tac
 * is readable by its owner only; variables matching WORKER_ENVIRONMENT_BLACKLIST reach
 * neither the master nor the steps; TLS checks the master's certificate by default.
 */

const PASSWORD = 'Pw-4f1c9e-do-not-leak';
const BLACKLIST_ENV = {
  WORKER_ENVIRONMENT_BLACKLIST: 'SECRET_* WORKERPASS',
  SECRET_TOKEN: 'token-7d2a-do-not-leak',
  SECRET_OTHER: 'other-do-not-leak',
  WORKERPASS: 'workerpass-do-not-leak',
  KEEP_ME: 'visible-value',
};
const LEAKS = [PASSWORD, BLACKLIST_ENV.SECRET_TOKEN, BLACKLIST_ENV.SECRET_OTHER, BLACKLIST_ENV.WORKERPASS];

function assertNoLeak(where: string, text: string): void {
  for (const secret of LEAKS) assert.ok(!text.includes(secret), `${where} holds a secret (${secret})`);
}

/** What a step's process exposes to anyone on the machine who can read /proc/<pid>. */
function procView(pid: number): { environ: string; cmdline: string } {
  return {
    environ: readFileSync(`/proc/${pid}/environ`, 'latin1').replaceAll('\0', '\n'),
    cmdline: readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' '),
  };
}

for (const protocol of ['pb', 'msgpack'] as Protocol[]) {
  describe(`secrets over ${protocol}`, () => {
    let master: TestMaster;
    let worker: RunningWorker;
    let handle: WorkerHandle;
    const name = `secrets-${protocol}`;

    before(async () => {
      master = await startTestMaster({ workers: { [name]: PASSWORD } });
      ({ worker, handle } = await attachWorker(master, { protocol, port: protocol === 'pb' ? master.pbPort : master.msgpackPort, name, password: PASSWORD, env: BLACKLIST_ENV }));
      mkdirSync(path.join(worker.basedir, 'builder', 'build'), { recursive: true });
    });

    after(async () => {
      await worker?.stop();
      await master?.close();
    });

    test('buildbot.tac, which holds the password, is 0600', () => {
      const tac = path.join(worker.basedir, 'buildbot.tac');
      assert.ok(readFileSync(tac, 'utf8').includes(PASSWORD), 'the tac holds the password (so its mode matters)');
      assert.equal(statSync(tac).mode & 0o777, 0o600);
    });

    test('getWorkerInfo: no password, no blacklisted variable; the others are there', () => {
      assertNoLeak('the worker info', JSON.stringify(handle.info));
      const environ = handle.info.environ as Record<string, string>;
      for (const k of ['SECRET_TOKEN', 'SECRET_OTHER', 'WORKERPASS']) {
        assert.ok(!(k in environ), `${k} is not sent to the master`);
      }
      assert.equal(environ.KEEP_ME, 'visible-value');
    });

    test("a shell step's process: no secret in /proc/<pid>/environ or cmdline; blacklisted variables not passed", async () => {
      const marker = uniqueMarker();
      const run = handle.startCommand('builder', 'shell', { command: ['sleep', `5${marker}`], workdir: 'build', env: { STEP_VAR: 'step' } });
      let pid = 0;
      await eventually(() => (pid = processesWith(`sleep 5${marker}`)[0] ?? 0) > 0, 'the step to start', 10_000);
      const view = procView(pid);
      assertNoLeak(`/proc/${pid}/environ`, view.environ);
      assertNoLeak(`/proc/${pid}/cmdline`, view.cmdline);
      assert.match(view.environ, /^KEEP_ME=visible-value$/m);
      assert.match(view.environ, /^STEP_VAR=step$/m);
      assert.doesNotMatch(view.environ, /^(SECRET_TOKEN|SECRET_OTHER|WORKERPASS)=/m);
      await run.interrupt('done looking');
      await run.done;

      const env = await handle.startCommand('builder', 'shell', { command: ['env'], workdir: 'build' }).done;
      assert.equal(env.rc, 0);
      assertNoLeak('the output of `env` in a step', env.logs.stdout);
      assert.match(env.logs.stdout, /^KEEP_ME=visible-value$/m);
    });

    test("the worker's own command line and twistd.log never show the password", () => {
      assertNoLeak('the worker command line', procView(worker.child.pid!).cmdline);
      const log = readFileSync(path.join(worker.basedir, 'twistd.log'), 'utf8');
      assert.ok(log.length > 0, 'twistd.log was written');
      assertNoLeak('twistd.log', log);
      assertNoLeak('the worker output', worker.output());
    });
  });
}

describe('secrets: a container-style worker configured from the environment', () => {
  test('WORKERPASS logs in, and is removed before anything can see it, /proc/<worker pid>/environ included (default blacklist)', async () => {
    const master = await startTestMaster({ workers: { docker: PASSWORD } });
    const basedir = mkdtempSync(path.join(os.tmpdir(), 'secrets-env-'));
    const attached = master.waitForWorker('docker', { timeoutMs: 20_000 });
    const child = spawn(process.execPath, [WORKER_BIN, 'start', '--nodaemon', basedir], {
      cwd: basedir,
      env: { ...process.env, BUILDMASTER: '127.0.0.1', BUILDMASTER_PORT: String(master.pbPort), WORKERNAME: 'docker', WORKERPASS: PASSWORD },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    try {
      const handle = await attached;
      // Not even in the worker's own initial environment, which its steps could read.
      const environ = readFileSync(`/proc/${child.pid}/environ`, 'latin1');
      assertNoLeak(`/proc/${child.pid}/environ`, environ);
      assert.match(environ, /(^|\0)WORKERNAME=docker\0/);
      assertNoLeak('the worker info', JSON.stringify(handle.info));
      assert.ok(!('WORKERPASS' in (handle.info.environ as Record<string, string>)));
      mkdirSync(path.join(basedir, 'builder', 'build'), { recursive: true });
      const env = await handle.startCommand('builder', 'shell', { command: ['env'], workdir: 'build' }).done;
      assert.equal(env.rc, 0);
      assertNoLeak('a step environment', env.logs.stdout);
      assert.doesNotMatch(env.logs.stdout, /^WORKERPASS=/m);
      assertNoLeak('the worker output', out);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('close', r));
      await master.close();
    }
  });
});

describe('secrets: TLS', () => {
  let dir: string;
  let cert: Buffer;
  let key: Buffer;
  let server: tls.Server;
  let handshakes = 0;
  let port = 0;

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'secrets-tls-'));
    const made = selfSigned(dir, 'localhost', 'DNS:localhost,IP:127.0.0.1');
    if (!made) return;
    cert = made.cert;
    key = made.key;
  });

  after(() => server?.close());

  test('the worker refuses a master whose certificate it cannot verify, and accepts it once trusted', async (t) => {
    if (!cert) {
      t.skip('openssl is not available to make a test certificate');
      return;
    }
    server = tls.createServer({ key, cert }, (s) => {
      handshakes++;
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;

    const untrusted = await startWorker({
      protocol: 'pb',
      port,
      name: 'tls-worker',
      password: PASSWORD,
      extraCreateArgs: ['--maxdelay', '1', '--connection-string', `tls:host=127.0.0.1:port=${port}`],
    });
    try {
      await eventually(() => /self[- ]signed certificate/i.test(untrusted.output()), 'the certificate to be refused', 15_000);
      assert.equal(handshakes, 0, 'no TLS session was established with an untrusted master');
    } finally {
      await untrusted.stop();
    }

    const roots = path.join(dir, 'roots');
    mkdirSync(roots);
    execFileSync('cp', [path.join(dir, 'localhost.pem'), roots]);
    assert.equal(readdirSync(roots).length, 1);
    const trusted = await startWorker({
      protocol: 'pb',
      port,
      name: 'tls-worker',
      password: PASSWORD,
      extraCreateArgs: ['--connection-string', `tls:host=127.0.0.1:port=${port}:trustRoots=${roots}`],
    });
    try {
      await eventually(() => handshakes > 0, 'a TLS session with the trusted master', 15_000);
    } finally {
      await trusted.stop();
    }
  });
});
