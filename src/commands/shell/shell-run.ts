import { join } from 'node:path';
import { CommandError, ERR } from '../../errors.js';
import { ExecError } from '../../process/exec-error.js';
import { BACKUP_TIMEOUT_MS, killGroup } from '../../process/kill-group.js';
import { signalFromName } from '../../process/signals.js';
import { spawnProcess, type ProcessExit, type SpawnedProcess } from '../../process/spawn.js';
import type { TimerHandle } from '../../util/clock.js';
import { makeDirs } from '../../util/make-dirs.js';
import type { CommandContext } from '../context.js';
import { interruptOf } from '../interrupt.js';
import { computeEnviron } from './environ.js';
import { execFailureText } from './exec-failure.js';
import { LogfileWatcher } from './logfile-watcher.js';
import { pyBytesRepr, pyRepr, shellQuote } from './python-repr.js';
import type { ShellOptions } from './shell-args.js';

const utf8 = new TextEncoder();

/** Python formats numbers with str(); "sec" when exactly 1. */
function secs(n: number): string {
  return `${n} ${n === 1 ? 'sec' : 'secs'}`;
}

/** Number of `\r\n|\r|\n` line ends in a chunk (Python `_check_max_lines`). */
function countLineEnds(data: Uint8Array): number {
  let n = 0;
  const len = data.length;
  for (let i = 0; i < len; i++) {
    const c = data[i]!;
    if (c === 0x0a) n++;
    else if (c === 0x0d) {
      n++;
      if (i + 1 < len && data[i + 1] === 0x0a) i++;
    }
  }
  return n;
}

/**
 * One run of a `shell` command (Python `runprocess.py RunProcess`): the header lines,
 * the child and its output (with `max_lines` and backpressure), the logfile watchers,
 * the `timeout`/`maxTime` timers, the kill with its backup timer, and the final `rc`.
 */
export class ShellRun {
  private readonly fakeCommand: string;
  private readonly watchers: LogfileWatcher[] = [];
  private readonly timers: TimerHandle[] = [];
  private proc: SpawnedProcess | undefined;
  private lastOutputAt: number;
  private lineCount = 0;
  private maxLinesHit = false;
  private killed = false;
  /** Reading stopped while the master catches up. */
  private paused = false;
  private interruptSignal: NodeJS.Signals = 'SIGKILL';
  private failBackup: ((err: Error) => void) | undefined;
  private readonly backupFailed = new Promise<never>((_, reject) => (this.failBackup = reject));

  constructor(
    private readonly o: ShellOptions,
    private readonly ctx: CommandContext,
  ) {
    this.fakeCommand = '[' + o.fakeArgv.map((a) => pyBytesRepr(utf8.encode(a))).join(', ') + ']';
    this.lastOutputAt = ctx.clock.now();
    this.backupFailed.catch(() => {});
  }

  async run(): Promise<void> {
    const { o, ctx } = this;
    const env = computeEnviron(o.env, ctx.workerEnv);
    await makeDirs(o.workdir);
    let usePty = o.usePty;
    if (usePty && o.initialStdin) {
      // Python sends this without a line end, gluing it to the next header line.
      this.header('WARNING: disabling usePTY for this command\n');
      usePty = false;
    }
    if (env['MACHTYPE'] !== 'i686-pc-msys') env['PWD'] = o.workdir;
    this.writeHeader(env, usePty);
    this.resolveInterruptSignal();
    await this.startWatchers();

    const startTime = ctx.clock.now();
    try {
      this.proc = await this.spawn(env, usePty);
    } catch (err) {
      await this.stopWatchers();
      if (err instanceof ExecError) return this.execFailed(err, usePty, startTime);
      const e = err as Error;
      ctx.output('stderr', `error in RunProcess._startCommand (${e.message})\n`);
      throw new CommandError(`Got exception (${e.message})`, ERR.SPAWN, { cause: err });
    }
    this.startTimers();

    const onAbort = () => this.kill(interruptOf(ctx.signal)?.silent ? 'command interrupted (connection lost)' : 'command interrupted');
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
    if (this.killed) this.signalGroup(this.proc);

    let exit: ProcessExit;
    try {
      exit = await Promise.race([this.proc.ended, this.backupFailed]);
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      this.cancelTimers();
      await this.stopWatchers();
    }
    this.finish(exit, startTime);
  }

