import { setTimeout as sleep } from 'node:timers/promises';

export interface EventuallyOptions {
  /** Between checks; a check that asks a real master over HTTP wants a longer pause than a local one. */
  intervalMs?: number;
  /** Retry a check that throws (a server still starting) and name its last error on timeout, instead of failing at once. */
  retryErrors?: boolean;
  /** Appended to the timeout error, e.g. the master's log. */
  context?: () => string;
}

/**
 * The one polling helper of the test suite: wait until `check` holds, re-checking every
 * few milliseconds, and fail naming `what` after `timeoutMs` of wall-clock time. The bound
 * only keeps a broken test from hanging; nothing asserts how long the wait took.
 */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what = 'condition',
  timeoutMs = 15_000,
  { intervalMs = 5, retryErrors = false, context }: EventuallyOptions = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      if (!retryErrors) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) {
      const last = lastError === undefined ? '' : ` (last error: ${String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last}${context ? `\n${context()}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

/** Like `eventually`, for a value: resolves with the first truthy result of `get`. */
export async function eventuallyValue<T>(get: () => T | undefined | null | false, what = 'value', timeoutMs = 15_000): Promise<T> {
  let value: T | undefined | null | false;
  await eventually(() => Boolean((value = get())), what, timeoutMs);
  return value as T;
}
