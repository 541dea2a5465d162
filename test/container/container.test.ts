/**
 * The image built from the project's Dockerfile, run under podman against the embedded test
 * master: configured by environment only (the password as a mounted secret file), both
 * protocols; `podman stop` drains, a second signal interrupts, tini reaps orphans, exit when
 * idle ends the container, a basedir volume survives a killed container. Needs rootful podman
 * (contrib/podman holds the settings); skipped with the reason where it is missing.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startTestMaster, type TestMaster } from '../../src/master/test-master.js';
import type { WorkerHandle } from '../../src/master/worker-handle.js';
import { eventually } from '../helpers/eventually.js';
import { REPO_ROOT, RealMaster, SUCCESS, realMasterUnavailable, REST_POLLING } from '../interop/real-master.js';
import { IMAGE, buildImage, ok, podman, podmanAsync, podmanEnv, podmanUnavailable, removeContainer, storageNote } from './podman.js';

const skip = podmanUnavailable();
const PROTOCOLS = [
  ['pb', 'pb'],
  ['msgpack', 'msgpack_experimental_v7'],
] as const;
type Protocol = (typeof PROTOCOLS)[number][0];
const WIRE: Record<Protocol, string> = { pb: 'pb', msgpack: 'msgpack_experimental_v7' };
const ATTACH_TIMEOUT_MS = 120_000;
const SECRET_IN_CONTAINER = '/run/secrets/workerpass';

/** The image is built once per run, by whichever suite needs it first. */
let imageBuilt: Promise<void> | undefined;
const ensureImage = () => (imageBuilt ??= buildImage());

let counter = 0;
const containerName = () => `bbw-ts-test-${process.pid}-${++counter}`;

interface Running {
  name: string;
  master: TestMaster;
  handle: WorkerHandle;
  /** A host directory mounted at /trigger in the container: steps wait for files the test makes. */
  trigger: string;
  /** The container's output so far. */
  logs(): Promise<string>;
  close(): Promise<void>;
}

interface RunOptions {
  protocol: Protocol;
  env?: Record<string, string>;
  /** Extra `podman run` options (before the image). */
  options?: string[];
  /** Command instead of the image's CMD. */
  cmd?: string[];
}

/** The uid of the image's user `buildbot`, to give it the secret file (0600) and the trigger directory. */
let buildbotUid = -1;

