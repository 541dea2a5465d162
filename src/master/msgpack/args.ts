import { pathRulesFor, type WorkerEnviron } from '../../util/python-path.js';

/**
 * How the 3.7 master turns a step's PB-style command into a msgpack `start_command`
 * (`docs/protocol/msgpack.md` §5, `Connection.remoteStartCommand`): builder-relative
 * paths become absolute ones joined with Python path rules, transfer commands get their
 * snake_case names, `want_stdout`/`want_stderr` become booleans, and the writer/reader
 * references are taken out (they are addressed by `command_id` instead).
 */

/** What the master knows about the worker from `get_worker_info`. */
export interface MsgpackWorkerPaths {
  /** `system` from the worker info: `nt` selects ntpath rules. */
  system: unknown;
  /** `environ` from the worker info, used to expand `~`. */
  environ: WorkerEnviron;
  /** Absolute builder directory: join(basedir, builddir). */
  builderDir: string;
}

export interface MsgpackCommand {
  commandName: string;
  args: Record<string, unknown>;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : String(v));

/** Rewrite `args` (a copy is made; the caller's object is untouched). */
export function toMsgpackCommand(commandName: string, input: Record<string, unknown>, paths: MsgpackWorkerPaths): MsgpackCommand {
  const rules = pathRulesFor(paths.system);
  const base = paths.builderDir;
  const join = (...parts: string[]): string => rules.join(base, ...parts);
  const expand = (p: unknown): string => rules.expandUser(str(p), paths.environ);
  const args: Record<string, unknown> = { ...input };
  let name = commandName;

  switch (commandName) {
    case 'mkdir':
    case 'rmdir': {
      const dirs = Array.isArray(args.dir) ? args.dir : [args.dir];
      args.paths = dirs.map((d) => join(str(d)));
      delete args.dir;
      break;
    }
    case 'cpdir':
      args.from_path = join(str(args.fromdir));
      args.to_path = join(str(args.todir));
      delete args.fromdir;
      delete args.todir;
      break;
    case 'stat': {
      const workdir = args.workdir === undefined || args.workdir === null ? '' : str(args.workdir);
      args.path = join(workdir, str(args.file));
      delete args.file;
      break;
    }
    case 'glob':
      args.path = join(str(args.path));
      break;
    case 'listdir':
      args.path = join(str(args.dir));
      delete args.dir;
      break;
    case 'rmfile':
      // 3.7 joins without expanding `~` (upstream HEAD expands it).
      args.path = join(str(args.path));
      break;
    case 'shell':
      args.workdir = join(str(args.workdir));
      break;
    case 'uploadFile':
    case 'uploadDirectory':
      name = commandName === 'uploadFile' ? 'upload_file' : 'upload_directory';
      args.path = join(str(args.workdir), expand(args.workersrc));
      break;
    case 'downloadFile':
      name = 'download_file';
      args.path = join(str(args.workdir), expand(args.workerdest));
      break;
    default:
      break;
  }
  for (const key of ['want_stdout', 'want_stderr']) {
    // Python `== 1`: True and 1 (and 1.0) are equal to 1, everything else is not.
    if (key in args) args[key] = args[key] === true || args[key] === 1;
  }
  delete args.reader;
  delete args.writer;
  return { commandName: name, args };
}
