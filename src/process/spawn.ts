import { spawn as spawnChild } from 'node:child_process';
import { readSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { IPty } from 'node-pty';
import { ExecError, isExecErrno } from './exec-error.js';
import { execLookupFailure } from './program-lookup.js';
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

/**
 * Spawn. Rejects with ExecError when the program cannot be executed (not found, not
 * executable: checked first the way Python's execvpe searches `PATH`, so that the error
 * names the same path, and a PTY child does not print its own message); with the system
 * error when the process cannot be created at all (EAGAIN, ENOMEM, ...).
 */
export function spawnProcess(o: SpawnOptions): Promise<SpawnedProcess> {
  const file = o.argv[0];
  if (file === undefined) return Promise.reject(new TypeError('empty argv'));
  const failure = execLookupFailure(file, o.env['PATH'], o.cwd);
  if (failure) return Promise.reject(new ExecError(failure.code, failure.path));
  return o.usePty ? spawnPty(o) : spawnPiped(o);
}

function spawnPiped(o: SpawnOptions): Promise<SpawnedProcess> {
  const [file, ...args] = o.argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawnChild(file, args, {
      cwd: o.cwd,
      env: o.env,
      detached: true,
      stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const failed = (err: NodeJS.ErrnoException) => {
      // Exec or chdir failed in the child after all (a race with the lookup, ENOEXEC, ...).
      reject(isExecErrno(err.code) && err.syscall?.startsWith('spawn') ? new ExecError(err.code!, file, { cause: err }) : err);
    };
    child.once('error', failed);
    child.once('spawn', () => {
      child.off('error', failed);
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
  const [file, ...args] = o.argv as [string, ...string[]];
  const pty = loadPty();
  const term: IPty = pty.spawn(file, args, {
    name: 'xterm',
    cols: 80,
    rows: 25,
    cwd: o.cwd,
    env: o.env,
    encoding: null,
  });
  const reader = new TerminalReader(term, (data) => o.onStdout(data));
  const ended = new Promise<ProcessExit>((done) => {
    term.onExit(({ exitCode, signal }) => {
      done(signal ? { code: null, signal } : { code: exitCode, signal: null });
    });
  });
  return {
    pid: term.pid,
    pgid: term.pid,
    usesPty: true,
    ended,
    closeStdout: () => reader.discard(),
    closeOutput: () => reader.close(),
    pause: () => reader.pause(),
    resume: () => reader.resume(),
  };
}

/** Longest wait between reads of a terminal whose end-of-file came before its end. */
const PTY_DRAIN_MAX_WAIT_MS = 50;
const PTY_READ_BYTES = 64 * 1024;

/**
 * Reads a terminal until it reports its end, so that nothing the child wrote is lost.
 *
 * node-pty reads the pty master through a `tty.ReadStream`. Two things cut the end off:
 * libuv turns a read of 0 bytes into end-of-file, and at the child's exit Linux can answer
 * 0 while the last output is still on its way through the terminal (it answers EIO once
 * the other side is closed and everything is read); and node-pty destroys the stream 200 ms
 * after the child is reaped (node_modules/node-pty/lib/unixTerminal.js,
 * DESTROY_SOCKET_TIMEOUT_MS), discarding what a paused reader has not taken yet.
 *
 * So the stream's `destroy` is held back until the terminal said EIO: after an early
 * end-of-file the descriptor (still open, as the stream is not destroyed) is read directly
 * until EIO, waiting a little between reads while nothing is there; a destroy with an
 * error (EIO itself) first hands over what the stream holds. node-pty emits its exit once
 * the stream is closed, which is then after the last byte.
 */
class TerminalReader {
  private readonly socket: Socket;
  private readonly fd: number;
  private readonly realDestroy: (err?: Error) => Socket;
  private finished = false;
  private discarding = false;
  private paused = false;
  /** The stream hit end-of-file: the rest is read from the descriptor. */
  private draining = false;
  private drainTimer: NodeJS.Timeout | undefined;
  private drainWait = 1;

  constructor(
    term: IPty,
    private readonly deliver: (data: Uint8Array) => void,
  ) {
    // node-pty keeps these private; both exist on Unix since node-pty 0.x.
    const internals = term as unknown as { _socket: Socket; _fd: number };
    this.socket = internals._socket;
    this.fd = internals._fd;
    this.realDestroy = this.socket.destroy.bind(this.socket);
    this.socket.destroy = (err?: Error) => {
      if (this.finished) return this.realDestroy(err);
      // EIO (the terminal's end) or a read error: finish takes what the stream still buffers.
      if (err) return this.finish(err);
      // End-of-file or node-pty's timer: not the end yet.
      this.startDrain();
      return this.socket;
    };
    term.onData((data: string | Buffer) => this.onData(typeof data === 'string' ? Buffer.from(data, 'utf8') : data));
  }

  private onData(data: Uint8Array): void {
    if (!this.discarding) this.deliver(data);
  }

  private takeBuffered(): void {
    while (this.socket.read() !== null) {
      /* read() emits 'data' for each chunk */
    }
  }

  private startDrain(): void {
    if (this.draining) return;
    this.draining = true;
    this.takeBuffered();
    this.drain();
  }

  private drain(): void {
    this.drainTimer = undefined;
    if (this.finished || this.paused) return;
    // The stream may still have read some (before its end-of-file): that comes first.
    this.takeBuffered();
    if (this.paused) return;
    const buf = Buffer.allocUnsafe(PTY_READ_BYTES);
    for (;;) {
      let n: number;
      try {
        n = readSync(this.fd, buf, 0, buf.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
        this.finish(); // EIO: the other side is closed and everything is read
        return;
      }
      if (n === 0) break;
      this.drainWait = 1;
      this.onData(Buffer.from(buf.subarray(0, n)));
      if (this.paused) return;
    }
    // Nothing there now: the child's side is not closed yet (or a grandchild holds it).
    this.drainTimer = setTimeout(() => this.drain(), this.drainWait);
    this.drainWait = Math.min(this.drainWait * 2, PTY_DRAIN_MAX_WAIT_MS);
  }

  private finish(err?: Error): Socket {
    this.takeBuffered();
    this.finished = true;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    return this.realDestroy(err);
  }

  /** Stop delivering (max_lines); the terminal is still read to its end. */
  discard(): void {
    this.discarding = true;
    this.resume();
  }

  /** Stop reading (the command is being killed): the end comes now. */
  close(): void {
    this.discarding = true;
    if (!this.finished) this.finish();
  }

  pause(): void {
    this.paused = true;
    if (!this.draining) this.socket.pause();
  }

  resume(): void {
    this.paused = false;
    if (!this.draining) this.socket.resume();
    else if (!this.drainTimer && !this.finished) this.drain();
  }
}