  // --- header -------------------------------------------------------------------------

  private header(text: string): void {
    this.ctx.output('header', text);
  }

  /** A header line that is also logged with one more leading space, as RunProcess does (docs/logging.md). */
  private announce(line: string): void {
    this.ctx.log.info(' ' + line);
    this.header(line + '\n');
  }

  private writeHeader(env: Record<string, string>, usePty: boolean): void {
    const o = this.o;
    this.ctx.log.info('RunProcess._startCommand');
    this.announce(o.fakeArgv.map(shellQuote).join(' '));
    let where = ` in dir ${o.workdir}`;
    if (o.timeout) where += ` (timeout ${secs(o.timeout)})`;
    if (o.maxTime) where += ` (maxTime ${secs(o.maxTime)})`;
    this.announce(where);
    this.announce(` watching logfiles ${pyRepr(o.logfiles)}`);
    this.announce(` argv: ${this.fakeCommand}`);
    if (o.logEnviron) {
      // The environment's values stay out of the log: they can hold build secrets.
      const names = Object.keys(env).sort();
      this.ctx.log.info(` environment: ${names.length} variables (values not logged): ${names.join(', ')}`);
      this.header(' environment:\n' + names.map((k) => `  ${k}=${env[k]}\n`).join(''));
    }
    if (o.initialStdin) this.announce(` writing ${o.initialStdin.length} bytes to stdin`);
    this.announce(` using PTY: ${usePty ? 'True' : 'False'}`);
  }

  private resolveInterruptSignal(): void {
    try {
      this.interruptSignal = signalFromName(this.o.interruptSignal);
    } catch {
      this.ctx.log.warn({ interruptSignal: this.o.interruptSignal }, 'unknown interruptSignal, using KILL');
      this.interruptSignal = 'SIGKILL';
    }
  }

  // --- output -------------------------------------------------------------------------

  private async startWatchers(): Promise<void> {
    const { o, ctx } = this;
    for (const spec of o.logfileSpecs) {
      const w = new LogfileWatcher(
        join(o.workdir, spec.filename),
        spec.follow,
        ctx.clock,
        (data) => {
          this.lastOutputAt = ctx.clock.now();
          ctx.logfile(spec.name, data);
        },
        (err) => ctx.log.warn({ err, logfile: spec.name }, 'polling a logfile failed'),
      );
      this.watchers.push(w);
      await w.start();
    }
  }

  private async stopWatchers(): Promise<void> {
    await Promise.all(this.watchers.map((w) => w.stop()));
  }

  private spawn(env: Record<string, string>, usePty: boolean): Promise<SpawnedProcess> {
    const { o, ctx } = this;
    return spawnProcess({
      argv: o.argv,
      cwd: o.workdir,
      env,
      stdin: o.initialStdin,
      usePty,
      onStdout: (data) => {
        this.lastOutputAt = ctx.clock.now();
        if (!o.wantStdout || this.maxLinesHit) return;
        this.checkMaxLines(data);
        this.throttle(ctx.output('stdout', data));
      },
      onStderr: (data) => {
        this.lastOutputAt = ctx.clock.now();
        if (!o.wantStderr) return;
        this.checkMaxLines(data);
        this.throttle(ctx.output('stderr', data));
      },
    });
  }

  private checkMaxLines(data: Uint8Array): void {
    const max = this.o.maxLines;
    if (max === undefined) return;
    this.lineCount += countLineEnds(data);
    if (this.lineCount > max && !this.maxLinesHit) {
      this.maxLinesHit = true;
      this.proc?.closeStdout();
      this.ctx.status('failure_reason', 'max_lines_failure');
      this.kill(`command exceeds max lines: ${this.lineCount}/${max} written/allowed running ${this.fakeCommand}`);
    }
  }

