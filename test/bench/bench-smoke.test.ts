import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pythonUnavailable } from '../../bench/contenders.js';

/**
 * The benchmark command runs end to end: the quick log-streaming scenario over PB writes a
 * results table with a column for each worker, and the chart. No timing is asserted.
 */

const RUN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'run.js');

test('bench --quick --only log-streaming writes results.md with both workers and results.svg', { timeout: 120_000 }, (t) => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'bench-smoke-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const r = spawnSync(process.execPath, [RUN, '--quick', '--only', 'log-streaming', '--protocol', 'pb', '--out', out], { encoding: 'utf8', timeout: 110_000 });
  assert.equal(r.status, 0, `bench failed:\n${r.stderr}\n${r.stdout}`);
  const md = readFileSync(path.join(out, 'results.md'), 'utf8');
  const header = md.split('\n').find((l) => l.startsWith('| Scenario'));
  assert.ok(header, md);
  assert.match(header, /\| this worker \| Python buildbot-worker \| Ratio \|/);
  const row = md.split('\n').find((l) => l.includes('throughput to the master') && l.includes('| pb |'));
  assert.ok(row, md);
  const cells = row.split('|').map((c) => c.trim());
  // | scenario | metric | protocol | ours | python | ratio | ...
  assert.match(cells[4], /^\d+(\.\d+)? MB\/s$/, `this worker's throughput: ${row}`);
  if (pythonUnavailable('pb') === undefined) {
    assert.match(cells[5], /^\d+(\.\d+)? MB\/s$/, `the Python worker's throughput: ${row}`);
    assert.match(cells[6], /^\d+(\.\d+)?×$/, `ratio: ${row}`);
  } else {
    assert.match(cells[5], /^n\/a/);
  }
  assert.ok(existsSync(path.join(out, 'results.svg')));
  assert.match(readFileSync(path.join(out, 'results.svg'), 'utf8'), /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
});
