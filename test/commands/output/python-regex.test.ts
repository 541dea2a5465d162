import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePythonRegex, translatePythonRegex, UnsupportedRegexError } from '../../../src/commands/output/python-regex.js';
import { DEFAULT_OUTPUT_SETTINGS } from '../../../src/commands/update.js';

const sub = (pattern: string, text: string): string => text.replace(compilePythonRegex(pattern), '\n');

test('the default newline_re matches what Python matches', () => {
  const re = DEFAULT_OUTPUT_SETTINGS.newlineRe;
  assert.equal(sub(re, 'a\r\nb'), 'a\nb');
  assert.equal(sub(re, 'a\rb'), 'a\nb');
  assert.equal(sub(re, 'a\r'), 'a\r', 'a CR at the end waits for the next character');
  // Python "." matches "\r"; a raw JavaScript "." would not, so "\r\r" must become "\n\r".
  assert.equal(sub(re, 'a\r\r'), 'a\n\r');
  assert.equal(sub(re, 'x\x1b[uy'), 'x\ny');
  assert.equal(sub(re, 'x\x1b[12;345Hy\x1b[1;2fz'), 'x\ny\nz');
  assert.equal(sub(re, 'x\x1b[2Jy'), 'x\ny');
  assert.equal(sub(re, 'a\b\b\bb'), 'a\nb');
  assert.equal(sub(re, 'a\x1b[12;Hb'), 'a\x1b[12;Hb', 'incomplete sequences stay');
});

test('translation of Python-only syntax', () => {
  assert.equal(sub('\\0', 'a\0b'), 'a\nb');
  assert.equal(sub('\\101', 'xAx'), 'x\nx', 'three-digit octal');
  assert.equal(sub('(?P<c>x)(?P=c)', 'axxb'), 'a\nb');
  assert.equal(sub('a(?#comment)b', 'zabz'), 'z\nz');
  assert.equal(sub('[]x]', 'a]b'), 'a\nb', '] first in a set is literal');
  assert.equal(sub('(?i)abc', 'xABCx'), 'x\nx');
  assert.equal(sub('\\U0001F600', 'a😀b'), 'a\nb');
  assert.equal(sub('\\a', 'x\x07y'), 'x\ny');
  assert.equal(translatePythonRegex('.').source, '[^\\n]');
  assert.equal(translatePythonRegex('(?s).').source, '[\\s\\S]');
});

test('unsupported syntax is a typed error', () => {
  for (const p of ['(?(1)a|b)', '(?>a)', 'a++', '(?x) a', '\\N{DASH}', '[abc', 'a\\']) {
    assert.throws(() => compilePythonRegex(p), UnsupportedRegexError, p);
  }
  assert.throws(() => compilePythonRegex('(unclosed'), UnsupportedRegexError);
  assert.throws(() => compilePythonRegex('x'.repeat(5000)), UnsupportedRegexError);
});
