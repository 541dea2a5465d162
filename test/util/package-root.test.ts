import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findPackageRoot, PACKAGE_NAME, PACKAGE_ROOT, PACKAGE_VERSION, packagePath } from '../../src/util/package-root.js';

test('the package root is found from a module at any depth below it, past foreign package.json files', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'pkgroot-'));
  try {
    writeFileSync(path.join(tmp, 'package.json'), JSON.stringify({ name: PACKAGE_NAME, version: '1.2.3' }));
    const deep = path.join(tmp, 'dist', 'bundle', 'x');
    mkdirSync(deep, { recursive: true });
    // A package.json of another package, and a broken one, on the way up are skipped.
    writeFileSync(path.join(tmp, 'dist', 'bundle', 'package.json'), JSON.stringify({ name: 'other', version: '9.9.9' }));
    writeFileSync(path.join(deep, 'package.json'), '{ not json');
    assert.deepEqual(findPackageRoot(path.join(deep, 'chunk.js')), { dir: tmp, version: '1.2.3' });
    assert.deepEqual(findPackageRoot(path.join(tmp, 'main.js')), { dir: tmp, version: '1.2.3' });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('outside the package nothing is found', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'pkgroot-'));
  try {
    assert.equal(findPackageRoot(path.join(tmp, 'a', 'b.js')), undefined);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test("this package's root holds its CLI, page and package.json", () => {
  assert.ok(existsSync(packagePath('bin', 'worker.js')));
  assert.ok(existsSync(packagePath('www', 'index.html')));
  const pkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(PACKAGE_VERSION, pkg.version);
});
