import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pythonUnavailable } from '../../bench/contenders.js';
import { realMasterUnavailable } from '../interop/real-master.js';

/**
 * The real-master section runs end to end on the 3.7 master with small sizes (two workloads,
 * one run each, PB): every figure it reports comes from a build whose output was checked, and
 * each row has both workers' values with their ratio. No timing is asserted.
 */

const RUN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'run.js');

test(
  'bench --quick --only real-master on the 3.7 master reports wall time, master CPU and RSS for both workers',
  { skip: realMasterUnavailable('3.7') ?? pythonUnavailable('pb'), timeout: 300_000 },
  (t) => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'bench-real-smoke-'));
    t.after(() => rmSync(out, { recursive: true, force: true }));
    const args = ['--quick', '--only', 'real-master', '--protocol', 'pb', '--masters', '3.7', '--repeat', '1', '--workloads', 'log,upload', '--out', out];
    const r = spawnSync(process.execPath, [RUN, ...args], { encoding: 'utf8', timeout: 290_000 });
    assert.equal(r.status, 0, `bench failed:\n${r.stderr}\n${r.stdout}`);
    const md = readFileSync(path.join(out, 'results.md'), 'utf8');
    for (const scenario of ['real 3.7 master: 2 MB log', 'real 3.7 master: 8 MB FileUpload']) {
      for (const metric of ['wall time (force → complete)', 'master CPU (user+sys)', 'worker CPU (user+sys)', 'worker peak RSS', 'worker RSS p90 over the build']) {
        const row = md.split('\n').find((l) => l.startsWith(`| ${scenario} | ${metric} | pb |`));
        assert.ok(row, `no row for ${scenario}, ${metric}:\n${md}`);
        // | scenario | metric | protocol | ours | python | ratio | ...
        const cells = row.split('|').map((c) => c.trim());
        assert.match(cells[4], /^\d+(\.\d+)? (s|MB)$/, `this worker: ${row}`);
        assert.match(cells[5], /^\d+(\.\d+)? (s|MB)$/, `the Python worker: ${row}`);
        assert.match(cells[6], /^\d+(\.\d+)?×$/, `ratio: ${row}`);
      }
    }
    assert.match(md, /the 3\.7 master ran with Debian's Python buildbot-worker \d/);
    assert.match(md, /RSS over the build .*this worker \d+–\d+ MB [▁▂▃▄▅▆▇█]{24}/);
    assert.doesNotMatch(md, /n\/a/);
  },
);
