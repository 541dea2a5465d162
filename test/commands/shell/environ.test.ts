import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeEnviron } from '../../../src/commands/shell/environ.js';
import { CommandError } from '../../../src/errors.js';

const worker = { PATH: '/usr/bin', HOME: '/h', PYTHONPATH: '/wp', DROP: 'x' };

test('merge with the worker environment like compute_environ', () => {
  const env = computeEnviron({ DROP: null, LIST: ['a', 'b'], SUB: '${HOME}/x:${MISSING}', PATH: '/opt/bin:${PATH}' }, worker);
  assert.equal(env['DROP'], undefined);
  assert.equal(env['LIST'], 'a:b');
  assert.equal(env['SUB'], '/h/x:');
  assert.equal(env['PATH'], '/opt/bin:/usr/bin');
  assert.equal(env['HOME'], '/h');
});

test('PYTHONPATH keeps the worker value appended', () => {
  assert.equal(computeEnviron({ PYTHONPATH: '/s' }, worker)['PYTHONPATH'], '/s:/wp');
  assert.equal(computeEnviron({ PYTHONPATH: ['/a', '/b'] }, {})['PYTHONPATH'], '/a:/b:');
  assert.equal(computeEnviron({ PYTHONPATH: null }, worker)['PYTHONPATH'], undefined);
  assert.equal(computeEnviron(undefined, worker)['PYTHONPATH'], '/wp');
});

test("values other than strings and lists are refused with Python's message", () => {
  assert.throws(
    () => computeEnviron({ N: 3 }, worker),
    (e: CommandError) => e.message === "'env' values must be strings or lists; key 'N' is incorrect",
  );
});
