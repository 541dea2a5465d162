import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { CommandResult, StartCommandOptions } from '../../src/master/command-run.js';
import { startTestMaster, type TestMaster } from '../../src/master/test-master.js';
import type { WorkerHandle } from '../../src/master/worker-handle.js';
import { attachWorker, type Protocol, type RunningWorker } from './harness.js';

/**
 * What a confused or hostile master may send — unknown commands, missing or mistyped
 * arguments, paths that do not exist, absurd sizes, a writer that fails mid-upload, an
 * interrupt for a command that does not exist — gets a clear error back, and the worker
 * process keeps running and serving the next command.
 */

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The text the master gets for a refused or failed command. */
function errorText(r: CommandResult): string {
  return [r.startError, r.failure, r.logs.stdio].filter((s) => s).join('\n');
}

for (const protocol of ['pb', 'msgpack'] as Protocol[]) {
  describe(`bad input from the master over ${protocol}`, () => {
    let master: TestMaster;
    let worker: RunningWorker;
    let handle: WorkerHandle;
    let builddir: string;
    const name = `bad-${protocol}`;

    before(async () => {
      master = await startTestMaster({ workers: { [name]: 'bad-pw' } });
      ({ worker, handle } = await attachWorker(master, { protocol, port: protocol === 'pb' ? master.pbPort : master.msgpackPort, name, password: 'bad-pw' }));
      builddir = path.join(worker.basedir, 'builder', 'build');
      mkdirSync(builddir, { recursive: true });
    });

    after(async () => {
      await worker?.stop();
      await master?.close();
    });

    // After every case: the same process, the same connection, still serving.
    afterEach(async () => {
      assert.equal(worker.child.exitCode, null, `the worker process is still running\n${worker.output().slice(-2000)}`);
      assert.ok(handle.attached, 'still attached on the same connection');
      const r = await run('shell', { command: ['echo', 'still here'], workdir: 'build' });
      assert.equal(r.logs.stdout, 'still here\n');
    });

    const run = (command: string, args: Record<string, unknown>, opts: StartCommandOptions = {}) => handle.startCommand('builder', command, args, opts).done;

    /** Refused before or while starting: EXCEPTION with a message naming the problem. */
    async function expectRefused(command: string, args: Record<string, unknown>, text: RegExp): Promise<void> {
      const r = await run(command, args);
      assert.equal(r.status, 'EXCEPTION', JSON.stringify(r));
      assert.match(errorText(r), text);
    }

    test('an unknown command', async () => {
      await expectRefused('noSuchCommand', {}, /noSuchCommand/);
    });

    test('shell without its command argument', async () => {
      await expectRefused('shell', { workdir: 'build' }, /command/);
    });

    test('mistyped arguments: shell command 42 / timeout "soon" / env a string, uploadFile workersrc 5, mkdir dir {}', async () => {
      await expectRefused('shell', { command: 42, workdir: 'build' }, /command/);
      if (protocol === 'pb') await expectRefused('uploadFile', { workersrc: 5, workdir: 'build' }, /workersrc/);
      else {
        // The 3.7 master itself joins workersrc onto the builddir (msgpack.md §5): the worker gets a path "…/5".
        const r = await run('uploadFile', { workersrc: 5, workdir: 'build' }, { upload: { collect: true } });
        assert.equal(r.status, 'FAILURE');
        assert.match(errorText(r), /Cannot open file '.*\/5' for upload/);
      }
      // (The msgpack master stringifies path arguments itself, so this one only reaches a PB worker as sent.)
      if (protocol === 'pb') await expectRefused('mkdir', { dir: { not: 'a path' } }, /dir/);
      await expectRefused('shell', { command: ['true'], workdir: 'build', timeout: 'soon' }, /timeout/);
      await expectRefused('shell', { command: ['true'], workdir: 'build', env: 'PATH=/x' }, /env/);
    });

    test('paths that do not exist: stat, listdir, uploadFile, uploadDirectory, rmfile report failures', async () => {
      for (const [command, args] of [
        ['stat', { file: 'no/such/file', workdir: 'build' }],
        ['listdir', { dir: 'build/no/such/dir' }],
        ['uploadFile', { workersrc: 'no-such-file', workdir: 'build' }],
        ['uploadDirectory', { workersrc: 'no-such-dir', workdir: 'build' }],
      ] as const) {
        const r = await run(command, args, { upload: { collect: true } });
        assert.notEqual(r.status, 'SUCCESS', `${command}: ${JSON.stringify(r)}`);
        assert.match(errorText(r), /no[- ]such|No such file|Cannot open|not found|does not exist|ENOENT/i, `${command}: ${errorText(r)}`);
      }
      const rm = await run('rmfile', { path: path.join(builddir, 'no-such-file') });
      assert.ok(rm.rc !== null, `rmfile answered: ${JSON.stringify(rm)}`);
    });

    test('a program that does not exist', async () => {
      const r = await run('shell', { command: ['definitely-not-a-program-xyz'], workdir: 'build' });
      // As the Python worker: a failed step (rc 1, the reason in the log), not an exception.
      assert.equal(r.rc, 1);
      assert.equal(r.status, 'FAILURE');
      assert.match(errorText(r), /FileNotFoundError: \[Errno 2\] No such file or directory: b'[^']*\/definitely-not-a-program-xyz'/);
    });

    test('huge maxsize and blocksize: the transfer is bounded by the data, not by the numbers', async () => {
      const data = randomBytes(300_000);
      writeFileSync(path.join(builddir, 'huge-limits.bin'), data);
      const up = await run('uploadFile', { workersrc: 'huge-limits.bin', workdir: 'build', maxsize: Number.MAX_SAFE_INTEGER, blocksize: 2 ** 40 }, { upload: { collect: true } });
      assert.equal(up.status, 'SUCCESS', errorText(up));
      assert.equal(sha256(up.upload!.data), sha256(data));
      const down = await run(
        'downloadFile',
        { workerdest: 'huge-down.bin', workdir: 'build', maxsize: Number.MAX_SAFE_INTEGER, blocksize: 2 ** 40, mode: null },
        { download: { data, faithfulReadBug: false } },
      );
      assert.equal(down.status, 'SUCCESS', errorText(down));
      const negative = await run('uploadFile', { workersrc: 'huge-limits.bin', workdir: 'build', blocksize: -5 }, { upload: { collect: true } });
      assert.ok(negative.status === 'SUCCESS' || negative.status === 'EXCEPTION', errorText(negative));
    });

    test('a writer that errors mid-upload: a clear failure, the file is left alone', async () => {
      const data = randomBytes(2 * 1024 * 1024);
      writeFileSync(path.join(builddir, 'writer-fails.bin'), data);
      let writes = 0;
      const r = await run(
        'uploadFile',
        { workersrc: 'writer-fails.bin', workdir: 'build', blocksize: 65536 },
        {
          upload: {
            onData: () => {
              if (++writes === 3) throw new Error('disk on the master is full');
            },
          },
        },
      );
      assert.notEqual(r.status, 'SUCCESS');
      assert.match(errorText(r), /disk on the master is full/);
      assert.ok(existsSync(path.join(builddir, 'writer-fails.bin')));
    });

    test('an interrupt for a command that does not exist', async () => {
      const connection = handle as unknown as { sendInterrupt(run: { builderName: string; commandId: string }, why: string): Promise<void> };
      const outcome = await connection.sendInterrupt({ builderName: 'builder', commandId: 'no-such-command-id' }, 'stray interrupt').then(
        () => 'answered',
        (err: Error) => `refused: ${err.message}`,
      );
      assert.match(outcome, /^answered$|^refused: .*\S/);
    });
  });
}
