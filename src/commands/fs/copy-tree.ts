import { chmod, copyFile, lstat, lutimes, mkdir, readdir, readlink, stat, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { osErrorOf, type OsError } from './os-error.js';
import { untilAborted } from './watchdog.js';

export interface CopyTreeHooks {
  /** Aborting stops the copy (a StoppedError is thrown). */
  signal: AbortSignal;
  /** Called when an entry has been created at `to` (a directory before its contents). */
  onCopied(from: string, to: string): void;
  /** Called for each entry that could not be copied; the copy goes on with the others. */
  onError(path: string, what: string, error: OsError | string): void;
}

/**
 * `cp -R -P -p from to` for a `to` that does not exist yet (or an existing directory to
 * merge into): symbolic links are copied as links, modes and access/modification times
 * are kept. Ownership is not (cp -p only keeps it when run as root). Resolves to true when
 * every entry was copied.
 */
export async function copyTree(from: string, to: string, hooks: CopyTreeHooks): Promise<boolean> {
  return copyEntry(from, to, hooks);
}

async function copyEntry(from: string, to: string, hooks: CopyTreeHooks): Promise<boolean> {
  const { signal } = hooks;
  const step = <T>(p: Promise<T>): Promise<T> => untilAborted(p, signal);
  let st;
  try {
    st = await step(lstat(from));
  } catch (err) {
    return fail(from, 'cannot stat', err, hooks);
  }
  const mode = st.mode & 0o7777;
  try {
    if (st.isSymbolicLink()) {
      await step(symlink(await step(readlink(from)), to));
      hooks.onCopied(from, to);
      await step(lutimes(to, st.atime, st.mtime)).catch(ignoreOsError);
      return true;
    }
    if (st.isFile()) {
      await step(copyFile(from, to));
      await step(chmod(to, mode));
      await step(utimes(to, st.atime, st.mtime));
      hooks.onCopied(from, to);
      return true;
    }
    if (!st.isDirectory()) {
      hooks.onError(from, 'cannot copy special file', 'Not a regular file, directory or link');
      return false;
    }
    // Owner rwx while filling it; the real mode is applied once the contents are in.
    await step(mkdir(to, { mode: 0o700 })).catch(async (err: unknown) => {
      if (osErrorOf(err)?.code !== 'EEXIST' || !(await step(stat(to))).isDirectory()) throw err;
    });
    hooks.onCopied(from, to);
  } catch (err) {
    return fail(from, `cannot copy to '${to}'`, err, hooks);
  }
  let names: string[];
  try {
    names = await step(readdir(from));
  } catch (err) {
    return fail(from, 'cannot read directory', err, hooks);
  }
  let ok = true;
  for (const name of names) {
    if (!(await copyEntry(join(from, name), join(to, name), hooks))) ok = false;
  }
  try {
    await step(chmod(to, mode));
    await step(utimes(to, st.atime, st.mtime));
  } catch (err) {
    return fail(to, 'cannot preserve mode and times of', err, hooks);
  }
  return ok;
}

function ignoreOsError(err: unknown): void {
  if (osErrorOf(err) === undefined) throw err;
}

function fail(path: string, what: string, err: unknown, hooks: CopyTreeHooks): false {
  const os = osErrorOf(err);
  if (!os) throw err;
  hooks.onError(path, what, os);
  return false;
}
