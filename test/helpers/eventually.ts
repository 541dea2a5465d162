import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The one polling helper of the test suite: wait until `check` holds, re-checking every
 * few milliseconds, and fail naming `what` after `timeoutMs` of wall-clock time. The bound
 * only keeps a broken test from hanging; nothing asserts how long the wait took.
 */
export async function eventually(check: () => boolean | Promise<boolean>, what = 'condition', timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Like `eventually`, for a value: resolves with the first truthy result of `get`. */
export async function eventuallyValue<T>(get: () => T | undefined | null | false, what = 'value', timeoutMs = 15_000): Promise<T> {
  let value: T | undefined | null | false;
  await eventually(() => Boolean((value = get())), what, timeoutMs);
  return value as T;
}
