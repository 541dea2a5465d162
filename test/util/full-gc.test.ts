import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fullGarbageCollection } from '../../src/util/full-gc.js';
import { eventually } from '../helpers/eventually.js';

test('a full collection frees unreachable buffers, without exposing gc to the program', async () => {
  const collected: string[] = [];
  const registry = new FinalizationRegistry((name: string) => collected.push(name));
  (() => {
    registry.register(new ArrayBuffer(1024 * 1024), 'buffer');
  })();
  await fullGarbageCollection();
  // Finalizers run after the collection, on a later task.
  await eventually(() => collected.length > 0, 'the buffer finalized', 2_000);
  assert.deepEqual(collected, ['buffer']);
  assert.equal((globalThis as { gc?: unknown }).gc, undefined, 'the global gc is not installed');
  await fullGarbageCollection(); // the function is kept: a second call works too
});
