import type { CommandRun, StartCommandOptions } from './command-run.js';

/** Which worker protocol a connection speaks. */
export type MasterProtocol = 'pb' | 'msgpack';

/** A builder the master assigns to every worker: name and builder directory (relative to the worker's basedir). */
export interface BuilderConfig {
  name: string;
  builddir: string;
}

/**
 * An attached worker, as the test master sees it. Obtained from `master.waitForWorker()`
 * or an `attach` event; stays valid (but inert) after the connection is gone.
 */
export interface WorkerHandle {
  readonly name: string;
  readonly protocol: MasterProtocol;
  /** The worker's `getWorkerInfo` / `get_worker_info` answer (text keys; `environ`, `basedir`, ...). */
  readonly info: Record<string, unknown>;
  readonly builders: readonly BuilderConfig[];
  /** True from the end of the attach sequence until the connection is gone. */
  readonly attached: boolean;
  /** Resolves with the reason once the connection is gone. */
  readonly detached: Promise<string>;
  /** Protocol mistakes seen on this connection (also emitted as `violation` events). */
  readonly violations: readonly string[];
  /** Worker → master keepalives received (PB `perspective.keepalive`). */
  readonly keepalivesReceived: number;
  /** The worker asked for a graceful shutdown (PB `perspective.shutdown`). */
  readonly shutdownRequested: boolean;

  /** Master → worker `print` (msgpack op / PB `Bot.print(message=...)`); resolves on the answer. */
  print(message: string): Promise<void>;
  /** The master's periodic keepalive, now: msgpack `keepalive` op, PB `print('keepalive')`. */
  keepalive(): Promise<void>;
  /**
   * Begin a build on a builder like the master does: `print('ping')`, then (PB)
   * `WorkerForBuilder.startBuild()`. startCommand does it before the first command of a builder.
   */
  startBuild(builderName: string): Promise<void>;
  /**
   * Start a command with PB-style, builder-relative args (`{workdir: 'build', command: [...]}`).
   * PB sends them as they are, with a RemoteCommand (and FileWriter/FileReader for
   * `uploadFile`/`uploadDirectory`/`downloadFile`) exported for the command; msgpack
   * rewrites them exactly like the 3.7 master (absolute paths, snake_case transfer names).
   * Throws if the worker is not attached or the builder is unknown.
   */
  startCommand(builderName: string, commandName: string, args: Record<string, unknown>, opts?: StartCommandOptions): CommandRun;
  /** Commands started and not yet finished. */
  runningCommands(): CommandRun[];
  /** Ask the worker to shut down (msgpack `shutdown` op / PB `Bot.shutdown()`); resolves on its answer. */
  shutdown(): Promise<void>;
  /** Drop the TCP connection at once (no close handshake), like the master's loseConnection. */
  disconnect(): void;
  /** PB: number of references the master has exported and the worker has not decref'd yet. 0 for msgpack. */
  liveReferences(): number;
}
