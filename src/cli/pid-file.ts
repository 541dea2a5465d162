import fs from 'node:fs';
import path from 'node:path';

export const PID_FILE_NAME = 'twistd.pid';

export function pidFilePath(basedir: string): string {
  return path.join(basedir, PID_FILE_NAME);
}

/** The pid in `<basedir>/twistd.pid`, or undefined when there is none (or it is not a number). */
export function readPid(basedir: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(pidFilePath(basedir), 'utf8').slice(0, 64);
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Claim the pid file like twistd: refuse when it names a live process, replace a stale one.
 * Returns the pid of the running process on refusal.
 */
export function claimPidFile(basedir: string, pid: number = process.pid): { ok: true; stale?: number } | { ok: false; running: number } {
  const existing = readPid(basedir);
  if (existing !== undefined && existing !== pid && isAlive(existing)) return { ok: false, running: existing };
  fs.writeFileSync(pidFilePath(basedir), `${pid}\n`);
  return existing !== undefined && existing !== pid ? { ok: true, stale: existing } : { ok: true };
}

/** Remove the pid file if it still names `pid`. */
export function releasePidFile(basedir: string, pid: number = process.pid): void {
  if (readPid(basedir) === pid) fs.rmSync(pidFilePath(basedir), { force: true });
}
