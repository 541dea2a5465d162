import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tar from 'tar';
import { startMasterHttp, type MasterHttpServer } from '../../src/master/http/http-server.js';
import { startTestMaster, type TestMaster } from '../../src/master/test-master.js';
import type { WorkerHandle } from '../../src/master/worker-handle.js';
import { attachWorker, processesWith, startWorker, type Protocol, type RunningWorker } from './harness.js';
import { eventually } from '../helpers/eventually.js';

/**
 * The worker as users run it (the CLI, a separate process) driven by the embedded test
 * master, with the same cases on both protocols.
 */

const PASSWORD = 'e2e-Secret-pw';
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

for (const protocol of ['pb', 'msgpack'] as Protocol[]) {
  describe(`worker over ${protocol}`, () => {
    let master: TestMaster;
    let worker: RunningWorker;
    let handle: WorkerHandle;
    let builddir: string;
    let web: MasterHttpServer;
    const name = `e2e-${protocol}`;

    before(async () => {
      master = await startTestMaster({ workers: { [name]: PASSWORD }, builders: [{ name: 'builder', builddir: 'builder' }] });
      const port = protocol === 'pb' ? master.pbPort : master.msgpackPort;
      ({ worker, handle } = await attachWorker(master, { protocol, port, name, password: PASSWORD }));
      builddir = path.join(worker.basedir, 'builder', 'build');
      mkdirSync(builddir, { recursive: true });
      web = await startMasterHttp({ master, workers: [name], port: 0 });
    });

    after(async () => {
      await web?.close();
      await worker?.stop();
      await master?.close();
    });

    const run = (command: string, args: Record<string, unknown>, opts = {}) => handle.startCommand('builder', command, args, opts).done;

    /**
     * One command as a user submits it: a job through the REST API, followed to its end by
     * the log's SSE stream (which ends with the job), then its step and logs.
     */
    const viaRest = async (command: string, args: Record<string, unknown>) => {
      const auth = { Authorization: `Bearer ${web.token}` };
      const submitted = await fetch(`${web.url}/api/v1/jobs`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({ worker: name, builder: 'builder', steps: [{ command, args }] }),
      });
      assert.equal(submitted.status, 202);
      const id = ((await submitted.json()) as { request_id: number }).request_id;
      await (await fetch(`${web.url}/api/v1/jobs/${id}/log/sse`, { headers: auth })).text();
      const job = (await (await fetch(`${web.url}/api/v1/jobs/${id}`, { headers: auth })).json()) as { state: string; steps: Array<{ result: string; rc: number }> };
      assert.equal(job.state, 'finished');
      const { logs } = (await (await fetch(`${web.url}/api/v1/jobs/${id}/steps/0/logs`, { headers: auth })).json()) as { logs: Record<string, string> };
      return { status: job.steps[0]!.result, rc: job.steps[0]!.rc, logs: { stdout: '', stderr: '', header: '', stdio: '', ...logs } };
    };

    test('worker info: info/ files, basedir, commands; no password anywhere', () => {
      const info = handle.info;
      assert.equal(path.resolve(String(info.basedir)), path.resolve(worker.basedir));
      assert.match(String(info.admin), /\S/);
      assert.ok(typeof info.version === 'string' && info.version.length > 0);
      const commands = info.worker_commands as Record<string, string>;
      for (const c of ['shell', 'uploadFile', 'uploadDirectory', 'downloadFile', 'mkdir', 'rmdir', 'cpdir', 'stat', 'glob', 'listdir', 'rmfile']) {
        assert.ok(commands[c], `worker_commands has ${c}`);
      }
      assert.ok(!JSON.stringify(info).includes(PASSWORD), 'the password is not in the worker info');
      assert.ok(!worker.output().includes(PASSWORD), 'the password is not in the log');
    });

    test('shell: output, rc 0, workdir and env', async () => {
      const r = await viaRest('shell', { command: ['sh', '-c', 'pwd; echo "foo=$FOO"; echo oops >&2'], workdir: 'build', env: { FOO: 'bar' } });
      assert.equal(r.status, 'SUCCESS', JSON.stringify(r.logs));
      assert.equal(r.rc, 0);
      assert.equal(r.logs.stdout, `${builddir}\nfoo=bar\n`);
      assert.equal(r.logs.stderr, 'oops\n');
      assert.match(r.logs.header, /argv/);
    });

    test('shell: a failing command gives its rc', async () => {
      const r = await viaRest('shell', { command: 'exit 3', workdir: 'build' });
      assert.equal(r.status, 'FAILURE');
      assert.equal(r.rc, 3);
    });

    test('shell: 200 000 lines arrive complete and in order', async () => {
      const r = await viaRest('shell', { command: ['seq', '1', '200000'], workdir: 'build' });
      assert.equal(r.rc, 0);
      const lines = r.logs.stdout.split('\n');
      assert.equal(lines.length, 200001);
      for (let i = 0; i < 200000; i++) if (lines[i] !== String(i + 1)) assert.fail(`line ${i + 1} is ${lines[i]}`);
    });

    test('shell: a 100 000-character line loses no character', async () => {
      const r = await viaRest('shell', { command: ['sh', '-c', 'head -c 100000 /dev/zero | tr "\\0" x'], workdir: 'build' });
      assert.equal(r.rc, 0);
      assert.equal(r.logs.stdout.replaceAll('\n', ''), 'x'.repeat(100000));
    });

    test('shell: interrupt kills the whole process tree', async () => {
      const marker = `${Date.now() % 100000}${protocol === 'pb' ? 1 : 2}`;
      const started = handle.startCommand('builder', 'shell', { command: ['sh', '-c', `sleep 1${marker} & sleep 2${marker}; echo never`], workdir: 'build' });
      await eventually(() => processesWith(`sleep 1${marker}`).length > 0 && processesWith(`sleep 2${marker}`).length > 0, 'the sleeps to start', 10_000);
      await started.interrupt('test says stop');
      const r = await started.done;
      assert.notEqual(r.status, 'SUCCESS');
      assert.ok(r.interrupted);
      assert.doesNotMatch(r.logs.stdout, /never/);
      await eventually(() => processesWith(`sleep 1${marker}`).length === 0 && processesWith(`sleep 2${marker}`).length === 0, 'no survivors', 10_000);
    });

    test('shell: timeout without output kills the command', async () => {
      const marker = `3${Date.now() % 100000}`;
      const r = await run('shell', { command: ['sleep', marker], workdir: 'build', timeout: 1, sigtermTime: 1 });
      assert.notEqual(r.rc, 0);
      assert.match(r.logs.stdio, /timed out|timeout/i);
      assert.deepEqual(processesWith(`sleep ${marker}`), []);
    });

    test('uploadFile: the bytes arrive intact, keepstamp sends the times', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      writeFileSync(path.join(builddir, 'up.bin'), data);
      const r = await run('uploadFile', { workersrc: 'up.bin', workdir: 'build', blocksize: 262144, keepstamp: true }, { upload: { collect: true }, faithfulUtimeBug: false });
      assert.equal(r.status, 'SUCCESS', `${r.failure ?? ''} ${JSON.stringify(r.logs)}`);
      assert.equal(sha256(r.upload!.data), sha256(data));
      assert.ok(r.upload!.closed);
      assert.ok(r.upload!.utime, 'utime was sent');
      assert.equal(Math.round(r.upload!.utime![1]), Math.round(statSync(path.join(builddir, 'up.bin')).mtimeMs / 1000));
    });

    test('uploadFile: maxsize and a missing file are readable FAILUREs', async () => {
      writeFileSync(path.join(builddir, 'big.bin'), randomBytes(100_000));
      const big = await run('uploadFile', { workersrc: 'big.bin', workdir: 'build', maxsize: 1000 }, { upload: { collect: true } });
      assert.equal(big.status, 'FAILURE');
      assert.match(big.logs.stdio, /Maximum filesize reached/);
      const missing = await run('uploadFile', { workersrc: 'nope.bin', workdir: 'build' });
      assert.equal(missing.status, 'FAILURE');
      assert.match(missing.logs.stdio, /Cannot open file '.*nope\.bin' for upload/);
    });

    test('uploadDirectory: a tar with files, symlink and empty dir, streamed', async () => {
      const src = path.join(builddir, 'tree');
      mkdirSync(path.join(src, 'sub', 'empty'), { recursive: true });
      writeFileSync(path.join(src, 'a.txt'), 'alpha\n');
      writeFileSync(path.join(src, 'sub', 'b.bin'), randomBytes(200_000));
      symlinkSync('a.txt', path.join(src, 'link'));
      for (const compress of [null, 'gz']) {
        const r = await run('uploadDirectory', { workersrc: 'tree', workdir: 'build', compress }, { upload: { collect: true } });
        assert.equal(r.status, 'SUCCESS', `${r.failure ?? ''} ${JSON.stringify(r.logs)}`);
        assert.ok(r.upload!.unpacked);
        const out = mkdtempSync(path.join(os.tmpdir(), 'untar-'));
        writeFileSync(path.join(out, 'x.tar'), r.upload!.data);
        await tar.x({ file: path.join(out, 'x.tar'), cwd: out });
        assert.equal(readFileSync(path.join(out, 'a.txt'), 'utf8'), 'alpha\n');
        assert.equal(sha256(readFileSync(path.join(out, 'sub', 'b.bin'))), sha256(readFileSync(path.join(src, 'sub', 'b.bin'))));
        assert.equal(readlinkSync(path.join(out, 'link')), 'a.txt');
        assert.ok(lstatSync(path.join(out, 'sub', 'empty')).isDirectory());
      }
    });

    test('downloadFile: contents and mode, nothing half-written on failure', async () => {
      const data = randomBytes(1024 * 1024 + 5);
      const r = await run('downloadFile', { workerdest: 'down.bin', workdir: 'build', mode: 0o640 }, { download: { data, faithfulReadBug: false } });
      assert.equal(r.status, 'SUCCESS', `${r.failure ?? ''} ${JSON.stringify(r.logs)}`);
      const dest = path.join(builddir, 'down.bin');
      assert.equal(sha256(readFileSync(dest)), sha256(data));
      assert.equal(statSync(dest).mode & 0o777, 0o640);
      const tooBig = await run('downloadFile', { workerdest: 'big-down.bin', workdir: 'build', maxsize: 1000 }, { download: { data, faithfulReadBug: false } });
      assert.equal(tooBig.status, 'FAILURE');
      assert.match(tooBig.logs.stdio, /Maximum filesize reached/);
      assert.ok(!existsSync(path.join(builddir, 'big-down.bin')), 'no partial file');
    });

    test('filesystem commands: mkdir, stat, glob, listdir, cpdir, rmfile, rmdir', async () => {
      assert.equal((await run('mkdir', { dir: 'build/m/n' })).rc, 0);
      assert.ok(statSync(path.join(builddir, 'm', 'n')).isDirectory());
      writeFileSync(path.join(builddir, 'm', 'f1.txt'), 'one');
      writeFileSync(path.join(builddir, 'm', 'f2.log'), 'two');

      const st = await run('stat', { file: 'm/f1.txt', workdir: 'build' });
      assert.equal(st.rc, 0);
      const statValue = st.updates.find(([k]) => k === 'stat')?.[1] as unknown;
      const tuple = Array.isArray(statValue) ? statValue : (statValue as { items: unknown[] }).items;
      assert.equal(Number(tuple[6]), 3, 'st_size is the 7th field');

      const g = await run('glob', { path: 'build/m/*.txt' });
      assert.deepEqual(g.updates.find(([k]) => k === 'files')?.[1], [path.join(builddir, 'm', 'f1.txt')]);

      const l = await run('listdir', { dir: 'build/m' });
      assert.deepEqual([...(l.updates.find(([k]) => k === 'files')?.[1] as string[])].sort(), ['f1.txt', 'f2.log', 'n']);

      assert.equal((await run('cpdir', { fromdir: 'build/m', todir: 'build/m2' })).rc, 0);
      assert.equal(readFileSync(path.join(builddir, 'm2', 'f2.log'), 'utf8'), 'two');

      assert.equal((await run('rmfile', { path: path.join(builddir, 'm2', 'f1.txt') })).rc, 0);
      assert.ok(!existsSync(path.join(builddir, 'm2', 'f1.txt')));

      assert.equal((await run('rmdir', { dir: ['build/m', 'build/m2'] })).rc, 0);
      assert.ok(!existsSync(path.join(builddir, 'm')) && !existsSync(path.join(builddir, 'm2')));
    });

    test('an unknown command is refused and the worker keeps serving', async () => {
      const r = await run('noSuchCommand', {});
      assert.ok(r.startError || r.status === 'EXCEPTION', JSON.stringify(r));
      assert.equal((await run('shell', { command: 'true', workdir: 'build' })).rc, 0);
    });

    test('a wrong password: one clear log line per attempt, backoff, no crash', async () => {
      const bad = await startWorker({ protocol, port: protocol === 'pb' ? master.pbPort : master.msgpackPort, name, password: 'wrong-password' });
      try {
        await eventually(() => (bad.output().match(/unauthorized login/gi) ?? []).length >= 2, 'two refused attempts', 20_000);
        assert.equal(bad.child.exitCode, null, 'still running');
        assert.ok(!bad.output().includes('wrong-password'), 'the password is not logged');
        assert.ok(handle.attached, 'the good worker stays attached');
      } finally {
        await bad.stop();
      }
    });

    test('the worker reconnects after the master drops the connection', async () => {
      const again = master.waitForEvent((e) => e.type === 'attach' && e.worker === name, { timeoutMs: 30_000 });
      handle.disconnect();
      await again;
      handle = master.worker(name)!;
      assert.ok(handle.attached);
      assert.equal((await run('shell', { command: 'echo back', workdir: 'build' })).logs.stdout, 'back\n');
    });
  });
}
