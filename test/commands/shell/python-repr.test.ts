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

test('pyRepr stops at its length and depth caps, however much the value shares', async () => {
  const { MAX_REPR_DEPTH, MAX_REPR_LENGTH } = await import('../../../src/commands/shell/python-repr.js');
  // Each level holds the one below twice: 2^22 leaves, 20+ MB of text uncapped.
  let shared: unknown = ['leaf'];
  for (let i = 0; i < 22; i++) shared = [shared, shared];
  const text = pyRepr({ logfiles: shared });
  assert.ok(text.length <= MAX_REPR_LENGTH + 3, `${text.length} characters`);
  assert.ok(text.startsWith("{'logfiles': [[[[") && text.endsWith('...'));
  // Deeper than the cap: the rest is shown as Python shows recursion.
  let deep: unknown = 'bottom';
  for (let i = 0; i < MAX_REPR_DEPTH + 10; i++) deep = [deep];
  assert.equal(pyRepr(deep), '['.repeat(MAX_REPR_DEPTH) + '[...]' + ']'.repeat(MAX_REPR_DEPTH));
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  assert.equal(pyRepr(cycle), "{'self': ".repeat(MAX_REPR_DEPTH) + '{...}' + '}'.repeat(MAX_REPR_DEPTH));
  // A long string shows its start; small values are unchanged.
  assert.equal(pyRepr('x'.repeat(100), 10), "'xxxxxxxxx...");
  assert.equal(pyRepr([1, 'a', null, true, { k: Buffer.from('b') }]), "[1, 'a', None, True, {'k': b'b'}]");
});
