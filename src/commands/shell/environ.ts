import { CommandError, ERR } from '../../errors.js';
import { PyTuple } from '../../values.js';

const VAR = /\$\{([0-9a-zA-Z_]*)\}/g;

/**
 * The environment of a shell step (Python `util/process.py compute_environ`): the
 * worker's environment, then each `env` entry: `null` deletes the key, a list is joined
 * with ":", `${NAME}` is replaced by the worker's value (empty when unset). If the step
 * sets PYTHONPATH, ":" + the worker's PYTHONPATH (or "") is appended. `PYTHONPATH: null`
 * simply removes it (Python crashes there, `docs/python-worker.md` §18 item 12). Anything else is a
 * CommandError with Python's message.
 */
export function computeEnviron(env: unknown, workerEnv: Readonly<Record<string, string>>, pathsep = ':'): Record<string, string> {
  const result: Record<string, string> = { ...workerEnv };
  if (env === undefined || env === null) return result;
  if (typeof env !== 'object' || Array.isArray(env)) throw new CommandError("'env' must be a dict", ERR.BAD_ARGS);
  const entries = Object.entries(env as Record<string, unknown>);
  for (const [key, raw] of entries) {
    if (raw === null || raw === undefined) {
      delete result[key];
      continue;
    }
    let value: unknown = raw;
    const list = Array.isArray(raw) ? raw : raw instanceof PyTuple ? [...raw.items] : undefined;
    if (list) {
      if (!list.every((v) => typeof v === 'string')) {
        throw new CommandError(`'env' values must be strings or lists; key '${key}' is incorrect`, ERR.BAD_ARGS);
      }
      value = list.join(pathsep);
    }
    if (typeof value !== 'string') {
      throw new CommandError(`'env' values must be strings or lists; key '${key}' is incorrect`, ERR.BAD_ARGS);
    }
    result[key] = value.replace(VAR, (_m, name: string) => workerEnv[name] ?? '');
  }
  const pp = (env as Record<string, unknown>)['PYTHONPATH'];
  if (pp !== undefined && pp !== null && result['PYTHONPATH'] !== undefined) {
    result['PYTHONPATH'] += pathsep + (workerEnv['PYTHONPATH'] ?? '');
  }
  return result;
}
