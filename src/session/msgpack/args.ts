import path from 'node:path';
import type { CommandArgs } from '../../commands/context.js';

/**
 * Arguments of a msgpack `start_command` as commands expect them
 * (`docs/protocol/msgpack.md` §5): the master has already joined every path with the
 * worker's basedir, so absolute paths pass unchanged. A relative one (a master that did
 * not join it) is what the stock worker would resolve against its working directory, the
 * basedir — so it is joined onto the basedir here, keeping commands' promise of absolute paths.
 */

/** The argument keys that hold paths after the master's rewriting (§5). */
export const PATH_KEYS = ['workdir', 'path', 'from_path', 'to_path'] as const;

/**
 * Transfer commands carry the step's `workdir`/`workersrc`/`workerdest` as leftovers next
 * to the joined `path` (§5, §13.4): only `path` is theirs, the leftovers stay untouched.
 */
const TRANSFER_COMMANDS = new Set(['upload_file', 'uploadFile', 'upload_directory', 'uploadDirectory', 'download_file', 'downloadFile']);

/**
 * Python `os.path.join(basedir, p)`: an absolute `p` wins, otherwise plain concatenation
 * with one separator and no normalisation (`..` stays, as the OS would resolve it).
 */
export function joinBasedir(basedir: string, p: string, pathApi: path.PlatformPath = path): string {
  if (pathApi.isAbsolute(p)) return p;
  const sep = pathApi.sep;
  return basedir.endsWith(sep) || basedir.endsWith('/') ? basedir + p : basedir + sep + p;
}

/**
 * A copy of `args` with relative paths made absolute, `want_stdout`/`want_stderr` as
 * booleans (the master normalises them, §5; a number counts by truthiness like the stock
 * worker's coercion), and no
 * `writer`/`reader` keys (the channel carries them). Values of the wrong type are left
 * for the command to reject.
 */
export function resolveMsgpackArgs(commandName: string, args: CommandArgs, basedir: string, pathApi: path.PlatformPath = path): CommandArgs {
  const out: CommandArgs = {};
  for (const [key, value] of Object.entries(args)) {
    if (key === 'writer' || key === 'reader') continue;
    out[key] = value;
  }
  for (const key of PATH_KEYS) {
    if (key === 'workdir' && TRANSFER_COMMANDS.has(commandName)) continue;
    const v = out[key];
    if (typeof v === 'string') out[key] = joinBasedir(basedir, v, pathApi);
  }
  if (Array.isArray(out.paths)) {
    out.paths = out.paths.map((p: unknown) => (typeof p === 'string' ? joinBasedir(basedir, p, pathApi) : p));
  }
  for (const key of ['want_stdout', 'want_stderr']) {
    if (typeof out[key] === 'number') out[key] = out[key] !== 0;
  }
  return out;
}
