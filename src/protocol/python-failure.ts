import { WorkerError } from '../errors.js';

/**
 * How a failure looks to a Python peer (`docs/protocol/pb.md` §3.5): a dotted type,
 * `str(exc)`, the class's parents for the receiver's `Failure.check()`, and a traceback or
 * Twisted's placeholder. One place for what the PB engine, the worker's bot and command
 * channel and the test master all send.
 */

/** The bases every exception class shares, most derived first. */
export const BASE_PARENTS: readonly string[] = ['builtins.Exception', 'builtins.BaseException', 'builtins.object'];

/** Traceback text Twisted sends when tracebacks are not shared. */
export const TRACEBACK_UNAVAILABLE = 'Traceback unavailable\n';

/** Intermediate bases of the builtin types this code raises, so `Failure.check(OSError)` works. */
const EXTRA_PARENTS: Readonly<Record<string, readonly string[]>> = {
  'builtins.FileNotFoundError': ['builtins.OSError'],
  'builtins.KeyError': ['builtins.LookupError'],
  'builtins.NotImplementedError': ['builtins.RuntimeError'],
  'twisted.spread.flavors.NoSuchMethod': ['builtins.AttributeError'],
};

/** `[type, ...bases]` of a Python exception type. */
export function parentsOf(type: string): string[] {
  const at = BASE_PARENTS.indexOf(type);
  if (at >= 0) return BASE_PARENTS.slice(at);
  return [type, ...(EXTRA_PARENTS[type] ?? []), ...BASE_PARENTS];
}

/** JavaScript errors whose Python counterpart the master can recognise. */
const BUILTIN_TYPES: Readonly<Record<string, string>> = {
  TypeError: 'builtins.TypeError',
  RangeError: 'builtins.ValueError',
  SyntaxError: 'builtins.SyntaxError',
};

/**
 * The Python type an error is reported as: the worker's own errors as
 * `buildbot_worker.exceptions.<Name>` (the module the Python worker raises from), the
 * JavaScript builtins that have a Python twin as that twin, anything else as `Exception`.
 */
export function pythonTypeOf(err: unknown): string {
  if (err instanceof WorkerError) return `buildbot_worker.exceptions.${err.name}`;
  if (err instanceof Error) return BUILTIN_TYPES[err.name] ?? 'builtins.Exception';
  return 'builtins.Exception';
}
