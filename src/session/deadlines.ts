/**
 * How long a master gets, the same for both protocols: after a keepalive/ping the master
 * must be heard from within twice the keepalive period (at least MIN_REPLY_DEADLINE_MS), so
 * a half-open link is noticed (buildbot issue #5832) while a master that is busy for longer
 * than one period (unpacking a large directory upload in its reactor) is not dropped; and
 * the login/attach must finish within that same time, capped at ATTACH_DEADLINE_MS (a
 * master that accepts and never attaches, buildbot issue #4678, would otherwise hold the
 * worker forever). README.md, "Where the Python worker has a known defect", tells the difference.
 */

/** Shortest time the master gets to answer a keepalive (PB) or a ping (msgpack). */
export const MIN_REPLY_DEADLINE_MS = 10_000;
/** Longest time the master gets to finish attaching the worker (it calls the worker several times first). */
export const ATTACH_DEADLINE_MS = 300_000;
/** After `close()`, time the connection gets to flush or finish its close handshake before it is destroyed. */
export const CLOSE_GRACE_MS = 2_000;

/** Reply deadline of a keepalive/ping sent every `keepaliveSeconds`. */
export function replyDeadlineMs(keepaliveSeconds: number): number {
  return Math.max(2 * keepaliveSeconds * 1000, MIN_REPLY_DEADLINE_MS);
}

/** Attach deadline: the reply deadline when keepalives are on, capped at ATTACH_DEADLINE_MS; without them ATTACH_DEADLINE_MS. */
export function attachDeadlineMs(keepaliveSeconds: number): number {
  if (!(keepaliveSeconds > 0)) return ATTACH_DEADLINE_MS;
  return Math.min(ATTACH_DEADLINE_MS, replyDeadlineMs(keepaliveSeconds));
}
