import { chmod, lstat, readdir, rmdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { osErrorOf, type OsError } from './os-error.js';
import { untilAborted } from './watchdog.js';

export interface RemoveTreeHooks {
  /** Aborting stops the removal (a StoppedError is thrown). */
  signal: AbortSignal;
  /** Called after each entry is removed. */
  onRemoved(path: string): void;
  /** Called for each entry that could not be removed; removal goes on with the others. */
  onError(path: string, error: OsError): void;
}

const isPermissionError = (e: OsError | undefined): boolean => e?.code === 'EACCES' || e?.code === 'EPERM';

/**
 * `rm -rf path`, plus what the Python worker's retry with `chmod -Rf u+rwx` achieves:
 * directories without read/write/search permission for the owner are opened up before
 * their contents are removed. Symbolic links are removed, never followed. A missing
 * `path` is not an error. Resolves to true when everything was removed.
 */
export async function removeTree(path: string, hooks: RemoveTreeHooks): Promise<boolean> {
  return removeEntry(path, hooks, true);
}

async function removeEntry(path: string, hooks: RemoveTreeHooks, isRoot = false): Promise<boolean> {
  const { signal } = hooks;
  let st;
  try {
    st = await untilAborted(lstat(path), signal);
  } catch (err) {
    const os = osErrorOf(err);
    if (os?.code === 'ENOENT') return true;
    return fail(path, err, hooks);
  }
  let ok = true;
  if (st.isDirectory()) {
    if ((st.mode & 0o700) !== 0o700) {
      // Best effort, as chmod -Rf: if it fails, the readdir/unlink below reports why.
      await untilAborted(chmod(path, (st.mode & 0o7777) | 0o700), signal).catch(rethrowStop);
    }
    let names: string[];
    try {
      names = await untilAborted(readdir(path), signal);
    } catch (err) {
      return fail(path, err, hooks);
    }
    for (const name of names) {
      if (!(await removeEntry(join(path, name), hooks))) ok = false;
    }
    if (!ok) return false;
  }
  try {
    await untilAborted(st.isDirectory() ? rmdir(path) : unlink(path), signal);
  } catch (err) {
    // Inside the tree, a parent that is not writable is opened up (u+rwx) and the
    // removal tried once more; the parent of the tree itself is left alone.
    if (isRoot || !isPermissionError(osErrorOf(err))) return fail(path, err, hooks);
    const parent = dirname(path);
    try {
      const pst = await untilAborted(lstat(parent), signal);
      await untilAborted(chmod(parent, (pst.mode & 0o7777) | 0o700), signal);
      await untilAborted(st.isDirectory() ? rmdir(path) : unlink(path), signal);
    } catch (err2) {
      return fail(path, err2, hooks);
    }
  }
  hooks.onRemoved(path);
  return true;
}

function rethrowStop(err: unknown): void {
  if (osErrorOf(err) === undefined) throw err;
}

function fail(path: string, err: unknown, hooks: RemoveTreeHooks): false {
  const os = osErrorOf(err);
  if (!os) throw err;
  hooks.onError(path, os);
  return false;
}
