import { makeDirs } from '../util/make-dirs.js';
import { isAbsolute, join } from 'node:path';
import { CommandError } from '../errors.js';
import { BACKUP_TIMEOUT_MS, killGroup } from '../process/kill-group.js';
import { signalFromName } from '../process/signals.js';
import { spawnProcess, type ProcessExit, type SpawnedProcess } from '../process/spawn.js';
import type { TimerHandle } from '../util/clock.js';
import { PyTuple } from '../values.js';
import { optBool, optDict, optInt, optNum, requireArgs } from './args.js';
import type { Command, CommandArgs, CommandContext, CommandFactory } from './context.js';
import { interruptOf } from './interrupt.js';
import { computeEnviron } from './shell/environ.js';
import { LogfileWatcher } from './shell/logfile-watcher.js';
import { pyBytesRepr, pyRepr, shellQuote } from './shell/python-repr.js';

/**
 * The `shell` command (Python `commands/shell.py WorkerShellCommand` + `runprocess.py
 * RunProcess`, `docs/python-worker.md` §10.1): runs `command` in `workdir` as its own process group,
 * streams stdout/stderr, follows `logfiles`, enforces `timeout` (seconds without output),
 * `maxTime` and `max_lines`, and reports the Python header lines, `rc` and `elapsedTime`.
 */
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
  logfiles: Record<string, unknown>;
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
  if (!list || list.length === 0) throw new CommandError("argument 'command' must be a string or a non-empty list", 'ERR_BAD_ARGS');
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
      throw new CommandError(`argument 'command' has an item that is not a string: ${pyRepr(item)}`, 'ERR_BAD_ARGS');
    }
  }
  return { argv, fakeArgv };
}

function stdinBytes(v: unknown): Uint8Array | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return utf8.encode(v);
  if (v instanceof Uint8Array) return v;
  throw new CommandError("argument 'initial_stdin' must be a string", 'ERR_BAD_ARGS');
}

export function parseShellArgs(args: CommandArgs): ShellOptions {
  requireArgs('WorkerShellCommand', args, ['workdir', 'command']);
  const workdir = args['workdir'];
  if (typeof workdir !== 'string' || !isAbsolute(workdir)) throw new CommandError("argument 'workdir' must be an absolute path", 'ERR_BAD_ARGS');
  const { argv, fakeArgv } = parseCommand(args['command']);
  const positive = (name: string): number | undefined => {
    const v = optNum(args, name);
    return v !== undefined && v > 0 ? v : undefined; // Python tests `if self.timeout:`
  };
  const sig = args['interruptSignal'];
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
    logfiles: optDict(args, 'logfiles') ?? {},
    logEnviron: optBool(args, 'logEnviron', true),
  };
}

/** Python formats numbers with str(); "sec" when exactly 1. */
function secs(n: number): string {
  return `${n} ${n === 1 ? 'sec' : 'secs'}`;
}

/** Number of `\r\n|\r|\n` line ends in a chunk (Python `_check_max_lines`). */
function countLineEnds(data: Uint8Array | string): number {
  let n = 0;
  const len = data.length;
  const at = typeof data === 'string' ? (i: number) => data.charCodeAt(i) : (i: number) => data[i]!;
  for (let i = 0; i < len; i++) {
    const c = at(i);
    if (c === 0x0a) n++;
    else if (c === 0x0d) {
      n++;
      if (i + 1 < len && at(i + 1) === 0x0a) i++;
    }
  }
  return n;
}

export class ShellCommand implements Command {
  constructor(readonly o: ShellOptions) {}

