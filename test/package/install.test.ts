/**
 * The package as users install it: `npm install -g` from the tarball `npm pack` makes, from a
 * git checkout (a directory), and from git (`git+file://`), each into its own temporary
 * prefix. Then the installed `worker` on PATH: --version, create-worker, and start --nodaemon
 * against the embedded test master, which runs one shell step on it (on a terminal, so the
 * native node-pty of the install is used too).
 *
 * The package is made from a clone of the committed HEAD (as CI and users get it), never from
 * this working tree: packing rebuilds dist/src, which the running tests import.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestMaster, type TestMaster } from '../../src/master/test-master.js';
import { COMMAND_VERSION } from '../../src/commands/version.js';
import { WORKER_VERSION } from '../../src/worker/version.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The environment npm and the worker run with: this test's, without the npm settings of an enclosing `npm test`. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'INIT_CWD') env[k] = v;
  return { ...env, ...extra };
}

/** Run to completion, synchronously: only before the test master runs in this process. */
function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? cleanEnv(), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, error: r.error };
}

/** Run to completion without blocking this process (the test master serves the workers meanwhile). */
function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (err) => resolve({ code: null, out: `${out}${err.message}` }));
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** Why this test cannot run here, or undefined. */
function unavailable(): string | undefined {
  const npm = sh('npm', ['--version']);
  if (npm.error || npm.code !== 0) return 'npm is not installed';
  const git = sh('git', ['-C', REPO_ROOT, 'rev-parse', 'HEAD']);
  if (git.error || git.code !== 0) return 'not a git checkout (the package is made from a clone of HEAD)';
  // The dependencies come from npm's cache when they are there, else from the registry.
  const reg = sh('npm', ['ping', '--prefer-offline']);
  const cached = sh('npm', ['cache', 'ls', 'node-pty']);
  if (reg.code !== 0 && !(cached.code === 0 && /node-pty/.test(cached.out))) return 'no npm registry reachable and no npm cache';
  return undefined;
}

const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=warn'];

