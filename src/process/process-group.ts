import { readdirSync, readFileSync } from 'node:fs';

/**
 * Process-group primitives (POSIX). Every command runs as the leader of its own group
 * (pgid = pid), so signalling `-pgid` reaches the command and every descendant that did
 * not move itself to another group or session (daemons that call setsid() escape, as
 * with the Python worker).
 */

/** Send `signal` to every process of the group; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

const PROC = '/proc';

/**
 * Pids of the group's live members (zombies excluded), from /proc; undefined where there
 * is no /proc. Zombies matter in containers whose init does not reap orphans: a zombie is
 * dead, but `kill(-pgid, 0)` still finds it.
 */
export function groupMembers(pgid: number): number[] | undefined {
  let entries: string[];
  try {
    entries = readdirSync(PROC);
  } catch {
    return undefined;
  }
  const members: number[] = [];
  for (const name of entries) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`${PROC}/${name}/stat`, 'latin1');
    } catch {
      continue; // exited while scanning
    }
    // "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses.
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ', 3);
    if (fields[0] !== 'Z' && fields[0] !== 'X' && Number(fields[2]) === pgid) members.push(Number(name));
  }
  return members;
}

/** Whether any live process is left in the group. */
export function groupAlive(pgid: number): boolean {
  const members = groupMembers(pgid);
  if (members) return members.length > 0;
  return signalGroup(pgid, 0);
}
