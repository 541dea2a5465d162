import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFixture } from '../../session/pb/fixtures.js';
import { CHALLENGE_BYTES, checkResponse, expectedResponse, newChallenge } from '../../../src/master/pb/newcred.js';

interface DigestVector {
  challenge_hex: string;
  password_utf8: string;
  response_hex: string;
  master_accepted?: boolean;
}

const vectors = (JSON.parse(readFixture('banana-vectors.json')) as { login_response_digest: DigestVector[] }).login_response_digest;

test('expectedResponse matches every newcred vector, including the captured logins', () => {
  assert.ok(vectors.length >= 4);
  for (const v of vectors) {
    assert.equal(expectedResponse(v.password_utf8, Buffer.from(v.challenge_hex, 'hex')).toString('hex'), v.response_hex);
  }
});

test('checkResponse accepts the right digest only', () => {
  const captured = vectors.find((v) => v.master_accepted === true);
  assert.ok(captured);
  const challenge = Buffer.from(captured.challenge_hex, 'hex');
  assert.equal(checkResponse('pb-secret', challenge, Buffer.from(captured.response_hex, 'hex')), true);
  assert.equal(checkResponse('wrong-password', challenge, Buffer.from(captured.response_hex, 'hex')), false);
  assert.equal(checkResponse('pb-secret', challenge, Buffer.alloc(3)), false);
});

test('challenges are 16 fresh bytes', () => {
  const a = newChallenge();
  const b = newChallenge();
  assert.equal(a.length, CHALLENGE_BYTES);
  assert.notDeepEqual(a, b);
});
