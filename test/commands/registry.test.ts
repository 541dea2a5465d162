import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMAND_VERSION, createRegistry, snakeCase } from '../../src/commands/registry.js';
import { shellCommandFactory } from '../../src/commands/shell.js';

// Python commands/registry.py registers exactly these names.
const PYTHON_NAMES = [
  'shell', 'uploadFile', 'upload_file', 'uploadDirectory', 'upload_directory', 'downloadFile', 'download_file',
  'mkdir', 'rmdir', 'cpdir', 'stat', 'glob', 'listdir', 'rmfile',
];

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

test('versions() answers getCommands: every name at COMMAND_VERSION', () => {
  const v = createRegistry().versions();
  assert.deepEqual(Object.keys(v).sort(), [...PYTHON_NAMES].sort());
  assert.ok(Object.values(v).every((x) => x === COMMAND_VERSION));
  assert.equal(COMMAND_VERSION, '3.3');
  assert.equal(snakeCase('uploadDirectory'), 'upload_directory');
});
