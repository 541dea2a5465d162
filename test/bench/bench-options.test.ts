import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderMarkdown } from '../../bench/report.js';
import { medianSpread, percentile, type Measurement } from '../../bench/results.js';
import { parseArgs } from '../../bench/run.js';
import { DEFAULT_REAL_SCALE, sizesFor } from '../../bench/scenarios/real-master.js';

/** The real-master section's options, sizes and the median (min–max) cells of the results table. */

test('parseArgs takes --masters, --repeat, --real-scale and --workloads, and rejects bad values', () => {
  const o = parseArgs(['--only', 'real-master', '--masters', '4.3', '--repeat', '5', '--real-scale', '0.5', '--workloads', 'log,steps']);
  assert.deepEqual(o.masters, ['4.3']);
  assert.equal(o.repeat, 5);
  assert.equal(o.realScale, 0.5);
  assert.deepEqual(o.workloads, ['log', 'steps']);
  const d = parseArgs([]);
  assert.deepEqual(d.masters, ['3.7', '4.3']);
  assert.equal(d.repeat, 3);
  assert.throws(() => parseArgs(['--masters', '3.8']), /--masters takes 3\.7,4\.3, not 3\.8/);
  assert.throws(() => parseArgs(['--repeat', '0']), /--repeat needs a positive number/);
  assert.throws(() => parseArgs(['--real-scale', 'x']), /--real-scale needs a positive number/);
  assert.throws(() => parseArgs(['--workloads', 'log,nope']), /--workloads takes .*not nope/);
});

test("sizesFor: --real-scale 1 is the embedded sections' full sizes; the default scales them down", () => {
  assert.deepEqual(sizesFor(false, 1), { logMB: 200, fileMB: 1024, files: 20_000, steps: 500, builders: 50, builderLogMB: 8 });
  const d = sizesFor(false);
  assert.equal(d.logMB, Math.round(200 * DEFAULT_REAL_SCALE));
  assert.equal(d.builders, 50);
  assert.ok(sizesFor(true).logMB < d.logMB);
});

test('percentile and medianSpread', () => {
  assert.equal(percentile([5, 1, 4, 2, 3], 50), 3);
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90), 9);
  assert.equal(percentile([7], 90), 7);
  assert.deepEqual(medianSpread([3, 1, 2]), { median: 2, spread: { min: 1, max: 3, runs: 3 } });
});

test('renderMarkdown shows medians of repeated runs with their min–max, other rows as before', () => {
  const rows: Measurement[] = [
    {
      scenario: 'a',
      metric: 'wall time',
      protocol: 'pb',
      unit: 's',
      better: 'lower',
      values: { ts: 2, python: 4 },
      spread: { ts: { min: 1.5, max: 2.5, runs: 3 }, python: { min: 3, max: 5, runs: 3 } },
    },
    { scenario: 'b', metric: 'throughput', protocol: 'pb', unit: 'MB/s', better: 'higher', values: { ts: 200, python: 50 } },
  ];
  const md = renderMarkdown(rows, { quick: true, date: 'now', machine: 'm', versions: 'v', notes: [], skipped: [] });
  assert.match(md, /\| a \| wall time \| pb \| 2\.00 s \(1\.50–2\.50\) \| 4\.00 s \(3\.00–5\.00\) \| 0\.50× \|/);
  assert.match(md, /\| b \| throughput \| pb \| 200 MB\/s \| 50\.0 MB\/s \| 4\.00× \|/);
});
