import type { Logger } from 'pino';
import { CommandError, ERR, WorkerError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { PyFloat, type PyValue } from '../values.js';
import type { CommandFailure, StartCommandRequest } from '../worker/handlers.js';
import type { Command, CommandContext, RemoteReader, RemoteWriter } from './context.js';
import { CommandInterrupted } from './interrupt.js';
import { LineSplitter, newlineRegExp } from './output/line-splitter.js';
import { UpdateBuffer } from './output/update-buffer.js';
import { Utf8StreamDecoder } from './output/utf8-decoder.js';
import type { Registry } from './registry.js';
import { DEFAULT_OUTPUT_SETTINGS, type OutputSettings, type OutputStream, type UpdateEntry } from './update.js';
import { pythonTypeOf } from '../protocol/python-failure.js';

/**
 * Update batches of one command on the wire before the master acknowledged the first:
 * waiting for each answer would cap log streaming at one buffer (64 KiB) per round trip.
 * The 3.7 worker does not wait at all; this bounds the worker's part of the backlog.
 */
export const UPDATES_IN_FLIGHT = 8;

/**
 * Cost (about bytes, see UpdateBuffer) of a command's output not yet acknowledged by the
 * master above which `ctx.output` asks the command to pause its producer. Without it a
 * fast child is read at pipe speed and everything the master has not taken yet piles up
 * in memory. Well above the in-flight window (8 × 64 KiB), so the wire never runs dry.
 */
export const OUTPUT_BACKLOG_LIMIT = 2 * 1024 * 1024;

/**
 * How long a command's first output (its header) waits before it is sent. A step that ends
 * within it reaches the master as one update (header, rc, elapsed time) and its completion,
 * as with Python's worker, instead of two updates: on a real master each update call costs
 * the same whatever it holds (bench/README.md, "One update per short step"). A person reading the
 * log does not see a quarter of a second; Python holds the header up to `buffer_timeout` (5 s).
 */
export const PROMPT_DELAY_MS = 250;

/** What the runner counts, when a metrics sink is given (the worker's WorkerMetrics is one). */
export interface CommandMetrics {
  commandStarted(): void;
  commandEnded(failed: boolean): void;
  addLogBytes(n: number): void;
  addUploaded(n: number): void;
  addDownloaded(n: number): void;
}

export interface RunnerOptions {
  registry: Registry;
  clock: Clock;
  log: Logger;
  /** The worker's environment (after the blacklist), handed to commands as `ctx.workerEnv`. */
  workerEnv: Record<string, string>;
  /**
   * Counters of the metrics endpoint, when enabled: commands, log bytes where updates are
   * sent, transfer bytes where the master's writer/reader is handed to a command.
   */
  metrics?: CommandMetrics;
  /** Called each time the last running command has ended. */
  onIdle?: () => void;
}

/** One stream's decoder and line splitter. */
interface StreamState {
  decoder: Utf8StreamDecoder | undefined;
  splitter: LineSplitter;
}

class RunningCommand {
  readonly controller = new AbortController();
  readonly outputs = new Map<OutputStream, StreamState>();
  readonly logfiles = new Map<string, StreamState>();
  /** No more updates are accepted (complete is being sent). */
  completed = false;
  /** The connection is gone: nothing more is sent, not even `complete`. */
  silenced = false;
  /** The master interrupted the command. */
  interrupted = false;
  /** The command reported a non-zero rc (for the metrics). */
  nonZeroRc = false;
  /** The master's writer/reader, wrapped to count bytes (made on first use). */
  writer: RemoteWriter | undefined;
  reader: RemoteReader | undefined;

  constructor(
    readonly req: StartCommandRequest,
    readonly buffer: UpdateBuffer,
    readonly newline: RegExp,
    readonly maxLineLength: number,
  ) {}

  get accepting(): boolean {
    return !this.completed && !this.silenced;
  }
}

/** A command's exception as the master sees it (PB CopyableFailure / msgpack `str(failure)`). */
export function commandFailure(err: unknown): CommandFailure {
  if (err instanceof Error) {
    return {
      type: pythonTypeOf(err),
      value: err.message,
      traceback: err.stack ?? `${err.name}: ${err.message}`,
    };
  }
  return { type: pythonTypeOf(err), value: String(err), traceback: String(err) };
}

/**
 * Runs the commands the master starts (Python `base.py ProtocolCommandBase` and the
 * `start_command`/`interrupt_command` handlers of `pb.py`). Each command gets a
 * CommandContext whose output goes through per-stream UTF-8 decoding, line splitting and
 * the update buffer into `req.channel.sendUpdates`; when the command ends the runner
 * sends `elapsed` (not after an interrupt, like Python's `Command.sendStatus` gating),
 * flushes held partial lines and the buffer, then `channel.complete(null | failure)`.
 */
export class CommandRunner {
  /** Output settings for commands started from now on (msgpack `set_worker_settings`). */
  settings: OutputSettings = { ...DEFAULT_OUTPUT_SETTINGS };
  private readonly active = new Map<string, RunningCommand>();
  private readonly all = new Set<RunningCommand>();
  private idleWaiters: Array<() => void> = [];
  private readonly warnedPatterns = new Set<string>();

  constructor(private readonly o: RunnerOptions) {}

  get running(): number {
    return this.all.size;
  }

  /** Resolves when no command is running. */
  whenIdle(): Promise<void> {
    if (this.all.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Validate and start; throws CommandError synchronously (duplicate id, unknown command, bad args). */
  start(req: StartCommandRequest): void {
    const { commandId, commandName } = req;
    if (this.active.has(commandId)) {
      throw new CommandError(`(command ${commandId}): a command with this id is already running`, ERR.DUPLICATE_COMMAND);
    }
    const factory = this.o.registry.get(commandName);
    if (!factory) {
      throw new CommandError(`(command ${commandId}): unrecognized WorkerCommand '${commandName}'`, ERR.UNKNOWN_COMMAND);
    }
    let command: Command;
    try {
      command = factory(req.args);
    } catch (err) {
      if (err instanceof WorkerError) throw err;
      throw new CommandError(`(command ${commandId}): ${(err as Error)?.message ?? String(err)}`, ERR.BAD_ARGS, { cause: err });
    }

    const settings = this.settings;
    const { regexp, error } = newlineRegExp(settings.newlineRe);
    if (error && !this.warnedPatterns.has(settings.newlineRe)) {
      this.warnedPatterns.add(settings.newlineRe);
      this.o.log.warn({ err: error }, 'newline_re cannot be used, splitting lines with the default pattern');
    }
    const log = this.o.log.child({ commandId });
    const metrics = this.o.metrics;
    const buffer = new UpdateBuffer({
      send: (entries) => {
        if (metrics) metrics.addLogBytes(logBytesOf(entries));
        return req.channel.sendUpdates(entries);
      },
      clock: this.o.clock,
      bufferSize: settings.bufferSize,
      bufferTimeout: settings.bufferTimeout,
      promptDelayMs: PROMPT_DELAY_MS,
      maxInFlight: UPDATES_IN_FLIGHT,
      highWaterMark: OUTPUT_BACKLOG_LIMIT,
      onSendError: (err) => log.warn({ err }, 'sending an update failed'),
    });
    const r = new RunningCommand(req, buffer, regexp, settings.maxLineLength);
    this.active.set(commandId, r);
    this.all.add(r);
    log.info(` startCommand:${commandName} [id ${commandId}]`);
    void this.run(r, command, this.context(r, log));
  }

  /** Flush the command's output (held partial lines too), then interrupt it; unknown ids are only logged. */
  async interrupt(commandId: string, why: string): Promise<void> {
    const r = this.active.get(commandId);
    if (!r) {
      this.o.log.info(`asked to interrupt current command: ${why}`);
      this.o.log.info(' .. but none was running');
      return;
    }
    this.o.log.info(`asked to interrupt current command: ${why}`);
    this.flushStreams(r);
    const flushed = r.buffer.flush();
    r.interrupted = true;
    r.controller.abort(new CommandInterrupted(why, false));
    await flushed;
  }

  /** The connection is gone (or the worker stops): stop every command, silently. */
  interruptAll(why: string): void {
    for (const r of this.active.values()) {
      r.silenced = true;
      r.buffer.discard();
      r.controller.abort(new CommandInterrupted(why, true));
    }
    // Their ids are free again: a new connection may reuse them while these still die.
    this.active.clear();
  }

  private context(r: RunningCommand, log: Logger): CommandContext {
    const clock = this.o.clock;
    const push = (state: StreamState, data: string | Uint8Array): ReturnType<LineSplitter['push']> => {
      let text: string;
      if (typeof data === 'string') {
        text = data;
      } else {
        state.decoder ??= new Utf8StreamDecoder();
        text = state.decoder.decode(data);
      }
      return state.splitter.push(text, clock.now() / 1000);
    };
    const stateOf = <K>(map: Map<K, StreamState>, key: K): StreamState => {
      let s = map.get(key);
      if (!s) {
        s = { decoder: undefined, splitter: new LineSplitter(r.newline, r.maxLineLength) };
        map.set(key, s);
      }
      return s;
    };
    const channel = r.req.channel;
    return {
      commandId: r.req.commandId,
      args: r.req.args,
      clock,
      log,
      workerEnv: this.o.workerEnv,
      signal: r.controller.signal,
      output(stream, data) {
        if (!r.accepting) return true;
        const chunk = push(stateOf(r.outputs, stream), data);
        if (chunk) r.buffer.append({ kind: 'output', stream, chunk });
        return r.buffer.writable;
      },
      logfile(name, data) {
        if (!r.accepting) return true;
        const chunk = push(stateOf(r.logfiles, name), data);
        if (chunk) r.buffer.append({ kind: 'logfile', name, chunk });
        return r.buffer.writable;
      },
      whenWritable: () => (r.accepting ? r.buffer.whenWritable() : Promise.resolve()),
      status(key: string, value: PyValue) {
        if (!r.accepting) return;
        if (key === 'rc' && value !== 0) r.nonZeroRc = true;
        r.buffer.append({ kind: 'status', key, value });
      },
      flush: () => (r.silenced ? Promise.resolve() : r.buffer.flush()),
      writer: (): RemoteWriter => {
        if (!channel.writer) throw new CommandError('the master sent no writer for this command', ERR.NO_WRITER);
        const m = this.o.metrics;
        return m ? (r.writer ??= countingWriter(channel.writer, (n) => m.addUploaded(n))) : channel.writer;
      },
      reader: (): RemoteReader => {
        if (!channel.reader) throw new CommandError('the master sent no reader for this command', ERR.NO_READER);
        const m = this.o.metrics;
        return m ? (r.reader ??= countingReader(channel.reader, (n) => m.addDownloaded(n))) : channel.reader;
      },
    };
  }

  /** Held partial lines (and undecoded bytes) of every stream into the buffer, in Python's sorted-name order. */
  private flushStreams(r: RunningCommand): void {
    const names: Array<[string, 'output' | 'logfile']> = [
      ...[...r.outputs.keys()].map((k): [string, 'output'] => [k, 'output']),
      ...[...r.logfiles.keys()].map((k): [string, 'logfile'] => [k, 'logfile']),
    ];
    names.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] === 'output' ? -1 : 1));
    const now = this.o.clock.now() / 1000;
    for (const [name, kind] of names) {
      const state = kind === 'output' ? r.outputs.get(name as OutputStream)! : r.logfiles.get(name)!;
      const rest = state.decoder?.end() ?? '';
      const chunks = [rest ? state.splitter.push(rest, now) : null, state.splitter.flush()];
      for (const chunk of chunks) {
        if (!chunk) continue;
        r.buffer.append(kind === 'output' ? { kind: 'output', stream: name as OutputStream, chunk } : { kind: 'logfile', name, chunk });
      }
    }
  }

  private async run(r: RunningCommand, command: Command, ctx: CommandContext): Promise<void> {
    const started = this.o.clock.now();
    this.o.metrics?.commandStarted();
    let failure: CommandFailure | null = null;
    try {
      await command.run(ctx);
    } catch (err) {
      if (!(err instanceof CommandInterrupted && r.controller.signal.aborted)) {
        ctx.log.warn({ err }, 'command failed');
        failure = commandFailure(err);
      }
    }
    try {
      if (!r.silenced) {
        if (!r.interrupted) ctx.status('elapsed', new PyFloat((this.o.clock.now() - started) / 1000));
        this.flushStreams(r);
        r.completed = true;
        await r.buffer.flush();
        if (!r.silenced) {
          // The Python worker completes a shell command from its process's end, outside the connection's log context.
          ctx.log.info(
            r.req.commandName === 'shell' ? { system: '-' } : {},
            `ProtocolCommandBase.command_complete (${failure === null ? 'success' : 'failure'}) <${r.req.commandName} command ${ctx.commandId}>`,
          );
          await r.req.channel.complete(failure);
        }
      }
    } catch (err) {
      ctx.log.warn({ err }, 'sending complete failed');
    } finally {
      r.completed = true;
      this.o.metrics?.commandEnded(failure !== null || r.nonZeroRc);
      if (this.active.get(r.req.commandId) === r) this.active.delete(r.req.commandId);
      this.all.delete(r);
      if (this.all.size === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
        this.o.onIdle?.();
      }
    }
  }
}

/** UTF-8 bytes of the log text (output and logfile chunks) in a batch of updates. */
export function logBytesOf(entries: readonly UpdateEntry[]): number {
  let n = 0;
  for (const e of entries) if (e.kind !== 'status') n += Buffer.byteLength(e.chunk.text, 'utf8');
  return n;
}

/** `w`, counting the bytes of every write the master accepted. */
function countingWriter(w: RemoteWriter, count: (n: number) => void): RemoteWriter {
  return {
    write: async (data) => {
      await w.write(data);
      count(data.byteLength);
    },
    close: () => w.close(),
    utime: (a, m) => w.utime(a, m),
    unpack: () => w.unpack(),
  };
}

/** `r`, counting the bytes of every read answered. */
function countingReader(r: RemoteReader, count: (n: number) => void): RemoteReader {
  return {
    read: async (length) => {
      const data = await r.read(length);
      if (data) count(data.byteLength);
      return data;
    },
    close: () => r.close(),
  };
}
