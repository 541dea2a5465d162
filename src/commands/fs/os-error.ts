import { constants } from 'node:os';

/**
 * What Python's OSError carries and the fs commands report: a positive errno (sent as
 * `rc`) and the C library's strerror text (used in `header` lines such as
 * "mkdir: File exists: /path").
 */
export interface OsError {
  errno: number;
  strerror: string;
  code: string;
}

/** glibc's strerror texts for the errors file commands meet; libuv words them differently. */
const STRERROR: Readonly<Record<string, string>> = {
  EPERM: 'Operation not permitted',
  E2BIG: 'Argument list too long',
  ENOEXEC: 'Exec format error',
  ENOENT: 'No such file or directory',
  EIO: 'Input/output error',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  EXDEV: 'Invalid cross-device link',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  EMFILE: 'Too many open files',
  ENFILE: 'Too many open files in system',
  ETXTBSY: 'Text file busy',
  EFBIG: 'File too large',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  EMLINK: 'Too many links',
  ENAMETOOLONG: 'File name too long',
  ENOTEMPTY: 'Directory not empty',
  ELOOP: 'Too many levels of symbolic links',
  EDQUOT: 'Disk quota exceeded',
  ESTALE: 'Stale file handle',
};

/** Python's OSError subclass for an errno (PEP 3151), as its traceback names it. */
const PYTHON_CLASS: Readonly<Record<string, string>> = {
  ENOENT: 'FileNotFoundError',
  EACCES: 'PermissionError',
  EPERM: 'PermissionError',
  ENOTDIR: 'NotADirectoryError',
  EISDIR: 'IsADirectoryError',
  EEXIST: 'FileExistsError',
};

/** An OsError for an errno name alone (no Node error at hand). */
export function osErrorFromCode(code: string): OsError {
  const errno = (constants.errno as Record<string, number | undefined>)[code] ?? 0;
  return { errno, strerror: STRERROR[code] ?? code, code };
}

/** The Python exception class raising `e`: FileNotFoundError, PermissionError, ..., else OSError. */
export function pythonOsErrorClass(e: OsError): string {
  return PYTHON_CLASS[e.code] ?? 'OSError';
}

function isErrnoException(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
}

/**
 * The OS error behind a failed `node:fs` call, or undefined when `err` is not one (a bug
 * or an unexpected exception, which the caller lets propagate).
 */
export function osErrorOf(err: unknown): OsError | undefined {
  if (!isErrnoException(err) || typeof err.errno !== 'number') return undefined;
  const code = err.code as string;
  const table = constants.errno as Record<string, number | undefined>;
  const errno = table[code] ?? Math.abs(err.errno);
  // libuv messages look like "ENOENT: no such file or directory, open '/x'".
  const libuvText = /^[A-Z0-9_]+: ([^,]+)/.exec(err.message)?.[1];
  const fallback = libuvText ? libuvText[0]!.toUpperCase() + libuvText.slice(1) : code;
  return { errno, strerror: STRERROR[code] ?? fallback, code };
}

/** Python's `str(OSError)`: "[Errno 2] No such file or directory: '/path'". */
export function pythonOsErrorText(e: OsError, path: string): string {
  return `[Errno ${e.errno}] ${e.strerror}: '${path}'`;
}
