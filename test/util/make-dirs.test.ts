import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { makeDirs } from '../../src/util/make-dirs.js';

test('makeDirs creates every missing parent and reports the first one made', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'mkdirs-'));
  assert.equal(await makeDirs(path.join(root, 'a', 'b', 'c')), path.join(root, 'a'));
  assert.ok(statSync(path.join(root, 'a', 'b', 'c')).isDirectory());
  assert.equal(await makeDirs(path.join(root, 'a', 'b')), undefined);
});

test('makeDirs refuses a path through a file', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'mkdirs-'));
  writeFileSync(path.join(root, 'f'), '');
  await assert.rejects(makeDirs(path.join(root, 'f', 'x')), (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR');
});

test('makeDirs ends with an error where recursive mkdir would spin (under /proc)', async (t) => {
  if (!existsSync('/proc/self')) return t.skip('no /proc here');
  await assert.rejects(makeDirs('/proc/forbidden/x'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
});
