import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pyBytesRepr, pyRepr, pyStrRepr, shellQuote } from '../../../src/commands/shell/python-repr.js';

test('repr of str, bytes, dicts as Python prints them', () => {
  assert.equal(pyStrRepr("it's"), `"it's"`);
  assert.equal(pyStrRepr(`a'b"c`), `'a\\'b"c'`);
  assert.equal(pyStrRepr('é\n\t\x01'), "'é\\n\\t\\x01'");
  assert.equal(pyBytesRepr(Buffer.from('é\n')), "b'\\xc3\\xa9\\n'");
  assert.equal(pyBytesRepr(Buffer.from("printf 'x'")), `b"printf 'x'"`);
  assert.equal(pyRepr({ custom: 'custom.log', f: { filename: 'a', follow: true } }), "{'custom': 'custom.log', 'f': {'filename': 'a', 'follow': True}}");
  assert.equal(pyRepr({}), '{}');
});

test('shlex.quote', () => {
  assert.equal(shellQuote('cp'), 'cp');
  assert.equal(shellQuote('-R'), '-R');
  assert.equal(shellQuote('/a/b.c'), '/a/b.c');
  assert.equal(shellQuote(''), '""');
  assert.equal(shellQuote("echo it's"), `'echo it'"'"'s'`);
});
