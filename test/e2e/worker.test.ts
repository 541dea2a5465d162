import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tar from 'tar';
import { startMasterHttp, type MasterHttpServer } from '../../src/master/http/http-server.js';
import { startTestMaster, type TestMaster } from '../../src/master/test-master.js';
import type { WorkerHandle } from '../../src/master/worker-handle.js';
import { MasterClient, MasterClientError, type StepRequest } from '../helpers/master-client.js';
import { attachWorker, processesWith, startWorker, type Protocol, type RunningWorker } from './harness.js';
import { eventually } from '../helpers/eventually.js';

/**
 * The worker as users run it (the CLI, a separate process) driven by the embedded test
 * master through its REST API, as users drive it, with the same cases on both protocols.
 * Only the set-up (starting the master, dropping a connection) uses the master's own API.
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
    let client: MasterClient;
    /** The master's transfer directory: files downloadFile steps send (`mastersrc`). */
    let transferDir: string;
    const name = `e2e-${protocol}`;

    before(async () => {
      master = await startTestMaster({ workers: { [name]: PASSWORD }, builders: [{ name: 'builder', builddir: 'builder' }] });
      const port = protocol === 'pb' ? master.pbPort : master.msgpackPort;
      ({ worker, handle } = await attachWorker(master, { protocol, port, name, password: PASSWORD }));
      builddir = path.join(worker.basedir, 'builder', 'build');
      mkdirSync(builddir, { recursive: true });
      transferDir = mkdtempSync(path.join(os.tmpdir(), 'e2e-transfer-'));
      web = await startMasterHttp({ master, workers: [name], port: 0, transferDir });
      client = MasterClient.of(web);
    });

    after(async () => {
      await web?.close();
      await worker?.stop();
      await master?.close();
      if (transferDir) rmSync(transferDir, { recursive: true, force: true });
    });

    /** One command as a user submits it: a one-step job through the REST API, followed to its end. */
    const run = (command: string, args: Record<string, unknown>, extra: Omit<StepRequest, 'command' | 'args'> = {}) => client.runStep(name, { command, args, ...extra });

    test('worker info: info/ files, basedir, commands; no password anywhere', async () => {
      const info = (await client.request('GET', `/api/v1/workers/${name}`)).info as Record<string, unknown>;
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
      const r = await run('shell', { command: ['sh', '-c', 'pwd; echo "foo=$FOO"; echo oops >&2'], workdir: 'build', env: { FOO: 'bar' } });
      assert.equal(r.status, 'SUCCESS', JSON.stringify(r.logs));
      assert.equal(r.rc, 0);
      assert.equal(r.logs.stdout, `${builddir}\nfoo=bar\n`);
      assert.equal(r.logs.stderr, 'oops\n');
      assert.match(r.logs.header, /argv/);
    });

    test('shell: a failing command gives its rc', async () => {
      const r = await run('shell', { command: 'exit 3', workdir: 'build' });
      assert.equal(r.status, 'FAILURE');
      assert.equal(r.rc, 3);
    });

    test('shell: 200 000 lines arrive complete and in order', async () => {
      const r = await run('shell', { command: ['seq', '1', '200000'], workdir: 'build' });
      assert.equal(r.rc, 0);
      const lines = r.logs.stdout.split('\n');
      assert.equal(lines.length, 200001);
      for (let i = 0; i < 200000; i++) if (lines[i] !== String(i + 1)) assert.fail(`line ${i + 1} is ${lines[i]}`);
    });

    test('shell: a 100 000-character line loses no character', async () => {
      const r = await run('shell', { command: ['sh', '-c', 'head -c 100000 /dev/zero | tr "\\0" x'], workdir: 'build' });
      assert.equal(r.rc, 0);
      assert.equal(r.logs.stdout.replaceAll('\n', ''), 'x'.repeat(100000));
    });

    test('shell: interrupt kills the whole process tree', async () => {
      const marker = `${Date.now() % 100000}${protocol === 'pb' ? 1 : 2}`;
      const id = await client.submit({ worker: name, steps: [{ command: 'shell', args: { command: ['sh', '-c', `sleep 1${marker} & sleep 2${marker}; echo never`], workdir: 'build' } }] });
      await eventually(() => processesWith(`sleep 1${marker}`).length > 0 && processesWith(`sleep 2${marker}`).length > 0, 'the sleeps to start', 10_000);
      await client.stop(id);
      const job = await client.waitForJob(id);
      assert.equal(job.result, 'CANCELLED');
      assert.notEqual(job.steps[0]!.result, 'SUCCESS');
      assert.doesNotMatch((await client.stepLogs(id, 0)).stdout ?? '', /never/);
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
      const r = await run('uploadFile', { workersrc: 'up.bin', workdir: 'build', blocksize: 262144, keepstamp: true }, { keep: true });
      assert.equal(r.status, 'SUCCESS', `${r.failure ?? ''} ${JSON.stringify(r.logs)}`);
      assert.equal(sha256(await client.upload(r.jobId, 0)), sha256(data));
      assert.equal(r.transfer!.bytes, data.length);
      assert.equal(r.transfer!.closed, true);
      const utime = r.transfer!.utime as [number, number] | null;
      assert.ok(utime, 'utime was sent');
      assert.equal(Math.round(utime[1]), Math.round(statSync(path.join(builddir, 'up.bin')).mtimeMs / 1000));
    });

    test('uploadFile: maxsize and a missing file are readable FAILUREs', async () => {
      writeFileSync(path.join(builddir, 'big.bin'), randomBytes(100_000));
      const big = await run('uploadFile', { workersrc: 'big.bin', workdir: 'build', maxsize: 1000 }, { keep: true });
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
        const r = await run('uploadDirectory', { workersrc: 'tree', workdir: 'build', compress }, { keep: true });
        assert.equal(r.status, 'SUCCESS', `${r.failure ?? ''} ${JSON.stringify(r.logs)}`);
        assert.equal(r.transfer!.unpacked, true);
        const out = mkdtempSync(path.join(os.tmpdir(), 'untar-'));
        writeFileSync(path.join(out, 'x.tar'), await client.upload(r.jobId, 0));
        await tar.x({ file: path.join(out, 'x.tar'), cwd: out });
        assert.equal(readFileSync(path.join(out, 'a.txt'), 'utf8'), 'alpha\n');
        assert.equal(sha256(readFileSync(path.join(out, 'sub', 'b.bin'))), sha256(readFileSync(path.join(src, 'sub', 'b.bin'))));
        assert.equal(readlinkSync(path.join(out, 'link')), 'a.txt');
        assert.ok(lstatSync(path.join(out, 'sub', 'empty')).isDirectory());
      }
    });

    test('downloadFile: contents and mode, nothing half-written on failure', async () => {
      const data = randomBytes(1024 * 1024 + 5);
      writeFileSync(path.join(transferDir, `down-${protocol}.bin`), data);
      const r = await run('downloadFile', { workerdest: 'down.bin', workdir: 'build', mode: 0o640 }, { mastersrc: `down-${protocol}.bin` });
      assert.equal(r.status, 'SUCCESS', `${r.failure ?? ''} ${JSON.stringify(r.logs)}`);
      const dest = path.join(builddir, 'down.bin');
      assert.equal(sha256(readFileSync(dest)), sha256(data));
      assert.equal(statSync(dest).mode & 0o777, 0o640);
      assert.equal(r.transfer!.bytes, data.length);
      const tooBig = await run('downloadFile', { workerdest: 'big-down.bin', workdir: 'build', maxsize: 1000 }, { mastersrc: `down-${protocol}.bin` });
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
      // The REST API refuses it before it reaches a worker ...
      await assert.rejects(run('noSuchCommand', {}), (err: MasterClientError) => err.status === 400);
      // ... so the worker's own refusal is reached through the master's protocol API.
      const r = await handle.startCommand('builder', 'noSuchCommand', {}).done;
      assert.ok(r.startError || r.status === 'EXCEPTION', JSON.stringify(r));
      assert.equal((await run('shell', { command: 'true', workdir: 'build' })).rc, 0);
    });

    test('a wrong password: one clear log line per attempt, backoff, no crash', async () => {
      const bad = await startWorker({ protocol, port: protocol === 'pb' ? master.pbPort : master.msgpackPort, name, password: 'wrong-password' });
      try {
        await eventually(() => (bad.output().match(/unauthorized login/gi) ?? []).length >= 2, 'two refused attempts', 20_000);
        assert.equal(bad.child.exitCode, null, 'still running');
        assert.ok(!bad.output().includes('wrong-password'), 'the password is not logged');
        assert.equal((await client.request('GET', `/api/v1/workers/${name}`)).connected, true, 'the good worker stays attached');
      } finally {
        await bad.stop();
      }
    });

    test('the worker reconnects after the master drops the connection', async () => {
      const again = master.waitForEvent((e) => e.type === 'attach' && e.worker === name, { timeoutMs: 30_000 });
      handle.disconnect();
      await again;
      handle = master.worker(name)!;
      assert.equal((await client.request('GET', `/api/v1/workers/${name}`)).connected, true);
      assert.equal((await run('shell', { command: 'echo back', workdir: 'build' })).logs.stdout, 'back\n');
    });
  });
}
