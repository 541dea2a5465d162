import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IDLE_MEMORY_RELEASE_MS, IdleMemoryRelease } from '../../src/worker/idle-memory.js';
import { ManualClock } from '../../src/util/clock.js';

function setup() {
  const clock = new ManualClock();
  let busy = false;
  let collected = 0;
  const release = new IdleMemoryRelease({
    clock,
    busy: () => busy,
    collect: async () => {
      collected++;
    },
  });
  return { clock, release, setBusy: (b: boolean) => (busy = b), collected: () => collected };
}

test('memory is released once the worker has been idle for the release delay after a command', () => {
  const { clock, release, collected } = setup();
  release.idle();
  clock.advance(IDLE_MEMORY_RELEASE_MS - 1);
  assert.equal(collected(), 0);
  clock.advance(1);
  assert.equal(collected(), 1);
  clock.advance(10 * IDLE_MEMORY_RELEASE_MS);
  assert.equal(collected(), 1, 'once per idle period, not repeatedly');
});

test('a command running when the delay ends postpones the release to its own end', () => {
  const { clock, release, setBusy, collected } = setup();
  release.idle();
  clock.advance(IDLE_MEMORY_RELEASE_MS / 2);
  setBusy(true); // the next step of the build started
  clock.advance(IDLE_MEMORY_RELEASE_MS);
  assert.equal(collected(), 0);
  setBusy(false);
  release.idle(); // and ended
  clock.advance(IDLE_MEMORY_RELEASE_MS);
  assert.equal(collected(), 1);
});

test('each end of a command restarts the delay; stop cancels it', () => {
  const { clock, release, collected } = setup();
  release.idle();
  clock.advance(IDLE_MEMORY_RELEASE_MS - 1);
  release.idle();
  clock.advance(IDLE_MEMORY_RELEASE_MS - 1);
  assert.equal(collected(), 0);
  clock.advance(1);
  assert.equal(collected(), 1);
  release.idle();
  release.stop();
  clock.advance(2 * IDLE_MEMORY_RELEASE_MS);
  assert.equal(collected(), 1);
  assert.equal(clock.pending, 0);
});
