import { ERR, WorkerError } from '../errors.js';

/**
 * The program of a command could not be executed: not found, not executable, not a
 * file. In the Python worker this happens in the forked child (its execvpe raises), which
 * reports it on stderr and exits 1, so the step fails instead of raising
 * (as the Python worker does; see `ShellRun`).
 */
export class ExecError extends WorkerError {
  constructor(
    /** The errno name of the failed exec, e.g. `ENOENT`. */
    readonly osCode: string,
    /** The path whose exec failed, as Python's execvpe names it (the last `PATH` entry tried, for a bare name). */
    readonly path: string,
    options?: ErrorOptions,
  ) {
    super(ERR.EXEC, `cannot execute ${path}: ${osCode}`, options);
  }
}

/**
 * Spawn failures that happen in the child after fork (exec, chdir). Fork itself failing
 * (EAGAIN, ENOMEM, out of descriptors) is a worker problem and stays an exception.
 */
export function isExecErrno(code: string | undefined): boolean {
  return code !== undefined && !['EAGAIN', 'ENOMEM', 'EMFILE', 'ENFILE'].includes(code);
}
