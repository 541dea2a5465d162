import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The test master's password check for msgpack logins (HTTP Basic on the upgrade,
 * `docs/protocol/msgpack.md` §1.1), in constant time: both sides are hashed first so
 * that neither the content nor the length of the configured password shows in the time
 * the check takes. An unknown worker is compared against a dummy, for the same reason.
 */

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export function passwordMatches(expected: string | undefined, given: string): boolean {
  const same = timingSafeEqual(digest(expected ?? ''), digest(given));
  return expected !== undefined && same;
}
