import type { ExecError } from '../../process/exec-error.js';
import { osErrorFromCode, pythonOsErrorClass } from '../fs/os-error.js';
import { pyBytesRepr } from './python-repr.js';

const utf8 = new TextEncoder();
const bytes = (s: string) => pyBytesRepr(utf8.encode(s));

/**
 * What the Python worker's child writes on stderr when exec fails (Twisted
 * `process.py _fork`: "Upon execvpe <file> <argv> in environment id <n>", then the
 * traceback of `os.execvpe`), before it exits 1:
 *
 *     Upon execvpe b'no-such-program' [b'no-such-program', b'arg']
 *     FileNotFoundError: [Errno 2] No such file or directory: b'/bin/no-such-program'
 *
 * The first and the last line of Python's text: the traceback's frames and the
 * environment's object id are Python internals. Obfuscated arguments show their fake value
 * (Python prints the real ones).
 */
export function execFailureText(err: ExecError, argv: readonly string[], fakeArgv: readonly string[]): string {
  const os = osErrorFromCode(err.osCode);
  // A hidden program name stays hidden in the path too.
  const path = argv[0] !== fakeArgv[0] ? fakeArgv[0]! : err.path;
  return `Upon execvpe ${bytes(fakeArgv[0]!)} [${fakeArgv.map(bytes).join(', ')}]\n` + `${pythonOsErrorClass(os)}: [Errno ${os.errno}] ${os.strerror}: ${bytes(path)}\n`;
}
