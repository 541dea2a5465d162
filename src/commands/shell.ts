import type { Command, CommandContext, CommandFactory } from './context.js';
import { parseShellArgs, type ShellOptions } from './shell/shell-args.js';

export { parseCommand, parseShellArgs, type ShellOptions } from './shell/shell-args.js';

/**
 * The `shell` command (Python `commands/shell.py WorkerShellCommand` + `runprocess.py
 * RunProcess`, `docs/python-worker.md` §10.1): runs `command` in `workdir` as its own process group,
 * streams stdout/stderr, follows `logfiles`, enforces `timeout` (seconds without output),
 * `maxTime` and `max_lines`, and reports the Python header lines, `rc` and `elapsedTime`.
 * The arguments are all checked when the command is created (`parseShellArgs`); each run
 * is a `ShellRun`.
 */
export class ShellCommand implements Command {
  constructor(readonly o: ShellOptions) {}

  async run(ctx: CommandContext): Promise<void> {
    // Loaded on first use: an idle worker does not carry the process code (bench/README.md, "Memory").
    const { ShellRun } = await import('./shell/shell-run.js');
    return new ShellRun(this.o, ctx).run();
  }
}

export const shellCommandFactory: CommandFactory = (args) => new ShellCommand(parseShellArgs(args));
