import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { backoffDelay, effectiveMaxDelay } from '../../src/worker/backoff.js';

const zero = () => 0;

test('delays follow Twisted backoffPolicy (1.5 ** attempt, capped at 60 s)', () => {
  const expected = [1, 1.5, 2.25, 3.375, 5.0625, 7.59375, 11.390625, 17.0859375, 25.62890625, 38.443359375, 57.6650390625, 60, 60];
  expected.forEach((want, attempt) => assert.equal(backoffDelay(attempt, zero), want, `attempt ${attempt}`));
});

test('the jitter is added after the cap, as in the "retry 6 in 11.45 s" logs of issue #5745', () => {
  assert.equal(
    backoffDelay(6, () => 0.059375),
    11.45,
  );
  assert.equal(
    backoffDelay(50, () => 0.5),
    60.5,
  );
});

test('options change initial delay, factor and cap', () => {
  assert.equal(backoffDelay(2, zero, { initial: 2, factor: 2, maxDelay: 100 }), 8);
  assert.equal(backoffDelay(10, zero, { maxDelay: 5 }), 5);
});

test('huge attempt counts neither overflow nor exceed the cap', () => {
  assert.equal(backoffDelay(1e9, zero), 60);
  assert.equal(
    backoffDelay(Number.MAX_SAFE_INTEGER, () => 0.99),
    60.99,
  );
});

test('any attempt and jitter give a delay in [min(1.5^a, 60), +1] (float rounding may reach the bound)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, j) => {
      const d = backoffDelay(attempt, () => j);
      const base = Math.min(1.5 ** Math.min(attempt, 100), 60);
      return d >= base && d <= base + 1;
    }),
  );
});

test('a broken jitter source is clamped into [0, 1)', () => {
  assert.equal(
    backoffDelay(0, () => Number.NaN),
    1,
  );
  assert.ok(backoffDelay(0, () => 5) < 2);
  assert.equal(
    backoffDelay(0, () => -3),
    1,
  );
});

test("maxdelay lowers the cap but never raises it above Twisted's 60 s", () => {
  assert.equal(effectiveMaxDelay(300), 60);
  assert.equal(effectiveMaxDelay(10), 10);
  assert.equal(effectiveMaxDelay(null), 60);
  assert.equal(effectiveMaxDelay(0), 60);
});
