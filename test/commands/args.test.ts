import { test } from 'node:test';
import assert from 'node:assert/strict';
import { optBool, optDict, optInt, optList, optNum, optStr, requireArgs, str, strList } from '../../src/commands/args.js';
import { CommandError } from '../../src/errors.js';
import { PyFloat, PyTuple } from '../../src/values.js';

const code = (c: string) => (e: unknown) => e instanceof CommandError && e.code === c;

test('requireArgs names every missing key like Python', () => {
  assert.throws(() => requireArgs('MakeDirectory', { a: null }, ['a', 'paths', 'x']), (e: CommandError) => e.message === 'MakeDirectory is missing args: paths, x' && e.code === 'ERR_MISSING_ARGS');
  requireArgs('X', { a: null }, ['a']);
});

test('typed readers: values, absence, wrong types', () => {
  const args = { s: 'x', n: 3, f: new PyFloat(2.5), b: 0, l: new PyTuple(['a', 'b']), d: { k: 1 }, nul: null, big: 7n };
  assert.equal(str(args, 's'), 'x');
  assert.equal(optStr(args, 'nul'), undefined);
  assert.throws(() => str(args, 'missing'), code('ERR_MISSING_ARGS'));
  assert.throws(() => str(args, 'n'), code('ERR_BAD_ARGS'));
  assert.equal(optNum(args, 'f'), 2.5);
  assert.equal(optInt(args, 'big'), 7);
  assert.throws(() => optInt(args, 'f'), code('ERR_BAD_ARGS'));
  assert.throws(() => optNum(args, 's'), code('ERR_BAD_ARGS'));
  assert.equal(optBool(args, 'b', true), false);
  assert.equal(optBool(args, 'nul', true), true);
  assert.throws(() => optBool(args, 'd', true), code('ERR_BAD_ARGS'));
  assert.deepEqual(optList(args, 'l'), ['a', 'b']);
  assert.deepEqual(strList(args, 'l'), ['a', 'b']);
  assert.deepEqual(strList(args, 's'), ['x']);
  assert.throws(() => strList({ l: ['a', 1] }, 'l'), code('ERR_BAD_ARGS'));
  assert.deepEqual(optDict(args, 'd'), { k: 1 });
  assert.throws(() => optDict(args, 'l'), code('ERR_BAD_ARGS'));
});