describe('npm install -g', { skip: unavailable(), timeout: 20 * 60_000 }, () => {
  let tmp: string;
  let clone: string;
  let tarball: string;
  let master: TestMaster;
  const password = 'install-test-secret';
  const workers: Record<string, string> = { tarball: password, dir: password, git: password };
  const running: ChildProcess[] = [];

  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'package-install-'));
    clone = path.join(tmp, 'clone');
    const cloned = sh('git', ['clone', '--quiet', '--no-hardlinks', REPO_ROOT, clone]);
    assert.equal(cloned.code, 0, cloned.out);
    master = await startTestMaster({ workers, pbPort: 0, msgpackPort: null });
  });

  after(async () => {
    for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await master?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** The installed `worker` of `prefix`: --version, create-worker, start --nodaemon, one shell step. */
  async function runInstalled(name: string, prefix: string): Promise<void> {
    const env = cleanEnv({ PATH: `${path.join(prefix, 'bin')}:${process.env.PATH}` });
    const which = await run('sh', ['-c', 'command -v worker'], { env });
    assert.equal(which.out.trim(), path.join(prefix, 'bin', 'worker'), 'the installed worker is first on PATH');

    const version = await run('worker', ['--version'], { env, cwd: tmp });
    assert.equal(version.code, 0, version.out);
    assert.equal(version.out, `worker version: ${WORKER_VERSION}\nworker command version: ${COMMAND_VERSION}\nNode version: ${process.versions.node}\n`);

    const basedir = path.join(tmp, `worker-${name}`);
    const created = await run('worker', ['create-worker', '--quiet', basedir, `127.0.0.1:${master.pbPort}`, name, password], { env, cwd: tmp });
    assert.equal(created.code, 0, created.out);

    const attached = master.waitForWorker(name, { timeoutMs: 60_000 });
    const child = spawn('worker', ['start', '--nodaemon', basedir], { env, cwd: basedir, stdio: ['ignore', 'pipe', 'pipe'] });
    running.push(child);
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    let handle;
    try {
      handle = await attached;
    } catch (err) {
      assert.fail(`${(err as Error).message}\n--- worker output ---\n${output}`);
    }
    const r = await handle.startCommand('builder', 'shell', {
      command: ['sh', '-c', `echo installed-$((6 * 7)); tty`],
      workdir: 'build',
      usePTY: true,
    }).done;
    assert.equal(r.rc, 0, `${JSON.stringify(r)}\n${output}`);
    assert.match(r.logs.stdio, /installed-42/);
    assert.match(r.logs.stdio, /\/dev\/pts\/\d+/);

    child.kill('SIGTERM');
    assert.equal(await exited, 0, output);
  }

  test('npm pack makes a tarball with the bundled code and no tests or sources', async () => {
    const dest = path.join(tmp, 'packed');
    mkdirSync(dest);
    const packed = await run('npm', ['pack', '--pack-destination', dest, ...NPM_FLAGS], { cwd: clone });
    assert.equal(packed.code, 0, packed.out);
    const made = readdirSync(dest).filter((f) => f.endsWith('.tgz'));
    assert.equal(made.length, 1, packed.out);
    tarball = path.join(dest, made[0]!);
    const listed = await run('tar', ['-tzf', tarball]);
    assert.equal(listed.code, 0, listed.out);
    const files = listed.out
      .split('\n')
      .filter((f) => f.startsWith('package/'))
      .map((f) => f.slice('package/'.length));
    for (const f of ['dist/bundle/main.js', 'bin/worker.js', 'www/index.html', 'contrib/systemd/buildbot-worker@.service', 'info.example/admin', 'README.md', 'LICENSE', 'package.json']) {
      assert.ok(files.includes(f), `${f} in the tarball`);
    }
    // node_modules/commander is bundled on purpose (see README "Install").
    const unwanted = files.filter((f) => !f.startsWith('node_modules/commander/') && /^(test|bench|src|scripts|\.ci|node_modules)\/|^dist\/(test|bench|src)\/|\.ts$|\.map$/.test(f));
    assert.deepEqual(unwanted, []);
  });

  describe('into a temporary prefix', { concurrency: 3 }, () => {
    test('from the tarball', async () => {
      assert.ok(tarball, 'npm pack ran');
      const prefix = path.join(tmp, 'prefix-tarball');
      const r = await run('npm', ['install', '-g', '--prefix', prefix, tarball, ...NPM_FLAGS]);
      assert.equal(r.code, 0, r.out);
      await runInstalled('tarball', prefix);
    });

    test('from a git checkout (a directory: npm links it)', async () => {
      const checkout = path.join(tmp, 'checkout');
      const cloned = await run('git', ['clone', '--quiet', '--no-hardlinks', REPO_ROOT, checkout]);
      assert.equal(cloned.code, 0, cloned.out);
      const prefix = path.join(tmp, 'prefix-dir');
      const r = await run('npm', ['install', '-g', '--prefix', prefix, checkout, ...NPM_FLAGS]);
      assert.equal(r.code, 0, r.out);
      assert.equal(realpathSync(path.join(prefix, 'lib', 'node_modules', 'buildbot-worker-ts')), realpathSync(checkout));
      await runInstalled('dir', prefix);
    });

    test('from git (git+file://)', async () => {
      const prefix = path.join(tmp, 'prefix-git');
      mkdirSync(prefix);
      const r = await run('npm', ['install', '-g', '--prefix', prefix, `git+file://${clone}`, ...NPM_FLAGS]);
      assert.equal(r.code, 0, r.out);
      const installed = path.join(prefix, 'lib', 'node_modules', 'buildbot-worker-ts');
      // A directory of its own, not a link into npm's (deleted) temporary clone.
      assert.ok(readdirSync(installed).includes('dist'), `${installed}: ${readdirSync(installed).join(' ')}`);
      assert.equal(realpathSync(installed), installed);
      await runInstalled('git', prefix);
    });
  });
});