/** The image against a fresh test master, attached. */
async function runAttached(opts: RunOptions): Promise<Running> {
  const workername = `ctr-${opts.protocol}-${counter + 1}`;
  const password = `secret-${process.pid}-${counter + 1}`;
  const master = await startTestMaster({ workers: { [workername]: password } });
  const name = containerName();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'container-test-'));
  const secret = path.join(dir, 'workerpass');
  writeFileSync(secret, `${password}\n`, { mode: 0o600 });
  chownSync(secret, buildbotUid, buildbotUid);
  const trigger = path.join(dir, 'trigger');
  mkdirSync(trigger);
  chmodSync(trigger, 0o777);
  const env: Record<string, string> = {
    BUILDMASTER: '127.0.0.1',
    BUILDMASTER_PORT: String(opts.protocol === 'pb' ? master.pbPort : master.msgpackPort),
    BUILDMASTER_PROTOCOL: WIRE[opts.protocol],
    WORKERNAME: workername,
    WORKERPASS_FILE: SECRET_IN_CONTAINER,
    ...opts.env,
  };
  const attached = master.waitForWorker(workername, { timeoutMs: ATTACH_TIMEOUT_MS });
  const args = ['run', '-d', '--name', name, '--network=host', '-v', `${secret}:${SECRET_IN_CONTAINER}:ro`, '-v', `${trigger}:/trigger`];
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  args.push(...(opts.options ?? []), IMAGE, ...(opts.cmd ?? []));
  const logs = async () => {
    const r = await podmanAsync(['logs', name]);
    return r.stdout + r.stderr;
  };
  const close = async () => {
    removeContainer(name);
    await master.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    ok(await podmanAsync(args), 'podman run');
    const handle = await attached.catch(async (err: Error) => assert.fail(`${err.message}\n--- container output ---\n${await logs()}`));
    return { name, master, handle, trigger, logs, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The container's exit code once it has ended. */
async function exitCode(name: string): Promise<number> {
  const r = ok(await podmanAsync(['wait', name]), 'podman wait');
  return Number(r.trim());
}

interface Proc {
  pid: number;
  state: string;
  ppid: number;
  cmdline: string;
}

/**
 * The container's process table, read from its /proc (the image has no ps). A process that
 * ends while the loop runs (the loop's own `cat`s among them) is skipped; the loop's status
 * would otherwise be that of its last, failed `cat`.
 */
async function processTable(name: string): Promise<Proc[]> {
  const out = ok(
    await podmanAsync(['exec', name, 'sh', '-c', 'for p in /proc/[0-9]*; do s=$(cat $p/stat 2>/dev/null) && printf "%s\\t%s\\n" "$s" "$(tr "\\0" " " < $p/cmdline 2>/dev/null)"; done; exit 0']),
    'podman exec',
  );
  const procs: Proc[] = [];
  for (const line of out.split('\n')) {
    const m = /^(\d+) \((.*)\) (\S) (\d+) [^\t]*\t(.*)$/.exec(line);
    if (m) procs.push({ pid: Number(m[1]), state: m[3]!, ppid: Number(m[4]), cmdline: m[5]! });
  }
  assert.ok(
    procs.some((p) => p.pid === 1),
    `PID 1 in the table:\n${out}`,
  );
  return procs;
}

describe('the image under podman', { skip, timeout: 30 * 60_000 }, () => {
  before(async () => {
    await ensureImage();
    buildbotUid = Number(ok(podman(['run', '--rm', '--entrypoint', 'id', IMAGE, '-u', 'buildbot']), 'podman run id').trim());
    assert.ok(buildbotUid > 0);
  });

  test('the image: tini as PID 1, the worker as user buildbot, no compilers', (t) => {
    t.diagnostic(storageNote() || 'podman storage: overlay');
    const r = ok(podman(['run', '--rm', '--entrypoint', 'sh', IMAGE, '-c', 'command -v gcc cc g++ c++ make || true; id -un']), 'podman run');
    assert.equal(r, 'buildbot\n', 'no compiler on PATH, user buildbot');
    const inspect = JSON.parse(ok(podman(['image', 'inspect', IMAGE]), 'podman image inspect'))[0];
    assert.deepEqual(inspect.Config.Entrypoint, ['/usr/bin/tini', '--']);
  });

  for (const [protocol] of PROTOCOLS) {
    test(`${protocol}: configured by environment only (password from a mounted file), it attaches, runs a step, and podman stop drains it`, async () => {
      const c = await runAttached({ protocol });
      try {
        const environ = c.handle.info.environ as Record<string, unknown>;
        assert.equal(environ.BUILDMASTER, '127.0.0.1');
        assert.ok(!('WORKERPASS_FILE' in environ) && !('WORKERPASS' in environ), 'the secret stays out of the worker info');
        const r = await c.handle.startCommand('builder', 'shell', {
          command: ['sh', '-c', 'echo "in $(pwd) as $(id -un), pass=${WORKERPASS:-unset} file=${WORKERPASS_FILE:-unset}"'],
          workdir: 'build',
        }).done;
        assert.equal(r.status, 'SUCCESS', JSON.stringify(r));
        assert.equal(r.logs.stdout, 'in /buildbot/builder/build as buildbot, pass=unset file=unset\n');

        const step = c.handle.startCommand('builder', 'shell', {
          command: ['sh', '-c', 'echo waiting; while [ ! -e /trigger/go ]; do sleep 0.1; done; echo finished'],
          workdir: 'build',
        });
        await eventually(() => step.logs.stdout.includes('waiting'), 'the step to start', 60_000);
        const stopped = podmanAsync(['stop', '--time', '300', c.name]);
        await eventually(async () => (await c.logs()).includes('stopping once 1 running command(s) finish'), 'the worker to drain', 60_000);
        writeFileSync(path.join(c.trigger, 'go'), '');
        const done = await step.done;
        assert.equal(done.status, 'SUCCESS', 'the running step finished');
        assert.equal(done.logs.stdout, 'waiting\nfinished\n');
        ok(await stopped, 'podman stop');
        assert.equal(await exitCode(c.name), 0);
        const out = await c.logs();
        assert.match(out, /Received SIGTERM, shutting down\./);
        assert.ok(!out.includes('secret-'), 'no password in the logs');
      } finally {
        await c.close();
      }
    });
  }

  test('a second SIGTERM interrupts the running step; the container still exits 0', async () => {
    const c = await runAttached({ protocol: 'msgpack' });
    try {
      const step = c.handle.startCommand('builder', 'shell', { command: ['sh', '-c', 'echo started; sleep 600; echo never'], workdir: 'build' });
      await eventually(() => step.logs.stdout.includes('started'), 'the step to start', 60_000);
      ok(podman(['kill', '--signal', 'TERM', c.name]), 'podman kill');
      await eventually(async () => (await c.logs()).includes('stopping once 1 running command(s) finish'), 'the worker to drain', 60_000);
      ok(podman(['kill', '--signal', 'TERM', c.name]), 'podman kill');
      const done = await step.done;
      assert.notEqual(done.status, 'SUCCESS');
      assert.ok(!done.logs.stdout.includes('never'));
      assert.equal(await exitCode(c.name), 0);
      assert.match(await c.logs(), /Received SIGTERM again, stopping now\./);
    } finally {
      await c.close();
    }
  });

  // An orphan: a process in its own session whose parent (the step's shell) has ended; the
  // kernel hands it to PID 1. It ends when the test makes /trigger/orphan-end.
  const ORPHAN = 'setsid sh -c "while [ ! -e /trigger/orphan-end ]; do sleep 0.1; done" </dev/null >/dev/null 2>&1 & echo left';
  const orphanOf = (procs: Proc[]) => procs.filter((p) => p.cmdline.includes('orphan-end') && p.pid !== 1);

  test('orphans a step leaves behind are reaped by tini: none stays a zombie in the process table', async () => {
    const c = await runAttached({ protocol: 'pb' });
    try {
      const r = await c.handle.startCommand('builder', 'shell', { command: ['sh', '-c', ORPHAN], workdir: 'build' }).done;
      assert.equal(r.status, 'SUCCESS');
      let orphans: Proc[] = [];
      await eventually(async () => (orphans = orphanOf(await processTable(c.name))).length === 1 && orphans[0]!.ppid === 1, 'the orphan to belong to PID 1', 30_000);
      writeFileSync(path.join(c.trigger, 'orphan-end'), '');
      await eventually(async () => !(await processTable(c.name)).some((p) => p.pid === orphans[0]!.pid), 'the orphan to leave the process table', 30_000);
      const zombies = (await processTable(c.name)).filter((p) => p.state === 'Z');
      assert.deepEqual(zombies, []);
    } finally {
      await c.close();
    }
  });

  test('control: with node as PID 1 instead of tini the same orphan stays a zombie', async () => {
    const c = await runAttached({ protocol: 'pb', options: ['--entrypoint', 'node'], cmd: ['/opt/buildbot-worker/bin/worker.js', 'start', '--nodaemon', '/buildbot'] });
    try {
      assert.match(await c.logs(), /running as PID 1: orphaned build processes cannot be reaped/, 'the worker warns that it runs as PID 1');
      const r = await c.handle.startCommand('builder', 'shell', { command: ['sh', '-c', ORPHAN], workdir: 'build' }).done;
      assert.equal(r.status, 'SUCCESS');
      let orphans: Proc[] = [];
      await eventually(async () => (orphans = orphanOf(await processTable(c.name))).length === 1 && orphans[0]!.ppid === 1, 'the orphan to belong to PID 1', 30_000);
      writeFileSync(path.join(c.trigger, 'orphan-end'), '');
      await eventually(async () => (await processTable(c.name)).some((p) => p.pid === orphans[0]!.pid && p.state === 'Z'), 'the orphan to become a zombie', 30_000);
    } finally {
      await c.close();
    }
  });

  for (const [protocol, how] of [
    ['msgpack', 'env'],
    ['pb', 'flag'],
  ] as const) {
    test(`${protocol}: exit when idle (${how === 'env' ? 'WORKER_EXIT_WHEN_IDLE' : '--exit-when-idle'}) ends the container with 0 after its build`, async () => {
      const c = await runAttached(
        how === 'env'
          ? { protocol, env: { WORKER_EXIT_WHEN_IDLE: '1' } }
          : { protocol, cmd: ['node', '/opt/buildbot-worker/bin/worker.js', 'start', '--nodaemon', '--exit-when-idle', '1', '/buildbot'] },
      );
      try {
        const r = await c.handle.startCommand('builder', 'shell', { command: ['sh', '-c', 'echo one-shot'], workdir: 'build' }).done;
        assert.equal(r.logs.stdout, 'one-shot\n');
        assert.equal(await exitCode(c.name), 0);
        assert.match(await c.logs(), /no command ran for 1 seconds; stopping \(exit when idle\)/);
      } finally {
        await c.close();
      }
    });
  }

  test('a basedir volume kept across a killed and restarted container: the stale pid file does not stop it', async () => {
    const volume = `bbw-ts-test-${process.pid}-basedir`;
    podman(['volume', 'rm', '--force', volume]);
    ok(podman(['volume', 'create', volume]), 'podman volume create');
    const c = await runAttached({ protocol: 'pb', options: ['-v', `${volume}:/buildbot`] });
    try {
      const mountpoint = ok(podman(['volume', 'inspect', '--format', '{{.Mountpoint}}', volume]), 'podman volume inspect').trim();
      const r = await c.handle.startCommand('builder', 'shell', { command: ['sh', '-c', 'echo kept > marker'], workdir: 'build' }).done;
      assert.equal(r.status, 'SUCCESS');
      const workername = c.handle.name;
      const restart = async (what: string): Promise<WorkerHandle> => {
        const again = c.master.waitForEvent((e) => e.type === 'attach' && e.worker === workername, { timeoutMs: ATTACH_TIMEOUT_MS });
        ok(await podmanAsync(['start', c.name]), 'podman start');
        const e = await again.catch(async (err: Error) => assert.fail(`${what}: ${err.message}\n${await c.logs()}`));
        return (e as { handle: WorkerHandle }).handle;
      };

      // Killed: nothing removes its pid file, which names the worker's pid in the old container.
      ok(podman(['kill', '--signal', 'KILL', c.name]), 'podman kill');
      assert.equal(await exitCode(c.name), 137);
      const pidFile = path.join(mountpoint, 'twistd.pid');
      const stalePid = readFileSync(pidFile, 'utf8').trim();
      assert.match(stalePid, /^\d+$/);
      const second = await restart('after SIGKILL');
      const r2 = await second.startCommand('builder', 'shell', { command: ['cat', 'marker'], workdir: 'build' }).done;
      assert.equal(r2.logs.stdout, 'kept\n', 'the basedir survived');

      // Stopped cleanly, the pid file goes; one naming PID 1 (tini in the new container: a
      // worker that once ran as PID 1) is stale too.
      ok(await podmanAsync(['stop', '--time', '60', c.name]), 'podman stop');
      assert.equal(await exitCode(c.name), 0);
      assert.ok(!existsSync(pidFile), 'a clean stop removes the pid file');
      writeFileSync(pidFile, '1\n');
      chownSync(pidFile, buildbotUid, buildbotUid);
      const third = await restart('with a pid file naming PID 1');
      assert.equal((await third.startCommand('builder', 'shell', { command: ['cat', 'marker'], workdir: 'build' }).done).logs.stdout, 'kept\n');
      assert.ok((await c.logs()).includes('Removing stale pidfile /buildbot/twistd.pid (pid 1)'), await c.logs());
    } finally {
      await c.close();
      podman(['volume', 'rm', '--force', volume]);
    }
  });
});

const latentSkip = skip ?? realMasterUnavailable() ?? pythonDockerUnavailable();

function pythonDockerUnavailable(): string | undefined {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import docker'], { stdio: 'ignore' });
  return r.status === 0 ? undefined : 'python3-docker is not installed (apt-get install -y python3-docker)';
}

/** `podman system service`: the Docker API DockerLatentWorker talks to, on a unix socket. */
async function startPodmanService(dir: string): Promise<{ socket: string; stop(): Promise<void> }> {
  const socket = path.join(dir, 'podman.sock');
  const proc = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], { env: podmanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  // A cancelled test (a failed hook, a timeout) never reaches its finally: the service must
  // not outlive the test process.
  const killOnExit = () => proc.kill('SIGTERM');
  process.once('exit', killOnExit);
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
  const ping = () =>
    new Promise<boolean>((resolve) => {
      const req = http.request({ socketPath: socket, path: '/_ping', timeout: 5000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.end();
    });
  await eventually(ping, 'the podman API socket', 60_000, { ...REST_POLLING, context: () => err });
  return {
    socket,
    stop: async () => {
      process.removeListener('exit', killOnExit);
      if (proc.exitCode !== null) return;
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}

describe("a real Buildbot 3.7 master starts the image as a DockerLatentWorker through podman's Docker API", { skip: latentSkip, timeout: 20 * 60_000 }, () => {
  test('force → the container starts and attaches, the build runs in it, the master stops and removes it after build_wait_timeout', async (t) => {
    await ensureImage();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'latent-'));
    const service = await startPodmanService(dir);
    const master = new RealMaster({
      config: path.join(REPO_ROOT, 'test', 'container', 'latent-master.cfg'),
      env: {
        LATENT_PASSWORD: `latent-${process.pid}`,
        LATENT_DOCKER_HOST: `unix://${service.socket}`,
        LATENT_IMAGE: IMAGE,
        LATENT_BUILD_WAIT_TIMEOUT: '2',
      },
    });
    const containers = () => ok(podman(['ps', '-a', '--filter', 'name=^buildbot-latent-', '--format', '{{.Names}} {{.State}}']), 'podman ps').trim();
    try {
      await master.start();
      assert.equal(containers(), '', 'no container before the build');
      const forced = Date.now();
      const brid = await master.force('latent-build');
      await master.waitWorker('latent', 300_000);
      const attachedMs = Date.now() - forced;
      t.diagnostic(`force → attached: ${attachedMs} ms`);
      // Podman 4.3's `{{.State}}` is the human status ("Up 1 second ago"); newer ones say "running".
      assert.match(containers(), /^buildbot-latent-\w+ (running|Up\b.*)$/);
      const build = await master.waitBuild(brid, 300_000);
      assert.equal(build.results, SUCCESS, `${build.state_string}\n${master.log()}`);
      const out = build.steps.find((s) => s.name === 'in-container')?.logs.stdio ?? '';
      assert.match(out, /^user=buildbot basedir=\/buildbot pass=unset$/m, out);
      assert.match(out, /^init=.*\/usr\/bin\/tini -- node \/opt\/buildbot-worker\/bin\/worker\.js start --nodaemon \/buildbot/m, out);
      const finished = Date.now();
      await eventually(() => containers() === '', 'the master to stop and remove the container', 300_000, { ...REST_POLLING, context: () => `${containers()}\n${master.log()}` });
      t.diagnostic(`build end → container removed: ${Date.now() - finished} ms (build_wait_timeout 2 s)`);
      assert.equal(await master.workerConnected('latent'), false);
    } finally {
      await master.stop();
      await service.stop();
      rmSync(dir, { recursive: true, force: true });
      for (const name of containers().split('\n').filter(Boolean)) removeContainer(name.split(' ')[0]!);
    }
  });
});
