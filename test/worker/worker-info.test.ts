import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { collectWorkerInfo, MAX_INFO_FILE_BYTES, readInfoFiles } from '../../src/worker/worker-info.js';

/** A logger that keeps its warnings, to check which files were skipped. */
function recordingLog(): { log: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
  return { log, lines };
}

test('info files of every size up to the limit are read whole; a larger one is skipped with a warning', async () => {
  const basedir = mkdtempSync(path.join(os.tmpdir(), 'worker-info-'));
  try {
    mkdirSync(path.join(basedir, 'info'));
    const sizes: Record<string, number> = { empty: 0, small: 20, page: 4096, over_page: 4097, large: 300_000, at_limit: MAX_INFO_FILE_BYTES };
    const expected: Record<string, string> = {};
    for (const [name, size] of Object.entries(sizes)) {
      // Different text in each, so a stale or shifted buffer would show.
      expected[name] = Array.from({ length: size }, (_, i) => String.fromCharCode(97 + ((i * 7 + name.length) % 26))).join('');
      writeFileSync(path.join(basedir, 'info', name), expected[name]!);
    }
    writeFileSync(path.join(basedir, 'info', 'too_big'), Buffer.alloc(MAX_INFO_FILE_BYTES + 1, 0x61));
    const { log, lines } = recordingLog();
    const files = await readInfoFiles(basedir, log);
    assert.deepEqual(Object.keys(files).sort(), Object.keys(expected).sort());
    for (const name of Object.keys(expected)) assert.equal(files[name], expected[name], name);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /too_big: larger than 1048576 bytes, not sent/);
  } finally {
    rmSync(basedir, { recursive: true, force: true });
  }
});

test('os-release is parsed into os_* keys', async () => {
  const basedir = mkdtempSync(path.join(os.tmpdir(), 'worker-info-'));
  try {
    const osRelease = path.join(basedir, 'os-release');
    writeFileSync(osRelease, '# comment\nID=debian\nVERSION_ID="12"\nEMPTY=\n');
    const { log } = recordingLog();
    const info = await collectWorkerInfo({ basedir, osReleaseFile: osRelease, environ: {}, numcpus: 2, version: '3.7', commands: {}, deleteLeftoverDirs: false, log });
    assert.equal(info.os_id, 'debian');
    assert.equal(info.os_version_id, '12');
    assert.equal('os_empty' in info, false);
  } finally {
    rmSync(basedir, { recursive: true, force: true });
  }
});
