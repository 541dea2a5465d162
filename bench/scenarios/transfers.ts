import { execFileSync } from 'node:child_process';
import { linkSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { compareOnEmbeddedMaster, type Attached, type BenchContext, type PerContender } from '../compare.js';
import type { Protocol } from '../contenders.js';
import { writeBinaryFile, writeSmallFiles } from '../data.js';
import { MB, PeakRss } from '../proc-stats.js';
import { fileToSocket, socketToFile } from '../reference.js';
import { absoluteTarget, peakMemoryRows, ratioTarget, type Measurement, type PeakMemory } from '../results.js';

/**
 * File transfers with the block sizes of the 3.7 master's steps (FileUpload 256 KiB,
 * FileDownload and DirectoryUpload 16 KiB): a large file up and down, and a directory of
 * many small files up. MB/s and the worker's peak resident memory during each.
 */

export const NAME = 'transfers';

const UPLOAD_BLOCKSIZE = 256 * 1024;
const DOWNLOAD_BLOCKSIZE = 16 * 1024;
const DIRECTORY_BLOCKSIZE = 16 * 1024;

interface One {
  mbps: number;
  seconds: number;
  peak: PeakMemory;
}

async function measure(a: Attached, what: string, start: () => Promise<{ bytes: number; ok: boolean; detail: string }>): Promise<One> {
  const peak = new PeakRss(a.worker.pid);
  const t0 = performance.now();
  let r: { bytes: number; ok: boolean; detail: string };
  let peakBytes: number;
  try {
    r = await start();
  } finally {
    peakBytes = peak.stop();
  }
  const seconds = (performance.now() - t0) / 1000;
  if (!r.ok) throw new Error(`${what} failed on ${a.contender}/${a.protocol}: ${r.detail}`);
  return { mbps: r.bytes / MB / seconds, seconds, peak: { rss: peakBytes / MB, private: peak.privatePeak / MB } };
}

export async function run(ctx: BenchContext): Promise<Measurement[]> {
  const fileMB = ctx.quick ? 20 : 1024;
  const smallFiles = ctx.quick ? 500 : 20_000;
  const big = path.join(ctx.root, `big-${fileMB}mb.bin`);
  writeBinaryFile(big, fileMB * MB);
  const tree = path.join(ctx.root, `tree-${smallFiles}`);
  const treeInfo = writeSmallFiles(tree, smallFiles);
  const bigSize = statSync(big).size;

  const refUp = await fileToSocket(big);
  const refDown = await socketToFile(readFileSync(big), path.join(ctx.root, 'ref-down.bin'));
  rmSync(path.join(ctx.root, 'ref-down.bin'), { force: true });
  const refUpMBps = refUp.bytes / MB / refUp.seconds;
  const refDownMBps = refDown.bytes / MB / refDown.seconds;

  const byProtocol = await compareOnEmbeddedMaster(ctx, {}, async (a) => {
    const dir = a.builddir();
    linkSync(big, path.join(dir, 'big.bin'));
    execFileSync('cp', ['-al', tree, path.join(dir, 'tree')]);

    const up = await measure(a, 'uploadFile', async () => {
      const r = await a.client.runStep(
        a.name,
        { command: 'uploadFile', args: { workersrc: 'big.bin', workdir: 'build', blocksize: UPLOAD_BLOCKSIZE, maxsize: null, keepstamp: false } },
        { withLogs: false },
      );
      const bytes = Number(r.transfer?.bytes ?? 0);
      return { bytes, ok: r.status === 'SUCCESS' && bytes === bigSize, detail: `${r.status} ${bytes} bytes ${r.failure ?? ''} ${r.startError ?? ''}` };
    });
    ctx.progress(`    upload ${up.mbps.toFixed(1)} MB/s, peak RSS ${up.peak.rss.toFixed(0)} MB`);

    const down = await measure(a, 'downloadFile', async () => {
      // The master serves the file from its transfer directory (read into memory at the step's start).
      const r = await a.client.runStep(
        a.name,
        { command: 'downloadFile', args: { workerdest: 'down.bin', workdir: 'build', blocksize: DOWNLOAD_BLOCKSIZE, maxsize: null, mode: null }, mastersrc: path.basename(big) },
        { withLogs: false },
      );
      let size = -1;
      try {
        size = statSync(path.join(dir, 'down.bin')).size;
      } catch {
        /* missing: reported below */
      }
      return { bytes: bigSize, ok: r.status === 'SUCCESS' && size === bigSize && r.transfer?.bytes === bigSize, detail: `${r.status} file size ${size} ${r.failure ?? ''} ${r.startError ?? ''}` };
    });
    rmSync(path.join(dir, 'down.bin'), { force: true });
    ctx.progress(`    download ${down.mbps.toFixed(1)} MB/s, peak RSS ${down.peak.rss.toFixed(0)} MB`);

    const dirUp = await measure(a, 'uploadDirectory', async () => {
      const r = await a.client.runStep(
        a.name,
        { command: 'uploadDirectory', args: { workersrc: 'tree', workdir: 'build', blocksize: DIRECTORY_BLOCKSIZE, maxsize: null, compress: null } },
        { withLogs: false },
      );
      const bytes = Number(r.transfer?.bytes ?? 0);
      return { bytes, ok: r.status === 'SUCCESS' && bytes > treeInfo.bytes, detail: `${r.status} ${bytes} bytes ${r.failure ?? ''} ${r.startError ?? ''}` };
    });
    ctx.progress(`    directory ${dirUp.seconds.toFixed(2)} s, peak RSS ${dirUp.peak.rss.toFixed(0)} MB`);
    return { up, down, dirUp };
  });

  const out: Measurement[] = [];
  const pick = <T>(res: PerContender<T>, f: (x: T) => number) => ({
    ...(res.ts !== undefined ? { ts: f(res.ts) } : {}),
    ...(res.python !== undefined ? { python: f(res.python) } : {}),
  });
  for (const [protocol, res] of byProtocol) {
    const rows = (label: string, key: 'up' | 'down' | 'dirUp', ref?: { label: string; value: number }): Measurement[] => {
      const speed: Measurement = {
        scenario: label,
        metric: 'throughput',
        protocol: protocol as Protocol,
        unit: 'MB/s',
        better: 'higher',
        values: pick(res, (x) => x[key].mbps),
        missing: res.missing,
        reference: ref,
      };
      speed.targets = [ratioTarget(speed, '>=', 3)];
      if (ref) speed.targets.push(absoluteTarget(`≥50% of raw loopback`, speed.values.ts, (v) => v >= 0.5 * ref.value));
      return [speed, ...peakMemoryRows({ scenario: label, protocol: protocol as Protocol, missing: res.missing }, (f) => pick(res, (x) => f(x[key].peak)))];
    };
    const size = fileMB >= 1024 ? `${fileMB / 1024} GB` : `${fileMB} MB`;
    out.push(
      ...rows(`uploadFile ${size}`, 'up', { label: 'file → loopback TCP', value: refUpMBps }),
      ...rows(`downloadFile ${size}`, 'down', { label: 'loopback TCP → file', value: refDownMBps }),
      ...rows(`uploadDirectory ${smallFiles} files (${(treeInfo.bytes / MB).toFixed(0)} MB)`, 'dirUp'),
    );
    const secs: Measurement = {
      scenario: `uploadDirectory ${smallFiles} files (${(treeInfo.bytes / MB).toFixed(0)} MB)`,
      metric: 'time',
      protocol: protocol as Protocol,
      unit: 's',
      better: 'lower',
      values: pick(res, (x) => x.dirUp.seconds),
      missing: res.missing,
    };
    out.push(secs);
  }
  return out;
}
