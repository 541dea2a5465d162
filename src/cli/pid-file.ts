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

const procRoot = '/proc';

function realpathOrSelf(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/** Whether `pid` is a process (its thread group's leader), not another thread of one. */
function isProcessLeader(pid: number): boolean {
  let status: string;
  try {
    status = fs.readFileSync(path.join(procRoot, String(pid), 'status'), 'utf8');
  } catch {
    return true; // not readable: let the other checks decide
  }
  const tgid = /^Tgid:\s*(\d+)/m.exec(status);
  return tgid === null || Number(tgid[1]) === pid;
}

/** A program name that runs a buildbot worker: this worker's bin/worker.js, Python's buildbot-worker, twistd. */
const WORKER_PROGRAM = /(^|\/)([^/]*worker[^/]*|twistd[^/]*)$/;

/**
 * Whether live process `pid` is a worker of `basedir`, so that twistd.pid naming it can be
 * trusted: its command line runs a worker program, and either its working directory is the
 * basedir (the daemon child and Python's twistd chdir there) or one of its arguments names
 * the basedir. A pid file left by a worker that died can name any process once the pid is
 * reused (pid 1 in a restarted container); trusting it would block `start` and make `stop`
 * signal that process. Without /proc (not Linux) the pid is trusted when it is alive, as
 * twistd does. See README "twistd.pid, umask and twistd.log".
 */
export function isWorkerOf(pid: number, basedir: string): boolean {
  if (!isAlive(pid)) return false;
  if (!fs.existsSync(path.join(procRoot, String(pid)))) return !fs.existsSync(path.join(procRoot, 'self'));
  // /proc/N also answers for a thread id N, and kill(N, 0) succeeds for it: after a container
  // restart the old worker's pid can be a thread of the new worker (or of another process).
  // A pid file holds a process id, so a number that is now a thread is stale.
  if (!isProcessLeader(pid)) return false;
  let argv: string[];
  try {
    argv = fs
      .readFileSync(path.join(procRoot, String(pid), 'cmdline'), 'utf8')
      .split('\0')
      .filter((a) => a !== '');
  } catch {
    return false; // gone meanwhile, or not readable: not provably ours
  }
  if (!argv.some((a) => WORKER_PROGRAM.test(a))) return false;
  const want = realpathOrSelf(basedir);
  let cwd: string | undefined;
  try {
    cwd = fs.readlinkSync(path.join(procRoot, String(pid), 'cwd'));
  } catch {
    cwd = undefined; // another user's process: its arguments still tell
  }
  if (cwd !== undefined && realpathOrSelf(cwd) === want) return true;
  // `start --nodaemon BASEDIR` run from elsewhere: BASEDIR relative to the process's cwd.
  return argv.some((a) => !a.startsWith('-') && (path.isAbsolute(a) || cwd !== undefined) && realpathOrSelf(path.resolve(cwd ?? '/', a)) === want);
}

/** The pid of the worker running in `basedir` according to twistd.pid, or undefined (no file, stale, or not a worker of this basedir). */
export function runningWorkerPid(basedir: string, self: number = process.pid): number | undefined {
  const pid = readPid(basedir);
  return pid !== undefined && pid !== self && isWorkerOf(pid, basedir) ? pid : undefined;
}

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** The pid of an existing pid file, giving a worker that has just created it a moment to write its pid. */
function readPidSettled(basedir: string): number | undefined {
  for (let i = 0; i < 40; i++) {
    const pid = readPid(basedir);
    if (pid !== undefined) return pid;
    let young = false;
    try {
      young = Date.now() - fs.statSync(pidFilePath(basedir)).mtimeMs < 2_000 && fs.statSync(pidFilePath(basedir)).size === 0;
    } catch {
      return undefined;
    }
    if (!young) return undefined;
    sleepSync(50);
  }
  return readPid(basedir);
}

export type PidClaim = { ok: true; stale?: number } | { ok: false; running: number };

/**
 * Claim the pid file like twistd: refuse when it names a running worker of this basedir,
 * replace one that does not. The file is created exclusively (O_EXCL), so of two workers
 * starting at once only one gets it. Written without a newline, like twistd.
 */
export function claimPidFile(basedir: string, pid: number = process.pid, parent: number = process.ppid): PidClaim {
  const file = pidFilePath(basedir);
  let stale: number | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const existing = readPidSettled(basedir);
      // Our own parent is never the worker of the pid file: in a container restarted with its
      // basedir, the old number can be tini's, whose command line names the worker and basedir.
      if (existing !== undefined && existing !== pid && existing !== parent && isWorkerOf(existing, basedir)) return { ok: false, running: existing };
      // Stale (dead process, reused pid, garbage): remove it unless it changed since it was read.
      if (readPid(basedir) !== existing) continue;
      stale = existing;
      fs.rmSync(file, { force: true });
      continue;
    }
    try {
      fs.writeSync(fd, String(pid));
    } finally {
      fs.closeSync(fd);
    }
    return stale !== undefined && stale !== pid ? { ok: true, stale } : { ok: true };
  }
  // Another start keeps replacing the file: whoever holds it now is running.
  const holder = readPid(basedir);
  return { ok: false, running: holder ?? 0 };
}

/** Remove the pid file if it still names `pid`. */
export function releasePidFile(basedir: string, pid: number = process.pid): void {
  if (readPid(basedir) === pid) fs.rmSync(pidFilePath(basedir), { force: true });
}

/** What twistd prints when the pid file names a running process (`_twistd_unix.checkPID`). */
export const TWISTD_ALREADY_RUNNING = (pid: number) =>
  `Another twistd server is running, PID ${pid}\n\n` +
  'This could either be a previously started instance of your application or a\n' +
  'different application entirely. To start a new one, either run it in some other\n' +
  'directory, or use the --pidfile and --logfile parameters to avoid clashes.\n';
