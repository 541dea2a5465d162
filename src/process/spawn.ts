import { spawn as spawnChild } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { IPty } from 'node-pty';
import { signalNumber } from './signals.js';

/**
 * Starting a command's process as the leader of its own process group (Python
 * `runprocess.py ProcGroupProcess`, which calls setpgid(0, 0) in the child).
 *
 * Pipes: node:child_process with `detached: true` (the child calls setsid(), so it leads
 * a new session and group, pgid = pid) rather than execa: we need raw byte chunks as they
 * arrive, the exit signal as such, and kills aimed at the whole group with our own
 * escalation; execa 9's kill targets the child pid only, its `forceKillAfterDelay` would
 * SIGKILL only the leader, and its cleanup-on-exit is off for detached children anyway.
 * PTY: node-pty (forkpty: the child is a session and group leader as well).
 *
 * Signal dispositions: libuv resets every signal handler to SIG_DFL and clears the
 * signal mask in the child before exec (so a Node parent that ignores SIGPIPE does not
 * pass that on, issue #3153); node-pty's fork does the same. Tests check /proc.
 */

export interface SpawnOptions {
  argv: readonly string[];
  cwd: string;
  env: Record<string, string>;
  /** Written to stdin, which is then closed; without it stdin is closed at once. Not with `usePty`. */
  stdin?: Uint8Array;
  usePty?: boolean;
  onStdout(data: Uint8Array): void;
  /** Never called with a PTY: the terminal merges both streams into stdout. */
  onStderr(data: Uint8Array): void;
}

/** How the leader ended: `signal` is a number (like Python's `status.signal`), `code` null then. */
export interface ProcessExit {
  code: number | null;
  signal: number | null;
}

export interface SpawnedProcess {
  readonly pid: number;
  /** Equal to `pid`: the process leads its own group. */
  readonly pgid: number;
  readonly usesPty: boolean;
  /** Resolves when the leader has exited and its output is closed (Twisted `processEnded`). */
  readonly ended: Promise<ProcessExit>;
  /** Stop reading stdout (max_lines); the child gets SIGPIPE on its next write. */
  closeStdout(): void;
  /** Stop reading all output, so a grandchild holding the pipes does not delay `ended` (Python `loseConnection`). */
  closeOutput(): void;
  /**
   * Stop reading output for now (backpressure): the pipe or terminal fills up and the
   * child blocks in write(). `ended` waits for the output to be read, so every pause
   * needs a `resume()` or a `closeOutput()`.
   */
  pause(): void;
  resume(): void;
}

const require = createRequire(import.meta.url);
let ptyModule: typeof import('node-pty') | undefined;

function loadPty(): typeof import('node-pty') {
  ptyModule ??= require('node-pty') as typeof import('node-pty');
  return ptyModule;
}

/** Spawn; rejects with the system error (ENOENT, EACCES, ...) when the program cannot be started. */
export function spawnProcess(o: SpawnOptions): Promise<SpawnedProcess> {
  return o.usePty ? spawnPty(o) : spawnPiped(o);
}

function spawnPiped(o: SpawnOptions): Promise<SpawnedProcess> {
  const [file, ...args] = o.argv;
  if (file === undefined) return Promise.reject(new TypeError('empty argv'));
  return new Promise((resolve, reject) => {
    const child = spawnChild(file, args, {
      cwd: o.cwd,
      env: o.env,
      detached: true,
      stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    child.once('error', reject);
    child.once('spawn', () => {
      child.off('error', reject);
      // Errors after a successful spawn (EPIPE on stdin, stream errors) must not crash the worker.
      child.on('error', () => {});
      const stdout = child.stdout!;
      const stderr = child.stderr!;
      stdout.on('data', (b: Buffer) => o.onStdout(b));
      stderr.on('data', (b: Buffer) => o.onStderr(b));
      stdout.on('error', () => {});
      stderr.on('error', () => {});
      if (o.stdin && child.stdin) {
        child.stdin.on('error', () => {});
        child.stdin.end(o.stdin);
      }
      const ended = new Promise<ProcessExit>((done) => {
        child.once('close', (code, signal) => {
          done({ code: signal ? null : code, signal: signal ? (signalNumber(signal) ?? -1) : null });
        });
      });
      const pid = child.pid!;
      resolve({
        pid,
        pgid: pid,
        usesPty: false,
        ended,
        closeStdout: () => void stdout.destroy(),
        closeOutput: () => {
          stdout.destroy();
          stderr.destroy();
        },
        pause: () => {
          stdout.pause();
          stderr.pause();
        },
        resume: () => {
          stdout.resume();
          stderr.resume();
        },
      });
    });
  });
}

async function spawnPty(o: SpawnOptions): Promise<SpawnedProcess> {
  const [file, ...args] = o.argv;
  if (file === undefined) throw new TypeError('empty argv');
  const pty = loadPty();
  const term: IPty = pty.spawn(file, args, {
    name: 'xterm',
    cols: 80,
    rows: 25,
    cwd: o.cwd,
    env: o.env,
    encoding: null,
  });
  let reading = true;
  let exited = false;
  let exitWatch: NodeJS.Timeout | undefined;
  const stopWatch = () => {
    if (exitWatch) clearInterval(exitWatch);
    exitWatch = undefined;
  };
  term.onData((data: string | Buffer) => {
    if (reading) o.onStdout(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  });
  const ended = new Promise<ProcessExit>((done) => {
    term.onExit(({ exitCode, signal }) => {
      exited = true;
      stopWatch();
      done(signal ? { code: null, signal } : { code: exitCode, signal: null });
    });
  });
  return {
    pid: term.pid,
    pgid: term.pid,
    usesPty: true,
    ended,
    closeStdout: () => {
      reading = false;
      term.resume();
    },
    closeOutput: () => {
      reading = false;
      term.resume();
    },
    pause: () => {
      if (exited) return;
      term.pause();
      // node-pty destroys the terminal 200 ms after the child is reaped, dropping what is
      // still unread: while paused, watch for the child's end and read everything then
      // (what is left is at most the kernel's terminal buffer).
      exitWatch ??= setInterval(() => {
        if (!childGone(term.pid)) return;
        exited = true;
        stopWatch();
        term.resume();
      }, PTY_EXIT_POLL_MS);
    },
    resume: () => {
      stopWatch();
      term.resume();
    },
  };
}

/** How often a paused terminal checks whether its child has ended. */
const PTY_EXIT_POLL_MS = 20;

/** The process is gone or a zombie (it can write no more output). */
function childGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}
