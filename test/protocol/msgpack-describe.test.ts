import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeMsgpackValue } from '../../src/protocol/msgpack.js';

test('describeMsgpackValue shows JSON, falls back to String, and cuts long text at 200 characters', () => {
  assert.equal(describeMsgpackValue({ a: [1, 'x'] }), '{"a":[1,"x"]}');
  assert.equal(describeMsgpackValue(undefined), 'undefined');
  assert.equal(describeMsgpackValue(10n), '10', 'JSON.stringify throws on bigint');
  const long = describeMsgpackValue('y'.repeat(300));
  assert.equal(long, `"${'y'.repeat(199)}...`);
});