  async run(ctx: CommandContext): Promise<void> {
    const o = this.o;
    const clock = ctx.clock;
    const header = (text: string) => ctx.output('header', text);
    const env = computeEnviron(o.env, ctx.workerEnv);
    await makeDirs(o.workdir);

    let usePty = o.usePty;
    if (usePty && o.initialStdin) {
      // Python sends this without a line end, gluing it to the next header line.
      header('WARNING: disabling usePTY for this command\n');
      usePty = false;
    }
    if (env['MACHTYPE'] !== 'i686-pc-msys') env['PWD'] = o.workdir;

    // Each header line is also logged with one more leading space, as RunProcess does
    // (docs/logging.md); the environment's values are not (they can hold build secrets).
    const announce = (line: string) => {
      ctx.log.info(' ' + line);
      header(line + '\n');
    };
    ctx.log.info('RunProcess._startCommand');
    announce(o.fakeArgv.map(shellQuote).join(' '));
    let where = ` in dir ${o.workdir}`;
    if (o.timeout) where += ` (timeout ${secs(o.timeout)})`;
    if (o.maxTime) where += ` (maxTime ${secs(o.maxTime)})`;
    announce(where);
    announce(` watching logfiles ${pyRepr(o.logfiles)}`);
    const fakeRepr = '[' + o.fakeArgv.map((a) => pyBytesRepr(utf8.encode(a))).join(', ') + ']';
    announce(` argv: ${fakeRepr}`);
    if (o.logEnviron) {
      const names = Object.keys(env).sort();
      ctx.log.info(` environment: ${names.length} variables (values not logged): ${names.join(', ')}`);
      header(' environment:\n' + names.map((k) => `  ${k}=${env[k]}\n`).join(''));
    }
    if (o.initialStdin) announce(` writing ${o.initialStdin.length} bytes to stdin`);
    announce(` using PTY: ${usePty ? 'True' : 'False'}`);

    let interruptSignal: NodeJS.Signals;
    try {
      interruptSignal = signalFromName(o.interruptSignal);
    } catch {
      ctx.log.warn({ interruptSignal: o.interruptSignal }, 'unknown interruptSignal, using KILL');
      interruptSignal = 'SIGKILL';
    }

    const watchers: LogfileWatcher[] = [];
    for (const [name, value] of Object.entries(o.logfiles)) {
      let filename: unknown = value;
      let follow = false;
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        filename = (value as Record<string, unknown>)['filename'];
        follow = Boolean((value as Record<string, unknown>)['follow']);
      }
      if (typeof filename !== 'string') throw new CommandError(`logfile '${name}' has no filename`, 'ERR_BAD_ARGS');
      const w = new LogfileWatcher(join(o.workdir, filename), follow, clock, (data) => {
        lastOutputAt = clock.now();
        ctx.logfile(name, data);
      }, (err) => ctx.log.warn({ err, logfile: name }, 'polling a logfile failed'));
      watchers.push(w);
      await w.start();
    }

    let lastOutputAt = clock.now();
    let lineCount = 0;
    let maxLinesHit = false;
    let killed = false;
    let proc: SpawnedProcess | undefined;
    const timers: TimerHandle[] = [];
    let failBackup: ((err: Error) => void) | undefined;
    const backupFailed = new Promise<never>((_, reject) => (failBackup = reject));
    backupFailed.catch(() => {});
    const cancelTimers = () => {
      for (const t of timers.splice(0)) t.cancel();
    };
    const fakeCommand = fakeRepr;

    const kill = (msg: string) => {
      if (killed) return;
      killed = true;
      cancelTimers();
      msg += ', attempting to kill';
      ctx.log.info(msg);
      header(`\n${msg}\n`);
      if (proc) signalGroup(proc);
      // else: not spawned yet; signalled right after spawning
    };
    const signalGroup = (p: SpawnedProcess) => {
      void killGroup(p.pgid, {
        clock,
        sigtermTime: o.sigtermTime,
        interruptSignal,
        onSignal: (s) => ctx.log.info({ signal: s, pgid: p.pgid }, 'signalled process group'),
      })
        .catch((err: unknown) => ctx.log.warn({ err }, 'killing the process group failed'))
        .then(() => {
          p.closeOutput();
          timers.push(
            clock.setTimeout(() => {
              const name = `SIG${o.interruptSignal}`;
              header(`${name} failed to kill process\n`);
              header('using fake rc=-1\n');
              ctx.status('rc', -1);
              failBackup?.(new CommandError(`${name} failed to kill process`, 'ERR_KILL_FAILED'));
            }, BACKUP_TIMEOUT_MS),
          );
        });
    };

