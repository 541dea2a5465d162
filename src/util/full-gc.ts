let gc: (() => void) | undefined;

/**
 * One full garbage collection of this process. Node exposes `gc` only when started with
 * `--expose-gc`, which a CLI started as `worker start` cannot add; so the flag is set just
 * long enough to create one context that has the function (the way test runners such as
 * Jest obtain it), then unset. Loaded on first use: starting a worker does not need it.
 */
export async function fullGarbageCollection(): Promise<void> {
  if (!gc) {
    const given = (globalThis as { gc?: () => void }).gc;
    if (given) gc = given;
    else {
      const [{ setFlagsFromString }, { runInNewContext }] = await Promise.all([import('node:v8'), import('node:vm')]);
      setFlagsFromString('--expose-gc');
      try {
        gc = runInNewContext('gc') as () => void;
      } finally {
        setFlagsFromString('--no-expose-gc');
      }
    }
  }
  gc();
}
