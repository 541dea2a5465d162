import { CommandError, ERR } from '../errors.js';

/**
 * The reason of a command's AbortSignal: the master interrupted it (`silent` false: the
 * command reports what it did, e.g. "command interrupted" and rc -1), or the connection
 * is gone / the worker stops (`silent` true: nothing more reaches the master).
 */
export class CommandInterrupted extends CommandError {
  constructor(
    readonly why: string,
    readonly silent: boolean,
  ) {
    super(`command interrupted: ${why}`, ERR.INTERRUPTED);
  }
}

/** The CommandInterrupted behind an aborted signal (a plain reason is treated as a master interrupt). */
export function interruptOf(signal: AbortSignal): CommandInterrupted | undefined {
  if (!signal.aborted) return undefined;
  const r: unknown = signal.reason;
  return r instanceof CommandInterrupted ? r : new CommandInterrupted(String(r), false);
}
