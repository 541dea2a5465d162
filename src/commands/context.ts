import type { Logger } from 'pino';
import type { Clock } from '../util/clock.js';
import type { PyValue } from '../values.js';
import type { OutputStream } from './update.js';

/** The master's writer for uploads: a PB FileWriter/DirectoryWriter or msgpack `update_upload_*` ops. */
export interface RemoteWriter {
  write(data: Uint8Array): Promise<void>;
  close(): Promise<void>;
  /** Times in seconds since the epoch (floats). */
  utime(accessTime: number, modifiedTime: number): Promise<void>;
  /** Directory uploads only: extract the tar written so far. */
  unpack(): Promise<void>;
}

/** The master's reader for downloads. `read` resolves to null or an empty array at end of file. */
export interface RemoteReader {
  read(length: number): Promise<Uint8Array | null>;
  close(): Promise<void>;
}

/** Arguments as the master sent them, with paths already made absolute by the protocol layer. */
export type CommandArgs = Record<string, unknown>;

/**
 * Everything a command may use. Commands never learn which protocol runs them: paths in
 * `args` are absolute (`path`, `paths`, `from_path`, `to_path`, `workdir`), output goes
 * through `output`/`logfile`/`status`, and transfers go through `writer()`/`reader()`.
 */
export interface CommandContext {
  readonly commandId: string;
  readonly args: CommandArgs;
  readonly clock: Clock;
  readonly log: Logger;
  /** The worker's environment (after the blacklist), the base for `env` of shell steps. */
  readonly workerEnv: Readonly<Record<string, string>>;
  /** Aborted when the command must stop (master interrupt, lost connection, shutdown); `reason` says why. */
  readonly signal: AbortSignal;
  /**
   * Log text or raw bytes (decoded as UTF-8 with replacement, incrementally per stream).
   * Returns false when the output the master has not acknowledged yet is over its bound
   * (like `stream.write`): a command that can stop producing (a child's pipes) should,
   * until `whenWritable()` resolves. The data is accepted either way.
   */
  output(stream: OutputStream, data: string | Uint8Array): boolean;
  /** Text or bytes of a named logfile (`logfiles` argument of shell); returns like `output`. */
  logfile(name: string, data: string | Uint8Array): boolean;
  /** Resolves when the unacknowledged output has drained enough to produce more (at once if it has). */
  whenWritable(): Promise<void>;
  /** A status update: `rc`, `stat`, `files`, `failure_reason`, `got_revision`, ... */
  status(key: string, value: PyValue): void;
  /** Send everything queued now, and wait until the master has it. */
  flush(): Promise<void>;
  /** The master's writer; throws CommandError when the master sent none. */
  writer(): RemoteWriter;
  /** The master's reader; throws CommandError when the master sent none. */
  reader(): RemoteReader;
}

/** A running command. `run` resolves when the command is done (its `rc` sent) and rejects if it raised. */
export interface Command {
  run(ctx: CommandContext): Promise<void>;
}

/**
 * Validates the arguments and builds a command; throws CommandError (e.g. "missing
 * args") so that `start_command`/`startCommand` can be answered with an error.
 */
export type CommandFactory = (args: CommandArgs) => Command;