  /**
   * Backpressure: while the master is behind, stop reading the child's output, so that
   * the child blocks in write() instead of the worker queueing everything it prints.
   */
  private throttle(writable: boolean): void {
    if (writable || this.paused || !this.proc) return;
    this.paused = true;
    this.proc.pause();
    void this.ctx.whenWritable().then(() => {
      this.paused = false;
      // Blocked on the master is not silence: `timeout` counts from here.
      this.lastOutputAt = this.ctx.clock.now();
      this.proc?.resume();
    });
  }

  // --- timeouts -----------------------------------------------------------------------

  private startTimers(): void {
    const { o, ctx } = this;
    const clock = ctx.clock;
    if (o.timeout) {
      const ms = o.timeout * 1000;
      const check = () => {
        const idle = this.paused ? 0 : clock.now() - this.lastOutputAt;
        if (idle >= ms) {
          ctx.status('failure_reason', 'timeout_without_output');
          this.kill(`command timed out: ${o.timeout} seconds without output running ${this.fakeCommand}`);
        } else {
          this.timers.push(clock.setTimeout(check, ms - idle));
        }
      };
      this.lastOutputAt = clock.now();
      this.timers.push(clock.setTimeout(check, ms));
    }
    if (o.maxTime) {
      this.timers.push(
        clock.setTimeout(() => {
          ctx.status('failure_reason', 'timeout');
          this.kill(`command timed out: ${o.maxTime} seconds elapsed running ${this.fakeCommand}`);
        }, o.maxTime * 1000),
      );
    }
  }

  private cancelTimers(): void {
    for (const t of this.timers.splice(0)) t.cancel();
  }

  // --- kill ---------------------------------------------------------------------------

  private kill(msg: string): void {
    if (this.killed) return;
    this.killed = true;
    this.cancelTimers();
    msg += ', attempting to kill';
    this.ctx.log.info(msg);
    this.header(`\n${msg}\n`);
    if (this.proc) this.signalGroup(this.proc);
    // else: not spawned yet; signalled right after spawning
  }

  private signalGroup(p: SpawnedProcess): void {
    const { o, ctx } = this;
    void killGroup(p.pgid, {
      clock: ctx.clock,
      sigtermTime: o.sigtermTime,
      interruptSignal: this.interruptSignal,
      onSignal: (s) => ctx.log.info({ signal: s, pgid: p.pgid }, 'signalled process group'),
    })
      .catch((err: unknown) => ctx.log.warn({ err }, 'killing the process group failed'))
      .then(() => {
        p.closeOutput();
        this.timers.push(
          ctx.clock.setTimeout(() => {
            const name = `SIG${o.interruptSignal}`;
            this.header(`${name} failed to kill process\n`);
            this.header('using fake rc=-1\n');
            ctx.status('rc', -1);
            this.failBackup?.(new CommandError(`${name} failed to kill process`, ERR.KILL_FAILED));
          }, BACKUP_TIMEOUT_MS),
        );
      });
  }

  // --- finish -------------------------------------------------------------------------

  private finish(exit: ProcessExit, startTime: number): void {
    const elapsed = (this.ctx.clock.now() - startTime) / 1000;
    this.ctx.log.info({ system: '-' }, `command finished with signal ${exit.signal ?? 'None'}, exit code ${exit.code ?? 'None'}, elapsedTime: ${elapsed.toFixed(6)}`);
    let rc = exit.code ?? -1;
    if (this.killed && rc === 0) rc = -1;
    if (exit.signal !== null) {
      rc = -1;
      this.header(`process killed by signal ${exit.signal}\n`);
    }
    this.ctx.status('rc', rc);
    this.header(`elapsedTime=${elapsed.toFixed(6)}\n`);
  }

  /**
   * The program could not be executed. Python's forked child reports this on its stderr
   * (the terminal, with a PTY) and exits 1, so the step fails and the build goes on.
   */
  private execFailed(err: ExecError, usePty: boolean, startTime: number): void {
    this.ctx.log.info({ program: err.path, code: err.osCode }, 'cannot execute the program');
    this.ctx.output(usePty ? 'stdout' : 'stderr', execFailureText(err, this.o.argv, this.o.fakeArgv));
    this.finish({ code: 1, signal: null }, startTime);
  }
}
