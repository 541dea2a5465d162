import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ntExpandUser, ntJoin, ntSplitDrive, posixExpandHome, posixExpandUser, posixJoin } from '../../src/util/python-path.js';

test('posixJoin follows posixpath.join: absolute components reset, no normalisation', () => {
  assert.equal(posixJoin('/srv/w', 'b1'), '/srv/w/b1');
  assert.equal(posixJoin('/srv/w/', 'b1'), '/srv/w/b1');
  assert.equal(posixJoin('/srv/w', 'b1', 'build', 'out.txt'), '/srv/w/b1/build/out.txt');
  assert.equal(posixJoin('/srv/w', 'b1', '/abs/file'), '/abs/file');
  assert.equal(posixJoin('/srv/w', 'b1', ''), '/srv/w/b1/');
  assert.equal(posixJoin('/srv/w', 'b1', './x/../y'), '/srv/w/b1/./x/../y');
  assert.equal(posixJoin('', 'a'), 'a');
});

test('posixExpandUser uses the worker HOME and leaves ~user and plain paths alone', () => {
  const env = { HOME: '/home/tester/' };
  assert.equal(posixExpandUser('~/dl.txt', env), '/home/tester/dl.txt');
  assert.equal(posixExpandUser('~', env), '/home/tester');
  assert.equal(posixExpandUser('~', { HOME: '/' }), '/');
  assert.equal(posixExpandUser('~other/x', env), '~other/x');
  assert.equal(posixExpandUser('a/~/b', env), 'a/~/b');
});

test('posixJoin matches CPython posixpath.join vectors', () => {
  // Vectors checked against CPython's posixpath.join.
  const cases: Array<[string[], string]> = [
    [['/a', '/b'], '/b'],
    [['/a', 'b'], '/a/b'],
    [['/a/', 'b'], '/a/b'],
    [['a', ''], 'a/'],
    [['', 'a'], 'a'],
    [['', ''], ''],
    [['a', '', 'b'], 'a/b'],
    [['a', 'b/'], 'a/b/'],
    [['/base', 'x', '/abs', 'y'], '/abs/y'],
    [['/base', '../up'], '/base/../up'],
    [['/base//', 'c'], '/base//c'],
    [['a'], 'a'],
  ];
  for (const [parts, expected] of cases) {
    assert.equal(posixJoin(parts[0]!, ...parts.slice(1)), expected, JSON.stringify(parts));
  }
});

test('posixExpandHome replaces a leading ~ with the given home only', () => {
  assert.equal(posixExpandHome('~', '/home/u'), '/home/u');
  assert.equal(posixExpandHome('~/x/y', '/home/u'), '/home/u/x/y');
  assert.equal(posixExpandHome('~/x', '/home/u/'), '/home/u/x');
  assert.equal(posixExpandHome('~', '/'), '/');
  assert.equal(posixExpandHome('~/x', '/'), '/x');
  assert.equal(posixExpandHome('~other/x', '/home/u'), '~other/x');
  assert.equal(posixExpandHome('a/~/b', '/home/u'), 'a/~/b');
  assert.equal(posixExpandHome('/abs', '/home/u'), '/abs');
});

test('ntSplitDrive and ntJoin follow ntpath', () => {
  assert.deepEqual(ntSplitDrive('C:\\w\\b'), ['C:', '\\w\\b']);
  assert.deepEqual(ntSplitDrive('\\\\srv\\share\\dir'), ['\\\\srv\\share', '\\dir']);
  assert.equal(ntJoin('C:\\w', 'b1'), 'C:\\w\\b1');
  assert.equal(ntJoin('C:\\w\\', 'b1', 'build'), 'C:\\w\\b1\\build');
  assert.equal(ntJoin('C:\\w', '\\abs'), 'C:\\abs');
  assert.equal(ntJoin('C:\\w', 'D:\\x'), 'D:\\x');
  assert.equal(ntJoin('C:\\w', 'c:x'), 'c:\\w\\x');
  assert.equal(ntJoin('\\\\srv\\share', 'x'), '\\\\srv\\share\\x');
  assert.equal(ntJoin('C:', 'x'), 'C:x');
});

test('ntExpandUser prefers USERPROFILE, then HOMEDRIVE+HOMEPATH', () => {
  assert.equal(ntExpandUser('~\\x', { USERPROFILE: 'C:\\Users\\t' }), 'C:\\Users\\t\\x');
  assert.equal(ntExpandUser('~\\x', { HOMEDRIVE: 'D:', HOMEPATH: '\\Users\\t' }), 'D:\\Users\\t\\x');
  assert.equal(ntExpandUser('~\\x', {}), '~\\x');
  assert.equal(ntExpandUser('~bob\\x', { USERPROFILE: 'C:\\Users\\t', USERNAME: 't' }), 'C:\\Users\\bob\\x');
  assert.equal(ntExpandUser('~bob\\x', { USERPROFILE: 'C:\\odd\\home', USERNAME: 't' }), '~bob\\x');
});
