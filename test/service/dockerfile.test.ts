import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestMaster } from '../../src/master/test-master.js';

/**
 * The Dockerfile's contract, checked without a Docker engine: its last stage is parsed
 * (ENV, USER, WORKDIR, ENTRYPOINT, CMD) and the CMD's command line is run here, with the
 * image's environment plus what DockerLatentWorker sets, against the embedded master.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DOCKERFILE = path.join(ROOT, 'Dockerfile');
const APP_DIR = '/opt/buildbot-worker';
const IMAGE_BASEDIR = '/buildbot';

interface Stage {
  from: string;
  env: Record<string, string>;
  user?: string;
  workdir?: string;
  entrypoint?: string[];
  cmd?: string[];
  runs: string[];
}

/** Instructions of a Dockerfile, continuation lines joined, comments dropped. */
function instructions(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      cur += line.slice(0, -1) + ' ';
      continue;
    }
    cur += line;
    const m = /^\s*([A-Za-z]+)\s+(.*)$/s.exec(cur);
    if (m) out.push([m[1]!.toUpperCase(), m[2]!.trim()]);
    cur = '';
  }
  return out;
}

/** `K=V K2="v 2"` pairs of an ENV instruction. */
function envPairs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Za-z_][A-Za-z0-9_]*)=("((?:[^"\\]|\\.)*)"|\S*)/g;
  for (const m of text.matchAll(re)) out[m[1]!] = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[2]!;
  return out;
}

function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  // ARGs declared before the first FROM, with their defaults: what FROM ${NAME} builds on.
  const globalArgs: Record<string, string> = {};
  for (const [op, arg] of instructions(text)) {
    if (op === 'ARG' && stages.length === 0) {
      const [name, ...value] = arg.split('=');
      globalArgs[name!.trim()] = value.join('=').trim();
      continue;
    }
    if (op === 'FROM') {
      const from = arg.split(/\s+/)[0]!.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_m, name: string) => globalArgs[name] ?? '');
      stages.push({ from, env: {}, runs: [] });
      continue;
    }
    const st = stages[stages.length - 1];
    assert.ok(st, `${op} before FROM`);
    if (op === 'ENV') Object.assign(st.env, envPairs(arg));
    else if (op === 'USER') st.user = arg;
    else if (op === 'WORKDIR') st.workdir = arg;
    else if (op === 'ENTRYPOINT') st.entrypoint = JSON.parse(arg) as string[];
    else if (op === 'CMD') st.cmd = JSON.parse(arg) as string[];
    else if (op === 'RUN') st.runs.push(arg);
  }
  return stages;
}

const stages = parseDockerfile(fs.readFileSync(DOCKERFILE, 'utf8'));
const image = stages[stages.length - 1]!;

test("the Dockerfile: node:20-bookworm-slim by default (build argument BASE), production dependencies, tini as PID 1, user buildbot, the Python image's environment", () => {
  assert.ok(
    stages.every((s) => s.from === 'node:20-bookworm-slim'),
    JSON.stringify(stages.map((s) => s.from)),
  );
  assert.ok(
    stages.some((s) => s.runs.some((r) => r.includes('npm ci --omit=dev'))),
    'runtime dependencies only',
  );
  assert.ok(!image.runs.some((r) => /\b(g\+\+|gcc|make|build-essential)\b/.test(r)), 'no compilers in the runtime stage');
  assert.ok(image.runs.some((r) => /apt-get install[^&]*\btini\b/.test(r)));
  assert.ok(
    image.runs.some((r) => /apt-get install[^&]*\bbzip2\b/.test(r)),
    "bzip2 for compress='bz2'",
  );
  assert.deepEqual(image.entrypoint, ['/usr/bin/tini', '--'], 'tini without -g: SIGTERM reaches the worker only');
  assert.equal(image.user, 'buildbot');
  assert.equal(image.workdir, IMAGE_BASEDIR);
  assert.deepEqual(image.cmd, ['node', `${APP_DIR}/bin/worker.js`, 'start', '--nodaemon', IMAGE_BASEDIR]);
  assert.deepEqual(
    { ...image.env, NODE_ENV: undefined },
    {
      BUILDBOT_BASEDIR: IMAGE_BASEDIR,
      BUILDMASTER: 'localhost',
      BUILDMASTER_PORT: '9989',
      BUILDMASTER_PROTOCOL: 'pb',
      WORKERNAME: 'docker',
      WORKER_ENVIRONMENT_BLACKLIST: 'WORKERPASS WORKERPASS_FILE',
      NODE_ENV: undefined,
    },
  );
  assert.ok(!('WORKERPASS' in image.env), 'no password baked into the image');
});

