import { constants } from 'node:os';
import { CommandError, ERR } from '../errors.js';

/**
 * Signal names as Buildbot spells them (`interruptSignal: "KILL"`, without `SIG`) and
 * the numbers Python reports in "process killed by signal N".
 */
export function signalFromName(name: string): NodeJS.Signals {
  const full = (name.startsWith('SIG') ? name : `SIG${name}`).toUpperCase();
  if (!(full in constants.signals)) throw new CommandError(`unknown signal name '${name}'`, ERR.BAD_SIGNAL);
  return full as NodeJS.Signals;
}

/** The number of a signal name (`SIGKILL` → 9); undefined for names this platform lacks. */
export function signalNumber(signal: NodeJS.Signals | string): number | undefined {
  return (constants.signals as Record<string, number>)[signal];
}
