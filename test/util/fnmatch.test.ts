import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { fnmatch, fnmatchRegExp } from '../../src/util/fnmatch.js';

test('fnmatch supports *, ?, [seq], [!seq] and treats the rest literally', () => {
  assert.ok(fnmatch('WORKERPASS', 'WORKER*'));
  assert.ok(fnmatch('AB', 'A?'));
  assert.ok(!fnmatch('ABC', 'A?'));
  assert.ok(fnmatch('X1', 'X[0-9]'));
  assert.ok(!fnmatch('X1', 'X[!0-9]'));
  assert.ok(fnmatch('a.b', 'a.b'));
  assert.ok(!fnmatch('axb', 'a.b'));
  assert.ok(fnmatch('[x', '[x'));
  assert.ok(!fnmatch('workerpass', 'WORKERPASS'), 'case-sensitive as on POSIX');
});

describe('fnmatchRegExp', () => {
  const matches = (pattern: string, name: string): boolean => fnmatchRegExp(pattern).test(name);
  it('follows Python fnmatch for classes and literals', () => {
    assert.ok(matches('[]a]', ']'));
    assert.ok(matches('[]a]', 'a'));
    assert.ok(matches('[!]a]', 'b'));
    assert.ok(!matches('[!]a]', ']'));
    assert.ok(matches('[^a]', '^'), 'a leading ^ is literal in Python');
    assert.ok(!matches('[^a]', 'b'));
    assert.ok(matches('[z-a]x', 'x') === false, 'a reversed range matches nothing');
    assert.ok(matches('[a-]', '-'));
    assert.ok(matches('a\\b', 'a\\b'), 'backslash is literal');
    assert.ok(matches('*.(txt)', 'x.(txt)'));
    assert.ok(matches('?', '😀'), '? is one code point');
    assert.ok(matches('[', '['));
    assert.ok(matches('a*', 'a\nb'));
  });
});
