import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRegistry, snakeCase } from '../../src/commands/registry.js';
import { shellCommandFactory } from '../../src/commands/shell.js';

// Python commands/registry.py registers exactly these names.
const PYTHON_NAMES = ['shell', 'uploadFile', 'upload_file', 'uploadDirectory', 'upload_directory', 'downloadFile', 'download_file', 'mkdir', 'rmdir', 'cpdir', 'stat', 'glob', 'listdir', 'rmfile'];

test('the registry knows every command the Python worker registers, with snake_case aliases', () => {
  const r = createRegistry();
  for (const name of PYTHON_NAMES) assert.equal(typeof r.get(name), 'function', name);
  assert.equal(r.get('shell'), shellCommandFactory);
  assert.equal(r.get('upload_file'), r.get('uploadFile'));
  assert.equal(r.get('download_file'), r.get('downloadFile'));
  assert.equal(r.get('upload_directory'), r.get('uploadDirectory'));
  assert.equal(r.get('nope'), undefined);
  assert.equal(r.get('toString'), undefined);
});

test('versions() answers getCommands like buildbot-worker 4.3: every registered name at "3.3"', () => {
  // buildbot_worker/commands/base.py: command_version = "3.3" (4.3; the 3.7 worker said "3.1").
  const expected = Object.fromEntries(PYTHON_NAMES.map((name) => [name, '3.3']));
  assert.deepEqual(createRegistry().versions(), expected);
});

test('snakeCase spells the Python aliases', () => {
  assert.equal(snakeCase('uploadDirectory'), 'upload_directory');
  assert.equal(snakeCase('downloadFile'), 'download_file');
  assert.equal(snakeCase('shell'), 'shell');
});
