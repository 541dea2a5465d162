import { fnmatchRegExp } from '../util/fnmatch.js';

/** Name of the variable that lists the patterns (space separated, fnmatch syntax). */
export const BLACKLIST_VARIABLE = 'WORKER_ENVIRONMENT_BLACKLIST';

/**
 * Patterns removed when WORKER_ENVIRONMENT_BLACKLIST is not set. The Docker tac defaults to
 * `WORKERPASS`; the password file variable is secret-adjacent too.
 */
export const DEFAULT_BLACKLIST = 'WORKERPASS WORKERPASS_FILE';

/**
 * The worker environment as builds and `getWorkerInfo` see it: the process environment
 * without every variable whose name matches a blacklist pattern (`docs/python-worker.md` §15: the
 * Docker tac deletes them from `os.environ` before anything runs, because the master
 * receives the whole environment).
 */
export function filterEnvironment(env: Readonly<Record<string, string | undefined>>, blacklist: string = env[BLACKLIST_VARIABLE] ?? DEFAULT_BLACKLIST): Record<string, string> {
  const patterns = blacklist
    .split(/\s+/)
    .filter((p) => p !== '')
    .map(fnmatchRegExp);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (patterns.some((re) => re.test(name))) continue;
    out[name] = value;
  }
  return out;
}

/** Remove blacklisted variables from `env` in place (so child processes never inherit them). */
export function scrubEnvironment(env: Record<string, string | undefined>, blacklist?: string): string[] {
  const kept = filterEnvironment(env, blacklist);
  const removed = Object.keys(env).filter((k) => !(k in kept));
  for (const k of removed) delete env[k];
  return removed;
}
