/**
 * Reconnect delays exactly as the Python worker computes them: Twisted 22.4
 * `twisted.application.internet.backoffPolicy` (`docs/python-worker.md` §5):
 *
 *   delay(attempt) = min(initialDelay * factor ** min(100, attempt), maxDelay) + jitter()
 *
 * with jitter uniform in [0, 1). The first retry after a failure uses attempt 1
 * (1.5–2.5 s); from attempt 11 on the delay is 60 s plus jitter.
 */

export interface BackoffOptions {
  /** Seconds before the exponent is applied (Twisted's initialDelay). Default 1. */
  initial?: number;
  /** Growth per attempt. Default 1.5. */
  factor?: number;
  /** Upper bound in seconds before the jitter is added. Default 60. */
  maxDelay?: number;
}

export const DEFAULT_BACKOFF = Object.freeze({ initial: 1, factor: 1.5, maxDelay: 60 });

/** Twisted caps the exponent so that huge attempt counts cannot overflow to Infinity. */
const MAX_EXPONENT = 100;

/**
 * Seconds to wait before reconnect attempt `attempt` (1 for the first retry).
 * `random` returns a number in [0, 1) — `Math.random` in production, fixed in tests.
 */
export function backoffDelay(attempt: number, random: () => number, opts: BackoffOptions = {}): number {
  const initial = opts.initial ?? DEFAULT_BACKOFF.initial;
  const factor = opts.factor ?? DEFAULT_BACKOFF.factor;
  const maxDelay = opts.maxDelay ?? DEFAULT_BACKOFF.maxDelay;
  const exponent = Math.min(MAX_EXPONENT, Math.max(0, attempt));
  const jitter = random();
  // A jitter source outside [0, 1) would break the "at most maxDelay + 1" promise.
  const safeJitter = Number.isFinite(jitter) ? Math.min(Math.max(jitter, 0), 1 - Number.EPSILON) : 0;
  return Math.min(initial * factor ** exponent, maxDelay) + safeJitter;
}

/**
 * The cap used by the worker: Twisted's 60 s, lowered by `maxdelay` from buildbot.tac when
 * that is smaller (the Python worker ignores `maxdelay`; the docs promise it caps the wait).
 */
export function effectiveMaxDelay(maxdelaySeconds: number | null | undefined): number {
  if (maxdelaySeconds === null || maxdelaySeconds === undefined || !(maxdelaySeconds > 0)) return DEFAULT_BACKOFF.maxDelay;
  return Math.min(DEFAULT_BACKOFF.maxDelay, maxdelaySeconds);
}
