import { readdirSync, readFileSync } from 'node:fs';
import { eventually } from '../helpers/eventually.js';

/** Live (non-zombie) processes whose process group is `pgid`, read straight from /proc. */
export function liveInGroup(pgid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'latin1');
    } catch {
      continue;
    }
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] !== 'Z' && rest[0] !== 'X' && Number(rest[2]) === pgid) pids.push(Number(name));
  }
  return pids;
}

/** Whether `pid` is a live (non-zombie) process. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The process group of `pid`. */
export function pgidOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

/** Poll until `pred` holds or `ms` pass. */
export function waitFor(pred: () => boolean, ms = 5000): Promise<boolean> {
  return eventually(pred, 'condition', ms).then(
    () => true,
    () => pred(),
  );
}