    const checkMaxLines = (data: Uint8Array) => {
      if (o.maxLines === undefined) return;
      lineCount += countLineEnds(data);
      if (lineCount > o.maxLines && !maxLinesHit) {
        maxLinesHit = true;
        proc?.closeStdout();
        ctx.status('failure_reason', 'max_lines_failure');
        kill(`command exceeds max lines: ${lineCount}/${o.maxLines} written/allowed running ${fakeCommand}`);
      }
    };

    // Backpressure: while the master is behind, stop reading the child's output, so that
    // the child blocks in write() instead of the worker queueing everything it prints.
    let paused = false;
    const throttle = (writable: boolean) => {
      if (writable || paused || !proc) return;
      paused = true;
      proc.pause();
      void ctx.whenWritable().then(() => {
        paused = false;
        // Blocked on the master is not silence: `timeout` counts from here.
        lastOutputAt = clock.now();
        proc?.resume();
      });
    };

    const startTime = clock.now();
    try {
      proc = await spawnProcess({
        argv: o.argv,
        cwd: o.workdir,
        env,
        stdin: o.initialStdin,
        usePty,
        onStdout: (data) => {
          lastOutputAt = clock.now();
          if (!o.wantStdout || maxLinesHit) return;
          checkMaxLines(data);
          throttle(ctx.output('stdout', data));
        },
        onStderr: (data) => {
          lastOutputAt = clock.now();
          if (!o.wantStderr) return;
          checkMaxLines(data);
          throttle(ctx.output('stderr', data));
        },
      });
    } catch (err) {
      await Promise.all(watchers.map((w) => w.stop()));
      const e = err as Error;
      ctx.output('stderr', `error in RunProcess._startCommand (${e.message})\n`);
      throw new CommandError(`Got exception (${e.message})`, 'ERR_SPAWN', { cause: err });
    }

    if (o.timeout) {
      const ms = o.timeout * 1000;
      const check = () => {
        const idle = paused ? 0 : clock.now() - lastOutputAt;
        if (idle >= ms) {
          ctx.status('failure_reason', 'timeout_without_output');
          kill(`command timed out: ${o.timeout} seconds without output running ${fakeCommand}`);
        } else {
          timers.push(clock.setTimeout(check, ms - idle));
        }
      };
      lastOutputAt = clock.now();
      timers.push(clock.setTimeout(check, ms));
    }
    if (o.maxTime) {
      timers.push(
        clock.setTimeout(() => {
          ctx.status('failure_reason', 'timeout');
          kill(`command timed out: ${o.maxTime} seconds elapsed running ${fakeCommand}`);
        }, o.maxTime * 1000),
      );
    }

    const onAbort = () => kill(interruptOf(ctx.signal)?.silent ? 'command interrupted (connection lost)' : 'command interrupted');
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
    if (killed) signalGroup(proc);

    let exit: ProcessExit;
    try {
      exit = await Promise.race([proc.ended, backupFailed]);
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      cancelTimers();
      await Promise.all(watchers.map((w) => w.stop()));
    }
    const elapsed = (clock.now() - startTime) / 1000;
    ctx.log.info({ system: '-' }, `command finished with signal ${exit.signal ?? 'None'}, exit code ${exit.code ?? 'None'}, elapsedTime: ${elapsed.toFixed(6)}`);
    let rc = exit.code ?? -1;
    if (killed && rc === 0) rc = -1;
    if (exit.signal !== null) {
      rc = -1;
      header(`process killed by signal ${exit.signal}\n`);
    }
    ctx.status('rc', rc);
    header(`elapsedTime=${elapsed.toFixed(6)}\n`);
  }
}

export const shellCommandFactory: CommandFactory = (args) => new ShellCommand(parseShellArgs(args));
