import { isAbsolute } from 'node:path';
import { CommandError, ERR } from '../../errors.js';
import { PyTuple } from '../../values.js';
import { optBool, optDict, optInt, optNum, requireArgs } from '../args.js';
import type { CommandArgs } from '../context.js';
import { pyRepr } from './python-repr.js';

/** One `logfiles` entry: `name: 'file'` or `name: {filename: 'file', follow: bool}`. */
export interface LogfileSpec {
  name: string;
  /** Relative to the workdir. */
  filename: string;
  follow: boolean;
}

/** The arguments of the `shell` command, all checked before anything runs. */
export interface ShellOptions {
  argv: string[];
  /** argv with obfuscated items shown by their fake value. */
  fakeArgv: string[];
  workdir: string;
  env: unknown;
  timeout?: number;
  maxTime?: number;
  maxLines?: number;
  sigtermTime?: number;
  interruptSignal: string;
  wantStdout: boolean;
  wantStderr: boolean;
  initialStdin?: Uint8Array;
  usePty: boolean;
  /** As sent, for the header line. */
  logfiles: Record<string, unknown>;
  logfileSpecs: LogfileSpec[];
  logEnviron: boolean;
}

const utf8 = new TextEncoder();

/** `command`: a string runs under `/bin/sh -c`; a list is argv, items `['obfuscated', real, fake]` hide secrets. */
export function parseCommand(command: unknown): { argv: string[]; fakeArgv: string[] } {
  if (typeof command === 'string') {
    const argv = ['/bin/sh', '-c', command];
    return { argv, fakeArgv: argv };
  }
  const list = Array.isArray(command) ? command : command instanceof PyTuple ? [...command.items] : undefined;
  if (!list || list.length === 0) throw new CommandError("argument 'command' must be a string or a non-empty list", ERR.BAD_ARGS);
  const argv: string[] = [];
  const fakeArgv: string[] = [];
  for (const item of list) {
    const tuple = Array.isArray(item) ? item : item instanceof PyTuple ? item.items : undefined;
    if (tuple && tuple.length === 3 && tuple[0] === 'obfuscated' && typeof tuple[1] === 'string' && typeof tuple[2] === 'string') {
      argv.push(tuple[1]);
      fakeArgv.push(tuple[2]);
    } else if (typeof item === 'string' || typeof item === 'number') {
      argv.push(String(item));
      fakeArgv.push(String(item));
    } else {
      throw new CommandError(`argument 'command' has an item that is not a string: ${pyRepr(item)}`, ERR.BAD_ARGS);
    }
  }
  return { argv, fakeArgv };
}

function stdinBytes(v: unknown): Uint8Array | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return utf8.encode(v);
  if (v instanceof Uint8Array) return v;
  throw new CommandError("argument 'initial_stdin' must be a string", ERR.BAD_ARGS);
}

/** Every entry is checked here, so that a bad one is refused before any watcher starts. */
export function parseLogfiles(logfiles: Record<string, unknown>): LogfileSpec[] {
  return Object.entries(logfiles).map(([name, value]) => {
    let filename: unknown = value;
    let follow = false;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      filename = (value as Record<string, unknown>)['filename'];
      follow = Boolean((value as Record<string, unknown>)['follow']);
    }
    if (typeof filename !== 'string') throw new CommandError(`logfile '${name}' has no filename`, ERR.BAD_ARGS);
    return { name, filename, follow };
  });
}

export function parseShellArgs(args: CommandArgs): ShellOptions {
  requireArgs('WorkerShellCommand', args, ['workdir', 'command']);
  const workdir = args['workdir'];
  if (typeof workdir !== 'string' || !isAbsolute(workdir)) throw new CommandError("argument 'workdir' must be an absolute path", ERR.BAD_ARGS);
  const { argv, fakeArgv } = parseCommand(args['command']);
  const positive = (name: string): number | undefined => {
    const v = optNum(args, name);
    return v !== undefined && v > 0 ? v : undefined; // Python tests `if self.timeout:`
  };
  const sig = args['interruptSignal'];
  const logfiles = optDict(args, 'logfiles') ?? {};
  return {
    argv,
    fakeArgv,
    workdir,
    env: args['env'],
    timeout: positive('timeout'),
    maxTime: positive('maxTime'),
    maxLines: optInt(args, 'max_lines'),
    sigtermTime: optNum(args, 'sigtermTime'),
    interruptSignal: typeof sig === 'string' && sig !== '' ? sig : 'KILL',
    wantStdout: optBool(args, 'want_stdout', true),
    wantStderr: optBool(args, 'want_stderr', true),
    initialStdin: stdinBytes(args['initial_stdin']),
    usePty: optBool(args, 'usePTY', false),
    logfiles,
    logfileSpecs: parseLogfiles(logfiles),
    logEnviron: optBool(args, 'logEnviron', true),
  };
}
