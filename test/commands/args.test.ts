import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flagArg, optBool, optDict, optInt, optionalIntArg, optList, optNum, optStr, pathListArg, positiveIntArg, requireArgs, secondsArg, str, stringArg, strList } from '../../src/commands/args.js';
import { CommandError, ERR } from '../../src/errors.js';
import { PyFloat, PyTuple } from '../../src/values.js';

const code = (c: string) => (e: unknown) => e instanceof CommandError && e.code === c;

test('requireArgs names every missing key like Python', () => {
  assert.throws(
    () => requireArgs('MakeDirectory', { a: null }, ['a', 'paths', 'x']),
    (e: CommandError) => e.message === 'MakeDirectory is missing args: paths, x' && e.code === ERR.MISSING_ARGS,
  );
  requireArgs('X', { a: null }, ['a']);
});

test('typed readers: values, absence, wrong types', () => {
  const args = { s: 'x', n: 3, f: new PyFloat(2.5), b: 0, l: new PyTuple(['a', 'b']), d: { k: 1 }, nul: null, big: 7n };
  assert.equal(str(args, 's'), 'x');
  assert.equal(optStr(args, 'nul'), undefined);
  assert.throws(() => str(args, 'missing'), code(ERR.MISSING_ARGS));
  assert.throws(() => str(args, 'n'), code(ERR.BAD_ARGS));
  assert.equal(optNum(args, 'f'), 2.5);
  assert.equal(optInt(args, 'big'), 7);
  assert.throws(() => optInt(args, 'f'), code(ERR.BAD_ARGS));
  assert.throws(() => optNum(args, 's'), code(ERR.BAD_ARGS));
  assert.equal(optBool(args, 'b', true), false);
  assert.equal(optBool(args, 'nul', true), true);
  assert.throws(() => optBool(args, 'd', true), code(ERR.BAD_ARGS));
  assert.deepEqual(optList(args, 'l'), ['a', 'b']);
  assert.deepEqual(strList(args, 'l'), ['a', 'b']);
  assert.deepEqual(strList(args, 's'), ['x']);
  assert.throws(() => strList({ l: ['a', 1] }, 'l'), code(ERR.BAD_ARGS));
  assert.deepEqual(optDict(args, 'd'), { k: 1 });
  assert.throws(() => optDict(args, 'l'), code(ERR.BAD_ARGS));
});

test('file and transfer readers: values, defaults, and messages naming the command', () => {
  const msg = (text: string) => (e: unknown) => e instanceof CommandError && e.code === ERR.BAD_ARGS && e.message === text;
  assert.equal(stringArg('Stat', { path: 'p' }, 'path'), 'p');
  assert.throws(() => stringArg('Stat', { path: '' }, 'path'), msg("Stat: argument 'path' must be a non-empty string, got string"));
  assert.throws(() => stringArg('Stat', { path: null }, 'path'), msg("Stat: argument 'path' must be a non-empty string, got null"));
  assert.deepEqual(pathListArg('MakeDirectory', { paths: 'a' }, 'paths'), ['a']);
  assert.deepEqual(pathListArg('MakeDirectory', { paths: ['a', 'b'] }, 'paths'), ['a', 'b']);
  assert.throws(() => pathListArg('MakeDirectory', { paths: ['a', ''] }, 'paths'), msg("MakeDirectory: argument 'paths' must be a list of non-empty strings, got list"));
  assert.equal(secondsArg('RemoveDirectory', {}, 'timeout', 120), 120);
  assert.equal(secondsArg('RemoveDirectory', { timeout: null }, 'timeout', 120), null);
  assert.throws(() => secondsArg('RemoveDirectory', { timeout: -1 }, 'timeout', 120), msg("RemoveDirectory: argument 'timeout' must be a non-negative number or null, got number"));
  assert.equal(positiveIntArg('UploadFile', { blocksize: 16 }, 'blocksize'), 16);
  assert.throws(() => positiveIntArg('UploadFile', { blocksize: 0 }, 'blocksize'), msg("UploadFile: argument 'blocksize' must be a positive integer, got number"));
  assert.equal(optionalIntArg('UploadFile', { maxsize: null }, 'maxsize'), null);
  assert.equal(optionalIntArg('UploadFile', { maxsize: 5 }, 'maxsize'), 5);
  assert.throws(() => optionalIntArg('UploadFile', { maxsize: 1.5 }, 'maxsize'), msg("UploadFile: argument 'maxsize' must be a non-negative integer or null, got number"));
  assert.equal(flagArg({}, 'keepstamp', true), true);
  assert.equal(flagArg({ keepstamp: 0 }, 'keepstamp', true), false);
  assert.equal(flagArg({ keepstamp: null }, 'keepstamp', true), false);
  assert.equal(flagArg({ keepstamp: 'x' }, 'keepstamp', false), true);
});
