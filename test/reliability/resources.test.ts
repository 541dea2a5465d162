import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestMaster, type TestMaster } from '../../src/master/test-master.js';
import type { WorkerHandle } from '../../src/master/worker-handle.js';
import { attachWorker, rssMiB, sampleRss, type Protocol, type RunningWorker } from './harness.js';

/**
 * Resource exhaustion and long runs: a disk that fills up during a download, a step that
 * writes 1 GB without a newline, 2 000 steps on one connection. The worker reports clearly,
 * leaves no partial file, and its memory and the master's live references stay bounded.
 * (Memory bounds are resource limits, not timings.)
 */

const RSS_LIMIT_MIB = 200;
const STEPS = Number(process.env.RELIABILITY_STEPS ?? 2000);

/** Figures for the README. */
export const resourceFigures = { peakRssNoNewlineMiB: 0, stepsRun: 0 };

for (const protocol of ['pb', 'msgpack'] as Protocol[]) {
  describe(`resources over ${protocol}`, () => {
    let master: TestMaster;
    let worker: RunningWorker;
    let handle: WorkerHandle;
    let builddir: string;
    const name = `res-${protocol}`;

    before(async () => {
      master = await startTestMaster({ workers: { [name]: 'res-pw' } });
      ({ worker, handle } = await attachWorker(master, { protocol, port: protocol === 'pb' ? master.pbPort : master.msgpackPort, name, password: 'res-pw' }));
      builddir = path.join(worker.basedir, 'builder', 'build');
      mkdirSync(builddir, { recursive: true });
    });

    after(async () => {
      await worker?.stop();
      await master?.close();
    });

    test('disk full during downloadFile: a clear ENOSPC failure, no partial file', async (t) => {
      const full = path.join(builddir, 'full');
      mkdirSync(full);
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', full], { stdio: 'pipe' });
      } catch (err) {
        t.skip(`cannot mount a 1 MiB tmpfs to fill up (needs root and mount rights): ${((err as { stderr?: Buffer }).stderr ?? '').toString().trim() || (err as Error).message}`);
        return;
      }
      try {
        const data = randomBytes(3 * 1024 * 1024);
        const r = await handle.startCommand(
          'builder',
          'downloadFile',
          { workerdest: 'full/big.bin', workdir: 'build', maxsize: null, blocksize: 65536, mode: null },
          { download: { data, faithfulReadBug: false } },
        ).done;
        assert.equal(r.status, 'FAILURE', JSON.stringify({ ...r, updates: undefined }));
        assert.match(r.logs.stdio, /No space left on device|ENOSPC/);
        assert.deepEqual(readdirSync(full), [], 'no partial or temporary file is left');
        // The disk has room again: the same download of a small file works.
        const small = await handle.startCommand(
          'builder',
          'downloadFile',
          { workerdest: 'full/small.bin', workdir: 'build', maxsize: null, blocksize: 65536, mode: null },
          { download: { data: data.subarray(0, 1000), faithfulReadBug: false } },
        ).done;
        assert.equal(small.status, 'SUCCESS', small.logs.stdio);
        assert.deepEqual(readdirSync(full), ['small.bin']);
      } finally {
        execFileSync('umount', [full]);
      }
    });

    test(`${STEPS} steps in one connection: live references flat, memory bounded`, { timeout: 150_000 }, async (t) => {
      writeFileSync(path.join(builddir, 'small.txt'), 'x'.repeat(10_000));
      const refs: number[] = [];
      const rss: number[] = [];
      for (let i = 0; i < STEPS; i++) {
        let r;
        // Mostly shell steps; every 20th a transfer, whose writer/reader references must be released too.
        if (i % 20 === 10) r = await handle.startCommand('builder', 'uploadFile', { workersrc: 'small.txt', workdir: 'build', blocksize: 4096 }, { upload: { collect: false } }).done;
        else if (i % 20 === 15)
          r = await handle.startCommand(
            'builder',
            'downloadFile',
            { workerdest: 'dl.txt', workdir: 'build', blocksize: 4096, maxsize: null, mode: null },
            { download: { data: 'y'.repeat(5000), faithfulReadBug: false } },
          ).done;
        else r = await handle.startCommand('builder', 'shell', { command: ['echo', `step ${i}`], workdir: 'build' }, { discardLogs: true }).done;
        assert.equal(r.status, 'SUCCESS', `step ${i}: ${r.logs.stdio} ${r.failure ?? ''}`);
        if (i % 250 === 249) {
          refs.push(master.liveReferences(name));
          rss.push(rssMiB(worker.child.pid!));
        }
      }
      resourceFigures.stepsRun += STEPS;
      t.diagnostic(`${protocol}: live references every 250 steps ${refs.join(' ')}; RSS MiB ${rss.map((v) => v.toFixed(0)).join(' ')}`);
      assert.ok(
        refs.every((v) => v === refs[0]),
        `live references stay flat: ${refs.join(' ')}`,
      );
      // After warm-up (the first 1 000 steps: heap and code caches settle) the rest may not add more than 40 MiB.
      // GC timing moves RSS by some 20 MiB between runs; a 6 000-step run (RELIABILITY_STEPS=6000) plateaus at ~108 MiB.
      const warm = rss[3]!;
      assert.ok(Math.max(...rss.slice(3)) - warm < 40, `RSS grows: ${rss.map((v) => v.toFixed(0)).join(' ')}`);
      assert.ok(Math.max(...rss) < RSS_LIMIT_MIB);
    });

    test(`a step writing 1 GB without a newline: worker RSS stays under ${RSS_LIMIT_MIB} MiB, every byte arrives`, { timeout: 120_000 }, async (t) => {
      const sampler = sampleRss(worker.child.pid!);
      const run = handle.startCommand('builder', 'shell', { command: ['sh', '-c', 'head -c 1073741824 /dev/zero | tr "\\0" x'], workdir: 'build' }, { discardLogs: true });
      const r = await run.done;
      const peak = sampler.stop();
      t.diagnostic(`${protocol}: peak worker RSS ${peak.toFixed(0)} MiB over ${sampler.samples.length} samples`);
      resourceFigures.peakRssNoNewlineMiB = Math.max(resourceFigures.peakRssNoNewlineMiB, peak);
      assert.equal(r.rc, 0, r.logs.stdio);
      // Every byte, broken into lines of max_line_length (4096, the master's setting) as the Python worker does.
      assert.equal(run.logChars.stdout, 1024 ** 3 + 1024 ** 3 / 4096, 'every byte arrived');
      assert.ok(peak < RSS_LIMIT_MIB, `peak RSS ${peak.toFixed(0)} MiB`);
    });
  });
}
