import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/util/clock.js';
import { ShutdownFileWatcher } from '../../src/worker/shutdown-file.js';
import { memoryLogger } from './fakes.js';

test('touching shutdown.stamp triggers once per touch, polled every 10 s', () => {
  const clock = new ManualClock();
  const { log, messages } = memoryLogger();
  let mtime: number | undefined = 1000;
  let triggered = 0;
  const w = new ShutdownFileWatcher(
    '/b/shutdown.stamp',
    clock,
    log,
    () => triggered++,
    () => mtime,
  );
  w.start();
  clock.advance(10_000);
  assert.equal(triggered, 0, 'an existing file is not a request');
  mtime = 2000;
  clock.advance(9_999);
  assert.equal(triggered, 0);
  clock.advance(1);
  assert.equal(triggered, 1);
  clock.advance(30_000);
  assert.equal(triggered, 1, 'not repeated until touched again');
  mtime = 3000;
  clock.advance(10_000);
  assert.equal(triggered, 2);
  w.stop();
  mtime = 4000;
  clock.advance(60_000);
  assert.equal(triggered, 2);
  assert.ok(messages().includes('Initiating shutdown because /b/shutdown.stamp was touched'));
});

test('a file created after start triggers; a missing file does not', () => {
  const clock = new ManualClock();
  let mtime: number | undefined;
  let triggered = 0;
  const w = new ShutdownFileWatcher(
    '/b/shutdown.stamp',
    clock,
    memoryLogger().log,
    () => triggered++,
    () => mtime,
  );
  w.start();
  clock.advance(20_000);
  assert.equal(triggered, 0);
  mtime = 5;
  clock.advance(10_000);
  assert.equal(triggered, 1);
});
