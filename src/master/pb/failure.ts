import { PbFailure } from '../../engine/pb/broker.js';
import { BASE_PARENTS } from '../../protocol/python-failure.js';

/**
 * Failures the PB master answers with, spelled like the Python exceptions the 3.7 master
 * raises (`docs/protocol/pb.md` §3.5): dotted type, `str(exc)` value, the class's
 * parents for the receiver's `Failure.check()`, and a Python-looking traceback.
 */

/** twisted.cred's refusal of a wrong name or password (capture #9). */
export const UNAUTHORIZED_LOGIN_TYPE = 'twisted.cred.error.UnauthorizedLogin';
const UNAUTHORIZED_LOGIN_PARENTS = [UNAUTHORIZED_LOGIN_TYPE, 'twisted.cred.error.LoginFailed', 'twisted.cred.error.Unauthorized', ...BASE_PARENTS];

/** A failure of Python type `type` (e.g. `builtins.ValueError`) with `str(exc)` = `value`. */
export function pyFailure(type: string, value: string, parents?: string[]): PbFailure {
  const f = new PbFailure(type, value, parents);
  // The broker sends `stack` as the traceback text (the master shares its tracebacks).
  f.stack = `Traceback (most recent call last):\n${type}: ${value}\n`;
  return f;
}

export function unauthorizedLogin(): PbFailure {
  return pyFailure(UNAUTHORIZED_LOGIN_TYPE, '', UNAUTHORIZED_LOGIN_PARENTS);
}
