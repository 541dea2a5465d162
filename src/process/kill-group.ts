import type { Clock } from '../util/clock.js';
import { groupAlive, signalGroup } from './process-group.js';

/** Python `RunProcess.BACKUP_TIMEOUT`: how long a signalled process gets before the next step. */
export const BACKUP_TIMEOUT_MS = 5000;
const POLL_MS = 50;

export interface KillGroupOptions {
  clock: Clock;
  /** Seconds between SIGTERM and `interruptSignal` (the `sigtermTime` argument); undefined: `interruptSignal` at once. */
  sigtermTime?: number;
  /** The signal that should end the command (`interruptSignal`, default SIGKILL). */
  interruptSignal: NodeJS.Signals;
  /** Grace after `interruptSignal` before SIGKILL, when it was not SIGKILL (default BACKUP_TIMEOUT_MS). */
  backupMs?: number;
  /** Called with each signal actually sent (for logs and tests). */
  onSignal?: (signal: NodeJS.Signals) => void;
}

/** Resolve once the group has no live member or `ms` passed; true if it is gone. */
export async function waitGroupGone(pgid: number, clock: Clock, ms: number): Promise<boolean> {
  const deadline = clock.now() + ms;
  for (;;) {
    if (!groupAlive(pgid)) return true;
    const left = deadline - clock.now();
    if (left <= 0) return false;
    await new Promise<void>((resolve) => clock.setTimeout(resolve, Math.min(POLL_MS, left)));
  }
}

/**
 * Kill the whole process group (Python `RunProcess.kill`/`sendSig`/`checkProcess`):
 * with `sigtermTime`, SIGTERM to the group, wait up to `sigtermTime` for it to go, then
 * `interruptSignal` to the group; without, `interruptSignal` at once. If that was not
 * SIGKILL and members survive `backupMs`, SIGKILL the group. Resolves when the last signal
 * has been sent or the group is gone.
 *
 * Differences from Python (`docs/python-worker.md` §10.1, §18 item 5): Python sends the second signal
 * to the leader only and checks only whether the leader lives, so grandchildren that
 * ignore SIGTERM survive; here every step targets and checks the whole group, and a final
 * SIGKILL leaves no survivor in the group.
 */
export async function killGroup(pgid: number, o: KillGroupOptions): Promise<void> {
  const send = (signal: NodeJS.Signals): boolean => {
    const hit = signalGroup(pgid, signal);
    if (hit) o.onSignal?.(signal);
    return hit;
  };
  if (o.sigtermTime !== undefined) {
    if (!send('SIGTERM')) return;
    if (await waitGroupGone(pgid, o.clock, Math.max(0, o.sigtermTime * 1000))) return;
  }
  if (!send(o.interruptSignal)) return;
  if (o.interruptSignal === 'SIGKILL') return;
  if (await waitGroupGone(pgid, o.clock, o.backupMs ?? BACKUP_TIMEOUT_MS)) return;
  send('SIGKILL');
}
