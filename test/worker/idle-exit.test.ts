import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/util/clock.js';
import { IdleExit } from '../../src/worker/idle-exit.js';

test('IdleExit fires once after idleMs without a running command, and not while one runs', () => {
  const clock = new ManualClock();
  const runner = { running: 0 };
  let fired = 0;
  const idle = new IdleExit({ runner, clock, idleMs: 2500, onIdle: () => fired++ });
  clock.advance(10_000);
  assert.equal(fired, 0, 'nothing before start()');
  idle.start();
  clock.advance(2000);
  runner.running = 2;
  clock.advance(10_000);
  assert.equal(fired, 0);
  runner.running = 0;
  clock.advance(2000);
  assert.equal(fired, 0);
  clock.advance(1000);
  assert.equal(fired, 1);
  clock.advance(60_000);
  idle.start();
  clock.advance(60_000);
  assert.equal(fired, 1, 'only once');
  assert.equal(idle.started, false);
});

test('IdleExit with 0 fires at the first look; stop() cancels', () => {
  const clock = new ManualClock();
  let fired = 0;
  const a = new IdleExit({ runner: { running: 0 }, clock, idleMs: 0, onIdle: () => fired++ });
  a.start();
  clock.advance(1);
  assert.equal(fired, 1);
  const b = new IdleExit({ runner: { running: 0 }, clock, idleMs: 1000, onIdle: () => fired++ });
  b.start();
  b.stop();
  clock.advance(5000);
  assert.equal(fired, 1);
});
