import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * twisted.cred "newcred" challenge/response as the PB master checks it
 * (`docs/protocol/pb.md` §5): challenge = 16 random bytes (Twisted uses the MD5 of
 * random data), response = MD5(MD5(password) ‖ challenge), password as UTF-8.
 */

export const CHALLENGE_BYTES = 16;

export function newChallenge(): Buffer {
  return createHash('md5').update(randomBytes(32)).digest();
}

export function expectedResponse(password: string, challenge: Uint8Array): Buffer {
  const inner = createHash('md5').update(Buffer.from(password, 'utf8')).digest();
  return createHash('md5').update(inner).update(challenge).digest();
}

/** Whether `response` proves knowledge of `password` for `challenge`. */
export function checkResponse(password: string, challenge: Uint8Array, response: Uint8Array): boolean {
  const expected = expectedResponse(password, challenge);
  return response.length === expected.length && timingSafeEqual(expected, response);
}
