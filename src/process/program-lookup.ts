import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

/** Python's `os.defpath` on POSIX: the search path when the environment has no PATH. */
const DEFAULT_PATH = '/bin:/usr/bin';

/** Why exec of one candidate file would fail, or undefined when it would start. */
function execProblem(file: string, cwd: string): string | undefined {
  const abs = path.resolve(cwd, file);
  try {
    const st = statSync(abs);
    // execve answers EACCES for a directory or a special file as for a missing x bit.
    if (!st.isFile()) return 'EACCES';
    accessSync(abs, constants.X_OK);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'ENOENT';
  }
}

export interface ExecLookupFailure {
  /** errno name, e.g. `ENOENT` or `EACCES`. */
  code: string;
  /** The path Python's `os.execvpe` would name in its error. */
  path: string;
}

/**
 * Predicts whether `os.execvpe(file, ..., env)` would fail, the way Python's
 * `os._execvpe` searches: a name with a slash is executed as it is (relative to `cwd`);
 * a bare name is tried in each `PATH` entry, and the error raised is the first one other
 * than ENOENT/ENOTDIR, else the last one. Undefined when some candidate can be executed.
 */
export function execLookupFailure(file: string, envPath: string | undefined, cwd: string): ExecLookupFailure | undefined {
  if (file.includes('/')) {
    const code = execProblem(file, cwd);
    return code === undefined ? undefined : { code, path: file };
  }
  let saved: ExecLookupFailure | undefined;
  let last: ExecLookupFailure = { code: 'ENOENT', path: file };
  for (const dir of (envPath ?? DEFAULT_PATH).split(':')) {
    // Python's path.join: no normalisation, '' adds nothing.
    const candidate = dir === '' ? file : dir.endsWith('/') ? dir + file : `${dir}/${file}`;
    const code = execProblem(candidate, cwd);
    if (code === undefined) return undefined;
    last = { code, path: candidate };
    if (code !== 'ENOENT' && code !== 'ENOTDIR') saved ??= last;
  }
  return saved ?? last;
}