/** The CMD as it would run in the container, with the image's paths mapped onto this checkout and a temp basedir. */
function runImageCmd(env: Record<string, string>, basedir: string) {
  const map = (a: string) => (a === 'node' ? process.execPath : a.replace(APP_DIR, ROOT.replace(/\/$/, '')).replace(new RegExp(`^${IMAGE_BASEDIR}$`), basedir));
  const [cmd, ...args] = image.cmd!.map(map);
  const fullEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: os.tmpdir(), ...image.env, BUILDBOT_BASEDIR: basedir, ...env };
  const child = spawn(cmd!, args, { cwd: basedir, env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, exited, output: () => output };
}

for (const [protocol, wireName] of [
  ['pb', 'pb'],
  ['msgpack', 'msgpack_experimental_v7'],
] as const) {
  test(`the image's CMD with DockerLatentWorker's environment attaches over ${protocol}, hides WORKERPASS, drains on SIGTERM`, async () => {
    const master = await startTestMaster({ workers: { 'latent-1': 'image-secret' } });
    const basedir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-basedir-'));
    const port = protocol === 'pb' ? master.pbPort : master.msgpackPort;
    const attached = master.waitForWorker('latent-1', { timeoutMs: 20_000 });
    const run = runImageCmd({ BUILDMASTER: '127.0.0.1', BUILDMASTER_PORT: String(port), BUILDMASTER_PROTOCOL: wireName, WORKERNAME: 'latent-1', WORKERPASS: 'image-secret' }, basedir);
    try {
      const handle = await attached.catch((err: Error) => assert.fail(`${err.message}\n${run.output()}`));
      const environ = handle.info.environ as Record<string, unknown>;
      assert.equal(environ.BUILDMASTER, '127.0.0.1');
      assert.ok(!('WORKERPASS' in environ), 'the blacklist keeps the password from the master');
      const r = await handle.startCommand('builder', 'shell', { command: ['sh', '-c', 'echo "pass=${WORKERPASS:-unset}"'], workdir: 'build' }).done;
      assert.equal(r.status, 'SUCCESS');
      assert.equal(r.logs.stdout, 'pass=unset\n', 'builds do not see it either');
      assert.ok(fs.existsSync(path.join(basedir, 'builder', 'build')));
      run.child.kill('SIGTERM');
      assert.equal(await run.exited, 0);
      const out = run.output();
      assert.ok(out.includes('message from master: attached'), 'logs go to stdout');
      assert.ok(!out.includes('image-secret'));
      assert.ok(!fs.existsSync(path.join(basedir, 'twistd.log')), 'no log file in the container basedir');
    } finally {
      run.child.kill('SIGKILL');
      await master.close();
    }
  });
}

test("the image's CMD with WORKER_EXIT_WHEN_IDLE and WORKERPASS_FILE: a one-shot container ends by itself after its build", async () => {
  const master = await startTestMaster({ workers: { 'one-shot': 'file-secret' } });
  const basedir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-basedir-'));
  const secretFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'image-secret-')), 'pass');
  fs.writeFileSync(secretFile, 'file-secret\n', { mode: 0o600 });
  const attached = master.waitForWorker('one-shot', { timeoutMs: 20_000 });
  const run = runImageCmd({ BUILDMASTER: '127.0.0.1', BUILDMASTER_PORT: String(master.pbPort), WORKERNAME: 'one-shot', WORKERPASS_FILE: secretFile, WORKER_EXIT_WHEN_IDLE: '2' }, basedir);
  try {
    const handle = await attached.catch((err: Error) => assert.fail(`${err.message}\n${run.output()}`));
    assert.ok(!('WORKERPASS_FILE' in (handle.info.environ as Record<string, unknown>)));
    for (const step of ['one', 'two']) {
      const r = await handle.startCommand('builder', 'shell', { command: ['sh', '-c', `sleep 1; echo ${step}`], workdir: 'build' }).done;
      assert.equal(r.logs.stdout, `${step}\n`);
    }
    assert.equal(await run.exited, 0);
    assert.match(run.output(), /no command ran for 2 seconds; stopping \(exit when idle\)/);
  } finally {
    run.child.kill('SIGKILL');
    await master.close();
  }
});
