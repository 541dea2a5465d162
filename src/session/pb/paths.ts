import { CommandError, ERR } from '../../errors.js';
import type { CommandArgs } from '../../commands/context.js';
import { posixExpandHome, posixHome, posixJoin } from '../../util/python-path.js';

/**
 * Path resolution for PB commands (`docs/protocol/pb.md` §6.6). A PB master sends
 * builder-relative paths and the worker joins them with Python `os.path.join` semantics;
 * the result has the shape a msgpack master sends (`msgpack.md` §5), so commands see
 * one argument shape whatever the protocol.
 */

/** The worker's own home directory, as Python's `expanduser` finds it (`$HOME` first). */
export function workerHome(env: NodeJS.ProcessEnv = process.env): string {
  return posixHome(env);
}

function requireText(command: string, key: string, value: unknown): string {
  if (typeof value !== 'string') {
    throw new CommandError(`${command}: argument '${key}' must be a string, got ${describe(value)}`, ERR.BAD_ARGS);
  }
  return value;
}

function optionalText(command: string, key: string, value: unknown): string {
  return value === undefined || value === null ? '' : requireText(command, key, value);
}

function textList(command: string, key: string, value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.map((v, i) => requireText(command, `${key}[${i}]`, v));
  throw new CommandError(`${command}: argument '${key}' must be a string or a list of strings, got ${describe(value)}`, ERR.BAD_ARGS);
}

function describe(value: unknown): string {
  if (value === null) return 'None';
  if (Array.isArray(value)) return 'list';
  return typeof value;
}

const has = (args: CommandArgs, key: string): boolean => Object.prototype.hasOwnProperty.call(args, key) && args[key] !== undefined;

/**
 * Turn the arguments of a PB `startCommand` into the resolved shape of msgpack.md §5:
 * builder-relative paths joined onto `builderDir`, `writer`/`reader` removed (they become
 * the command channel's writer/reader), `want_stdout`/`want_stderr` made booleans.
 * A missing argument is left missing so that the command reports it; an argument of the
 * wrong type throws CommandError. `args` itself is not modified.
 */
export function resolvePbArgs(commandName: string, args: CommandArgs, builderDir: string, home: string = workerHome()): CommandArgs {
  const out: CommandArgs = Object.create(null);
  for (const [key, value] of Object.entries(args)) {
    if (key === 'writer' || key === 'reader') continue;
    out[key] = value;
  }
  for (const key of ['want_stdout', 'want_stderr']) {
    if (typeof out[key] === 'number') out[key] = out[key] === 1;
  }
  const join = (...parts: string[]) => posixJoin(builderDir, ...parts);

  switch (commandName) {
    case 'shell':
      if (has(args, 'workdir')) out.workdir = join(requireText(commandName, 'workdir', args.workdir));
      break;
    case 'mkdir':
    case 'rmdir':
      if (has(args, 'dir')) {
        out.paths = textList(commandName, 'dir', args.dir).map((d) => join(d));
        delete out.dir;
      }
      break;
    case 'cpdir':
      if (has(args, 'fromdir')) {
        out.from_path = join(requireText(commandName, 'fromdir', args.fromdir));
        delete out.fromdir;
      }
      if (has(args, 'todir')) {
        out.to_path = join(requireText(commandName, 'todir', args.todir));
        delete out.todir;
      }
      break;
    case 'stat':
      if (has(args, 'file')) {
        out.path = join(optionalText(commandName, 'workdir', args.workdir), requireText(commandName, 'file', args.file));
        delete out.file;
      }
      break;
    case 'glob':
      if (has(args, 'path')) out.path = join(requireText(commandName, 'path', args.path));
      break;
    case 'listdir':
      if (has(args, 'dir')) {
        out.path = join(requireText(commandName, 'dir', args.dir));
        delete out.dir;
      }
      break;
    case 'rmfile':
      if (has(args, 'path')) out.path = join(posixExpandHome(requireText(commandName, 'path', args.path), home));
      break;
    case 'uploadFile':
    case 'upload_file':
    case 'uploadDirectory':
    case 'upload_directory': {
      // Masters older than command version 3.0 say `slavesrc`.
      const key = has(args, 'workersrc') ? 'workersrc' : 'slavesrc';
      if (has(args, key)) {
        out.path = join(optionalText(commandName, 'workdir', args.workdir), posixExpandHome(requireText(commandName, key, args[key]), home));
      }
      break;
    }
    case 'downloadFile':
    case 'download_file': {
      const key = has(args, 'workerdest') ? 'workerdest' : 'slavedest';
      if (has(args, key)) {
        out.path = join(optionalText(commandName, 'workdir', args.workdir), posixExpandHome(requireText(commandName, key, args[key]), home));
      }
      break;
    }
    default:
      // Unknown commands keep their arguments; the worker answers "unrecognized command".
      break;
  }
  return out;
}
