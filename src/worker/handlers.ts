import type { CommandArgs, RemoteReader, RemoteWriter } from '../commands/context.js';
import type { OutputSettings, UpdateEntry } from '../commands/update.js';
import type { PyValue } from '../values.js';

/** Why a command ended abnormally (its exception); PB sends it as a CopyableFailure, msgpack as a string. */
export interface CommandFailure {
  /** Dotted Python-style type name, e.g. `builtins.FileNotFoundError`. */
  type: string;
  /** str(exception). */
  value: string;
  traceback: string;
}

/**
 * The session's link back to the master for one command. Created by the protocol
 * session (PB: calls on the RemoteCommand reference; msgpack: `update`/`complete` ops).
 */
export interface CommandChannel {
  sendUpdates(entries: UpdateEntry[]): Promise<void>;
  complete(failure: CommandFailure | null): Promise<void>;
  writer?: RemoteWriter;
  reader?: RemoteReader;
}

export interface StartCommandRequest {
  commandId: string;
  /** As the master named it (`uploadFile` or `upload_file`, ...). */
  commandName: string;
  /** Paths already resolved to absolute ones by the session (PB joins them, msgpack masters send them joined). */
  args: CommandArgs;
  builderName?: string;
  channel: CommandChannel;
}

/** What `getWorkerInfo` / `get_worker_info` returns: text keys, see pb.md §6.2. */
export type WorkerInfo = Record<string, PyValue>;

/**
 * The worker as a session sees it: protocol-neutral handlers for everything the master
 * can ask. Implemented by the worker layer (`src/worker/bot.ts`); called by the PB and
 * msgpack sessions.
 */
export interface WorkerHandlers {
  /** The worker's base directory (absolute). */
  readonly basedir: string;
  print(message: string): void;
  getWorkerInfo(): Promise<WorkerInfo>;
  /** Command name → version, as `getCommands` answers. */
  getCommands(): Record<string, string>;
  getVersion(): string;
  /**
   * PB only: make sure every builder directory exists (and handle leftover dirs);
   * resolves to builder name → absolute builder directory.
   */
  setBuilderList(builders: Array<[name: string, builddir: string]>): Promise<Map<string, string>>;
  /** msgpack only: the master's output settings. */
  setWorkerSettings(settings: OutputSettings): void;
  /** Start a command; throws CommandError (unknown command, bad args) synchronously. */
  startCommand(request: StartCommandRequest): void;
  /** Flush the command's buffered output, then interrupt it; unknown ids are only logged. */
  interruptCommand(commandId: string, why: string): Promise<void>;
  /** The master asked the worker to shut down. */
  shutdown(): void;
  /** The session's connection is gone: stop every running command (silently). */
  connectionLost(): void;
}
