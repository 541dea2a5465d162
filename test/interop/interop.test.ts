/**
 * This worker driven by real Buildbot masters — Debian bookworm's 3.7 and 4.3, the current
 * release (scripts/buildbot-4.3.sh) — over PB and over msgpack_experimental_v7. The worker is
 * created and started through its CLI exactly as a user would (`worker create-worker`,
 * `worker start --nodaemon`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import { CANCELLED, FAILURE, MASTER_VERSIONS, REPO_ROOT, RealMaster, SUCCESS, type BuildResult, realMasterUnavailable } from './real-master.js';
import { eventually } from '../helpers/eventually.js';

const WORKER_BIN = path.join(REPO_ROOT, 'bin', 'worker.js');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function step(build: BuildResult, name: string) {
  const s = build.steps.find((st) => st.name === name);
  assert.ok(s, `step ${name} in ${build.steps.map((x) => x.name).join(', ')}`);
  return s;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** INTEROP_MASTERS=4.3 (comma-separated) runs against those masters only; default all. */
const versions = process.env.INTEROP_MASTERS ? MASTER_VERSIONS.filter((v) => process.env.INTEROP_MASTERS!.split(',').includes(v)) : MASTER_VERSIONS;

for (const version of versions)
  describe(`real Buildbot ${version} master`, { skip: realMasterUnavailable(version), timeout: 20 * 60_000 }, () => {
    const master = new RealMaster({ version });
    const workers: ChildProcess[] = [];
    const downloadSource = Buffer.alloc(200_000);
    for (let i = 0; i < downloadSource.length; i++) downloadSource[i] = (i * 7919) % 251;

    before(async () => {
      master.writeData('download-src.bin', downloadSource);
      await master.start();
      for (const [name, pw, port, proto] of [
        ['pbworker', master.pbPassword, master.pbPort, 'pb'],
        ['mpworker', master.mpPassword, master.mpPort, 'msgpack_experimental_v7'],
      ] as const) {
        const basedir = path.join(master.dir, name);
        const created = spawnSync(process.execPath, [WORKER_BIN, 'create-worker', '--quiet', '--protocol', proto, '--keepalive', '30', basedir, `127.0.0.1:${port}`, name, pw], { encoding: 'utf8' });
        assert.equal(created.status, 0, created.stderr + created.stdout);
        const child = spawn(process.execPath, [WORKER_BIN, 'start', '--nodaemon', basedir], {
          cwd: basedir,
          stdio: 'ignore',
          env: { PATH: process.env.PATH, HOME: master.dir, LANG: 'C.UTF-8' },
        });
        workers.push(child);
      }
      await master.waitWorker('pbworker');
      await master.waitWorker('mpworker');
    });

    after(async () => {
      for (const w of workers) {
        if (w.exitCode === null) w.kill('SIGTERM');
      }
      await Promise.all(workers.map((w) => (w.exitCode === null ? new Promise((r) => w.once('exit', r)) : undefined)));
      await master.stop();
    });

    for (const [proto, suffix, workername] of [
      ['pb', 'pb', 'pbworker'],
      ['msgpack', 'mp', 'mpworker'],
    ] as const) {
      describe(proto, () => {
        test('a shell step succeeds with stdout, stderr and env', async () => {
          const b = await master.runBuild(`shell-ok-${suffix}`);
          assert.equal(b.results, SUCCESS, JSON.stringify(b.steps));
          const ch = step(b, 'ok').channels.stdio;
          assert.match(ch.o, /^hello stdout$/m);
          assert.match(ch.e, /^hello stderr$/m);
          assert.match(ch.h, /INTEROP_VAR=value/);
        });

        test('a non-zero exit code fails the step', async () => {
          const b = await master.runBuild(`shell-fail-${suffix}`);
          assert.equal(b.results, FAILURE);
          const s = step(b, 'fail');
          assert.match(s.channels.stdio.o, /failing/);
          assert.match(s.logs.stdio, /exit code 3/);
        });

        test('timeout without output kills the process', async () => {
          const b = await master.runBuild(`shell-timeout-${suffix}`);
          assert.equal(b.results, FAILURE);
          assert.match(step(b, 'timeout').channels.stdio.h, /command timed out: 2 seconds without output/);
          // 4.x reads the worker's failure_reason ('timeout_without_output') into the summary.
          if (version !== '3.7') assert.match(step(b, 'timeout').state_string, /\(timed out\)/);
          const pid = Number(readFileSync(path.join(master.dataDir, `timeout-${workername}.pid`), 'utf8'));
          await eventually(() => !alive(pid), `timed-out process ${pid} to be gone`, 10_000);
        });

        test('maxTime kills a process that keeps printing', async () => {
          const b = await master.runBuild(`shell-maxtime-${suffix}`);
          assert.equal(b.results, FAILURE);
          assert.match(step(b, 'maxtime').channels.stdio.h, /command timed out: 2 seconds elapsed/);
          if (version !== '3.7') assert.match(step(b, 'maxtime').state_string, /\(timed out\)/);
        });

        test('max_lines stops a command that prints too many lines', { skip: version === '3.7' && '3.7 has no max_lines' }, async () => {
          // 4.x sends max_lines with the shell command; the worker stops the command after that
          // many lines and reports failure_reason 'max_lines_failure', which the master shows.
          const b = await master.runBuild(`shell-maxlines-${suffix}`);
          assert.equal(b.results, FAILURE);
          const s = step(b, 'maxlines');
          assert.match(s.state_string, /\(max lines\)/);
          const out = s.channels.stdio.o;
          assert.doesNotMatch(out, /not-reached/);
          assert.match(out, /^1$/m);
          assert.ok(out.split('\n').length < 100_000, `${out.split('\n').length} lines`);
        });

        test('an interrupt from the master kills the whole process group', async () => {
          const brid = await master.force(`shell-interrupt-${suffix}`);
          const buildid = await master.waitStepStarted(brid, 'sleep');
          const pidFile = path.join(master.dataDir, `interrupt-child-${workername}.pid`);
          await eventually(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 'child pid file', 30_000);
          const child = Number(readFileSync(pidFile, 'utf8'));
          assert.ok(alive(child));
          await master.stopBuild(buildid);
          const b = await master.waitBuild(brid);
          assert.equal(b.results, CANCELLED);
          await eventually(() => !alive(child), `backgrounded child ${child} to be gone`, 10_000);
        });

        test('usePTY runs the command on a terminal', async () => {
          const b = await master.runBuild(`shell-pty-${suffix}`);
          assert.equal(b.results, SUCCESS, JSON.stringify(b.steps));
          assert.match(step(b, 'pty').channels.stdio.o, /\/dev\/pts\/\d+/);
        });

        test('20 MB of output arrives complete and in order', async () => {
          // Minutes on a loaded machine: the 3.7 msgpack master logs every message it gets.
          const b = await master.runBuild(`shell-bigoutput-${suffix}`, 10 * 60_000);
          assert.equal(b.results, SUCCESS, `${step(b, 'big').state_string}\n${step(b, 'big').logs.stdio?.slice(0, 3000)}`);
          const lines = step(b, 'big').channels.stdio.o.split('\n');
          lines.pop();
          assert.equal(lines.length, 2_000_000);
          for (let i = 0; i < lines.length; i++) {
            if (lines[i] !== String(i + 1).padStart(10, '0')) assert.fail(`line ${i + 1} is ${JSON.stringify(lines[i])}`);
          }
        });

        test('a 100 000-character line arrives without losing a character', async () => {
          const b = await master.runBuild(`shell-longline-${suffix}`);
          assert.equal(b.results, SUCCESS);
          const out = step(b, 'longline').channels.stdio.o;
          const [before, afterText] = out.split(/\n?after\n/);
          assert.equal(afterText, '');
          assert.equal(before.replace(/\n/g, ''), 'x'.repeat(100_000));
        });

        test('file transfers and filesystem steps', async () => {
          const b = await master.runBuild(`transfers-${suffix}`);
          for (const s of b.steps) assert.equal(s.results, SUCCESS, `${s.name}: ${s.state_string}\n${JSON.stringify(s.logs)}`);
          const dest = path.join(master.dataDir, workername);
          const uploaded = readFileSync(path.join(dest, 'big.bin'));
          assert.equal(uploaded.length, 3_000_000);
          const workerSide = readFileSync(path.join(dest, 'big.sha256'), 'utf8').split(' ')[0];
          assert.equal(sha256(uploaded), workerSide);
          for (const dir of ['updir', 'updir-gz']) {
            assert.equal(readFileSync(path.join(dest, dir, 'a.txt'), 'utf8'), 'file a\n');
            assert.equal(readFileSync(path.join(dest, dir, 'sub', 'b.txt'), 'utf8'), 'file b\n');
            assert.ok(statSync(path.join(dest, dir, 'empty')).isDirectory());
            assert.ok(lstatSync(path.join(dest, dir, 'link')).isSymbolicLink());
            assert.equal(readlinkSync(path.join(dest, dir, 'link')), 'a.txt');
          }
          assert.equal(readFileSync(path.join(dest, 'multi', 'a.txt'), 'utf8'), 'file a\n');
          assert.equal(readFileSync(path.join(dest, 'multi', 'sub', 'b.txt'), 'utf8'), 'file b\n');
          assert.equal(readFileSync(path.join(dest, 'multi', 'big.sha256'), 'utf8').split(' ')[0], workerSide);
          assert.equal(readFileSync(path.join(dest, 'multi-glob', 'a.txt'), 'utf8'), 'file a\n');
          assert.equal(readFileSync(path.join(dest, 'multi-glob', 'sub', 'b.txt'), 'utf8'), 'file b\n');
          const report = step(b, 'report').logs.stdio;
          if (proto === 'pb') {
            assert.match(report, /string contents/);
            assert.match(report, /\{"a": \[1, 2\]\}/);
            assert.match(report, new RegExp(`${sha256(downloadSource)}  downloaded.bin`));
          } else {
            // The 3.7 msgpack master never sends download data (msgpack.md §9.1): the steps
            // succeed and the files exist, empty, as with the Python worker.
            assert.match(report, new RegExp(`${sha256(Buffer.alloc(0))}  downloaded.bin`));
          }
        });

        test('uploading a missing file fails the step with a readable message', async () => {
          const b = await master.runBuild(`upload-missing-${suffix}`);
          const s = step(b, 'upload-missing');
          assert.equal(s.results, FAILURE, JSON.stringify(s));
          assert.match(s.logs.stdio, /Cannot open file '.*does-not-exist' for upload/);
          assert.ok(!existsSync(path.join(master.dataDir, 'nothing')));
        });

        test('uploading a missing directory fails the step with a readable message', async () => {
          const b = await master.runBuild(`dirupload-missing-${suffix}`);
          const s = step(b, 'dirupload-missing');
          assert.equal(s.results, FAILURE, JSON.stringify(s));
          assert.match(s.logs.stdio, /Cannot read directory '.*no-such-dir' for upload/);
        });

        test('maxsize stops an upload with a failure', async () => {
          const b = await master.runBuild(`upload-maxsize-${suffix}`);
          const s = step(b, 'upload-maxsize');
          assert.equal(s.results, FAILURE);
          assert.match(s.logs.stdio, /Maximum filesize reached/);
        });

        test('a program that cannot be started fails its step, and the build goes on', async () => {
          const b = await master.runBuild(`exec-failure-${suffix}`);
          assert.equal(b.results, FAILURE, JSON.stringify(b.steps));
          const missing = step(b, 'missing-program');
          assert.equal(missing.results, FAILURE, JSON.stringify(missing));
          // As the Python worker: the reason on stderr, exit code 1; the workdir was created.
          assert.match(
            missing.channels.stdio.e,
            /^Upon execvpe b'no-such-program' \[b'no-such-program', b'arg'\]\nFileNotFoundError: \[Errno 2\] No such file or directory: b'\/[^']*\/no-such-program'\n$/,
          );
          assert.match(missing.channels.stdio.h, / in dir \S+\/fresh\/dir /);
          assert.match(missing.logs.stdio, /program finished with exit code 1\n/);
          const notExecutable = step(b, 'not-executable');
          assert.equal(notExecutable.results, FAILURE, JSON.stringify(notExecutable));
          assert.equal(notExecutable.channels.stdio.e, "Upon execvpe b'./not-executable' [b'./not-executable']\nPermissionError: [Errno 13] Permission denied: b'./not-executable'\n");
          const next = step(b, 'after');
          assert.equal(next.results, SUCCESS, JSON.stringify(next));
          assert.match(next.channels.stdio.o, /^next step ran$/m);
        });

        test("a directory upload with compress='bz2' is extracted by the master", async () => {
          const b = await master.runBuild(`dirupload-bz2-${suffix}`);
          for (const s of b.steps) assert.equal(s.results, SUCCESS, `${s.name}: ${s.state_string}\n${JSON.stringify(s.logs)}`);
          const dest = path.join(master.dataDir, workername);
          const out = path.join(dest, 'bzdir');
          assert.equal(readFileSync(path.join(out, 'a.txt'), 'utf8'), 'file a\n');
          assert.equal(readFileSync(path.join(out, 'sub', 'b.txt'), 'utf8'), 'file b\n');
          assert.equal(sha256(readFileSync(path.join(out, 'sub', 'random.bin'))), readFileSync(path.join(dest, 'random.sha256'), 'utf8').split(' ')[0]);
          assert.ok(statSync(path.join(out, 'empty')).isDirectory());
          assert.equal(readlinkSync(path.join(out, 'link')), 'a.txt');
        });

        test('downloading to an unwritable place fails the step with a readable message', async () => {
          const b = await master.runBuild(`download-unwritable-${suffix}`);
          const s = step(b, 'download-unwritable');
          assert.equal(s.results, FAILURE, JSON.stringify(s));
          assert.match(s.logs.stdio, /Cannot open file '\/proc\/forbidden\/x.bin' for download/);
        });
      });
    }
  });
