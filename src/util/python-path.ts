import os from 'node:os';

/**
 * Python's `posixpath`/`ntpath` join and `expanduser`, and Buildbot's variants of the
 * latter: the 3.7 master applies them to msgpack command arguments
 * (`docs/protocol/msgpack.md` §5), the worker to PB command arguments (`pb.md` §6.6).
 * Node's `path.join` normalises and never lets an absolute component reset the result,
 * so it cannot stand in for them.
 */

/** Worker environment as reported in `get_worker_info` (`environ`). */
export type WorkerEnviron = Readonly<Record<string, unknown>>;

/**
 * `posixpath.join`: an absolute component discards everything before it, an empty
 * component adds a trailing separator, nothing is normalised.
 */
export function posixJoin(first: string, ...rest: string[]): string {
  let result = first;
  for (const part of rest) {
    if (part.startsWith('/')) result = part;
    else if (result === '' || result.endsWith('/')) result += part;
    else result += '/' + part;
  }
  return result;
}

const isNtSep = (c: string | undefined): boolean => c === '\\' || c === '/';

/** `ntpath.splitdrive`: `C:` drive letters and `\\server\share` UNC prefixes. */
export function ntSplitDrive(p: string): [drive: string, rest: string] {
  if (p.length >= 2 && isNtSep(p[0]) && isNtSep(p[1]) && !isNtSep(p[2])) {
    // UNC: \\server\share
    const norm = p.replace(/\//g, '\\');
    const serverEnd = norm.indexOf('\\', 2);
    if (serverEnd === -1) return ['', p];
    const shareEnd = norm.indexOf('\\', serverEnd + 1);
    if (shareEnd === serverEnd + 1) return ['', p];
    const end = shareEnd === -1 ? p.length : shareEnd;
    return [p.slice(0, end), p.slice(end)];
  }
  if (p.length >= 2 && p[1] === ':') return [p.slice(0, 2), p.slice(2)];
  return ['', p];
}

/** `ntpath.join`: drive-aware, a rooted component resets the path (keeping the drive). */
export function ntJoin(first: string, ...rest: string[]): string {
  let [drive, path] = ntSplitDrive(first);
  for (const part of rest) {
    const [pDrive, pPath] = ntSplitDrive(part);
    if (isNtSep(pPath[0])) {
      // Rooted component: it keeps its own drive, or ours when it has none.
      if (pDrive !== '' || drive === '') drive = pDrive;
      path = pPath;
      continue;
    }
    if (pDrive !== '' && pDrive !== drive) {
      if (pDrive.toLowerCase() !== drive.toLowerCase()) {
        // Another drive: start over from the component.
        drive = pDrive;
        path = pPath;
        continue;
      }
      drive = pDrive; // same drive, different case
    }
    if (path !== '' && !isNtSep(path[path.length - 1])) path += '\\';
    path += pPath;
  }
  // A UNC drive followed by a relative path needs a separator in between.
  if (path !== '' && !isNtSep(path[0]) && drive !== '' && !drive.endsWith(':')) return drive + '\\' + path;
  return drive + path;
}

/** The home directory Python's `posixpath.expanduser` uses: `HOME`, else this process's user's (`pwd`). */
export function posixHome(environ: WorkerEnviron): string {
  return typeof environ.HOME === 'string' ? environ.HOME : os.homedir();
}

/**
 * `posixpath.expanduser` with `home()` as the home directory: a leading `~` (alone or
 * followed by `/`) becomes it. `~user` needs a password database lookup; it is returned
 * unchanged. `home` is only asked for when the path needs it.
 */
function expandTilde(path: string, home: () => string): string {
  if (!path.startsWith('~')) return path;
  if (path.length > 1 && path[1] !== '/') return path;
  const trimmed = home().replace(/\/+$/, '');
  return trimmed + path.slice(1) || '/';
}

/** `posixpath.expanduser` for the `~` and `~/…` forms, with `home` as the home directory. */
export function posixExpandHome(path: string, home: string): string {
  return expandTilde(path, () => home);
}

/**
 * Buildbot's `posix_expanduser(path, worker_environ)`: `~` uses the worker's `HOME`
 * (falling back to the master's own home directory, as the real master does through
 * `pwd`). `~user` needs the master's password database; this master leaves it unchanged.
 */
export function posixExpandUser(path: string, environ: WorkerEnviron): string {
  return expandTilde(path, () => posixHome(environ));
}

/** Buildbot's `nt_expanduser(path, worker_environ)`: `USERPROFILE`, else `HOMEDRIVE`+`HOMEPATH`. */
export function ntExpandUser(path: string, environ: WorkerEnviron): string {
  if (!path.startsWith('~')) return path;
  let i = 1;
  while (i < path.length && !isNtSep(path[i])) i++;
  let home: string;
  if (typeof environ.USERPROFILE === 'string') home = environ.USERPROFILE;
  else if (typeof environ.HOMEPATH !== 'string') return path;
  else home = ntJoin(typeof environ.HOMEDRIVE === 'string' ? environ.HOMEDRIVE : '', environ.HOMEPATH);
  if (i !== 1) {
    const target = path.slice(1, i);
    const current = environ.USERNAME;
    if (target !== current) {
      // Guess a sibling profile directory, only when the home looks like a standard profile.
      const base = home.split(/[\\/]/).pop();
      if (current !== base) return path;
      const cut = Math.max(home.lastIndexOf('\\'), home.lastIndexOf('/'));
      home = ntJoin(cut >= 0 ? home.slice(0, cut) || home.slice(0, cut + 1) : '', target);
    }
  }
  return home + path.slice(i);
}

/** The path rules the master picks from the worker's `system` (`nt` → ntpath, anything else → posixpath). */
export interface PathRules {
  join(first: string, ...rest: string[]): string;
  expandUser(path: string, environ: WorkerEnviron): string;
}

export function pathRulesFor(system: unknown): PathRules {
  return system === 'nt' ? { join: ntJoin, expandUser: ntExpandUser } : { join: posixJoin, expandUser: posixExpandUser };
}
