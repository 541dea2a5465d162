import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ConfigError } from '../../errors.js';

/**
 * The test master's access token: every API, /ws and /sse request must carry it, as
 * `Authorization: Bearer TOKEN` (curl, scripts) or as the page's cookie. The page gets the
 * cookie by opening `/?token=TOKEN` once (the address the CLI prints at start-up): the
 * server answers with an HttpOnly, SameSite=Strict cookie and a redirect that drops the
 * token from the address bar and history. See README, "the embedded test master".
 */

/** Environment variable the CLI reads the token from when `--token` is not given. */
export const TOKEN_ENV = 'WORKER_TEST_MASTER_TOKEN';
/** Shortest token accepted from the user: a guessable token would defeat it. */
export const MIN_TOKEN_LENGTH = 16;
/** Characters a token may use: it travels in a header, a cookie and a URL unescaped. */
const TOKEN_CHARS = /^[A-Za-z0-9._~+/=-]+$/;

/** A fresh random token (192 bits, base64url). */
export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

/** Check a token given by the user; ConfigError saying what is wrong. */
export function checkToken(token: string): string {
  if (token.length < MIN_TOKEN_LENGTH) throw new ConfigError(`the access token must have at least ${MIN_TOKEN_LENGTH} characters`);
  if (!TOKEN_CHARS.test(token)) throw new ConfigError('the access token may only use letters, digits and . _ ~ + / = -');
  return token;
}

/** Compare in constant time (hashing first makes the length no shortcut either). */
export function tokenMatches(given: string, token: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

/** The cookie's name includes the port: cookies ignore ports, and two test masters on one host must not overwrite each other's. */
export function cookieName(port: number): string {
  return `worker-test-master-${port}`;
}

/** The Set-Cookie value for the page: HttpOnly (no script reads it), SameSite=Strict (no foreign site sends it). */
export function tokenCookie(port: number, token: string): string {
  return `${cookieName(port)}=${token}; Path=/; HttpOnly; SameSite=Strict`;
}

/** The tokens a request offers: the Bearer credential and the page's cookie. */
export function offeredTokens(req: IncomingMessage, port: number): string[] {
  const out: string[] = [];
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(auth);
    if (m) out.push(m[1]!);
  }
  const name = cookieName(port);
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const idx = part.indexOf('=');
    if (idx > 0 && part.slice(0, idx).trim() === name) out.push(part.slice(idx + 1).trim());
  }
  return out;
}

/** Whether the request carries the token in one of the accepted forms. */
export function isAuthorized(req: IncomingMessage, port: number, token: string): boolean {
  let ok = false;
  // Every offered value is compared, so the time taken does not tell which one matched.
  for (const given of offeredTokens(req, port)) if (tokenMatches(given, token)) ok = true;
  return ok;
}
