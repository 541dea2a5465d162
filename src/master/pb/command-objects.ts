import { CopiedFailure, type JellyValue } from '../../protocol/jelly.js';
import { Referenceable } from '../../engine/pb/broker.js';
import type { CommandRun } from '../command-run.js';
import { pyFailure } from './failure.js';
import { describe, dictEntries, isDict, pyDecode, seq } from './values.js';

/**
 * The master's per-command PB objects (`docs/protocol/pb.md` §6.1, §6.4, §6.5):
 * a RemoteCommand the worker reports to with `update`/`complete`, and for transfers a
 * FileWriter / DirectoryWriter (`write`, `close`, `utime`, `unpack`) or a FileReader
 * (`read`, `close`). Each records into the protocol-neutral CommandRun.
 */

/** What the objects need from the connection that exported them. */
export interface CommandObjectHost {
  /** A protocol violation on this connection. */
  violation(message: string): void;
  /** One recorded update (published as an `update` event). */
  updated(run: CommandRun, key: string, value: unknown): void;
}

const LOG_KEYS = new Set(['stdout', 'stderr', 'header']);

export class PbRemoteCommand extends Referenceable {
  private completions = 0;
  /** The command was ended here because of a malformed update. */
  private failedHere = false;

  constructor(
    readonly run: CommandRun,
    private readonly host: CommandObjectHost,
  ) {
    super(`RemoteCommand(${run.commandId})`);
    this.expose({
      update: (args) => this.update(args),
      complete: (args, kwargs) => this.complete('failure' in kwargs ? kwargs.failure : args[0]),
    });
  }

  /**
   * `remote_update(updates)`: pairs of `[dict, num]`; answers the highest num. Like the
   * master, a malformed update ends the command with an exception but is still
   * acknowledged; a malformed pair (not unpackable, num not an int) is an error answer.
   */
  private update(args: JellyValue[]): number {
    const updates = seq(args[0]);
    if (args.length !== 1 || !updates) {
      this.violation(`update() expects one list of [dict, num] pairs, got ${describe(args)}`);
      throw pyFailure('builtins.TypeError', 'remote_update() expects a list of updates');
    }
    let max = 0;
    for (const entry of updates) {
      const pair = seq(entry);
      if (!pair || pair.length !== 2) {
        this.violation(`update entry is not a [dict, num] pair: ${describe(pyDecode(entry))}`);
        throw pyFailure('builtins.ValueError', 'not enough values to unpack (expected 2)');
      }
      const [dict, num] = pair;
      this.record(dict);
      if (typeof num !== 'number' || !Number.isInteger(num)) {
        this.violation(`update number is not an int: ${describe(num)}`);
        throw pyFailure('builtins.TypeError', "'>' not supported between instances");
      }
      if (num !== 0) this.violation(`update number ${num} (the worker always sends 0)`);
      max = Math.max(max, num);
    }
    return max;
  }

  private record(dict: unknown): void {
    const { run } = this;
    // The master ignores updates once the command is over; after our own failure that is expected.
    if (!run.active && this.failedHere) return;
    if (!isDict(dict)) {
      if (run.active) this.fail(`update is not a dictionary: ${describe(pyDecode(dict))}`);
      return;
    }
    for (const [key, raw] of dictEntries(dict)) {
      const value = pyDecode(raw);
      if (!run.active) {
        // CommandRun records an update after the end (e.g. rc after complete) as a violation.
        if (!this.failedHere) run.recordUpdate(key, value);
        continue;
      }
      if (LOG_KEYS.has(key)) {
        // Over PB the master re-splits lines itself, so partial lines are fine (§6.5).
        if (typeof value !== 'string') return this.fail(`${key} update is not text: ${describe(value)}`);
        run.recordUpdate(key, value, { log: key, text: value });
      } else if (key === 'log') {
        const [name, text] = Array.isArray(value) ? value : [];
        if (!Array.isArray(value) || value.length !== 2 || typeof name !== 'string' || typeof text !== 'string') {
          return this.fail(`log update is not (logname, text): ${describe(value)}`);
        }
        run.recordUpdate(key, value, { log: name, text });
      } else {
        run.recordUpdate(key, value);
      }
      this.host.updated(run, key, value);
    }
  }

  /** `remote_complete(failure=None)`: None, or the CopyableFailure the command raised. */
  private complete(failure: JellyValue | undefined): null {
    const { run } = this;
    let text: string | null = null;
    let type: string | undefined;
    if (failure instanceof CopiedFailure) {
      type = String(failure.type);
      text = `${type}: ${String(failure.value)}\n${String(failure.traceback ?? '')}`;
    } else if (failure !== null && failure !== undefined) {
      this.violation(`complete() with something other than None or a failure: ${describe(pyDecode(failure))}`);
      text = describe(pyDecode(failure));
    }
    this.completions++;
    if (this.completions > 1) this.violation('complete() called more than once');
    if (!run.active) return null;
    run.recordComplete(text, type);
    for (const v of run.violations) if (v.startsWith('complete without')) this.violation(v);
    return null;
  }

  private fail(problem: string): void {
    this.failedHere = true;
    this.violation(problem);
    this.run.recordViolation(problem);
    this.run.recordComplete(`malformed update: ${problem}`);
  }

  private violation(message: string): void {
    this.host.violation(`command ${this.run.commandId}: ${message}`);
  }
}

/** Raise the Python error the master's writer/reader would raise for a bad call. */
function guard<T>(host: CommandObjectHost, run: CommandRun, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    host.violation(`command ${run.commandId}: ${what}: ${text}`);
    throw pyFailure(err instanceof RangeError ? 'builtins.OSError' : 'builtins.ValueError', text);
  }
}

/** The master's FileWriter (file upload) or DirectoryWriter (`directory`: tar stream, `unpack`). */
export class PbFileWriter extends Referenceable {
  private closed = false;

  constructor(
    readonly run: CommandRun,
    private readonly host: CommandObjectHost,
    readonly directory: boolean,
  ) {
    super(`${directory ? 'DirectoryWriter' : 'FileWriter'}(${run.commandId})`);
    this.expose({
      write: (args) => this.write(args[0]),
      close: () => this.close(),
      utime: (args) => this.utime(args[0]),
    });
    if (directory) this.expose({ unpack: () => this.unpack() });
  }

  private write(data: JellyValue | undefined): null {
    return guard(this.host, this.run, 'write', () => {
      if (this.closed) throw new Error('I/O operation on closed file.');
      let bytes: Buffer;
      if (data instanceof Uint8Array) bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      else if (typeof data === 'string') {
        // File data must be bytes (§7.1); text would be re-encoded and corrupt binary files.
        this.host.violation(`command ${this.run.commandId}: write() sent text instead of bytes`);
        bytes = Buffer.from(data, 'utf8');
      } else throw new TypeError(`write() argument must be bytes, not ${describe(data)}`);
      this.run.uploadWrite(bytes);
      return null;
    });
  }

  private close(): null {
    return guard(this.host, this.run, 'close', () => {
      this.closed = true;
      this.run.uploadClose();
      return null;
    });
  }

  private utime(times: JellyValue | undefined): null {
    return guard(this.host, this.run, 'utime', () => {
      const pair = seq(pyDecode(times));
      if (!pair || pair.length !== 2 || !pair.every((t) => typeof t === 'number')) {
        throw new TypeError(`utime() expects (accessTime, modifiedTime), got ${describe(pyDecode(times))}`);
      }
      this.run.uploadUtime(pair[0] as number, pair[1] as number);
      return null;
    });
  }

  private unpack(): null {
    return guard(this.host, this.run, 'unpack', () => {
      this.closed = true;
      this.run.uploadUnpack();
      return null;
    });
  }
}

/** The master's FileReader for a download: `read(maxLength)` → bytes, `b''` at the end. */
export class PbFileReader extends Referenceable {
  constructor(
    readonly run: CommandRun,
    private readonly host: CommandObjectHost,
  ) {
    super(`FileReader(${run.commandId})`);
    this.expose({
      read: (args) => this.read(args[0]),
      close: () => guard(host, run, 'close', () => (run.downloadClose(), null)),
    });
  }

  private read(length: JellyValue | undefined): Buffer {
    return guard(this.host, this.run, 'read', () => {
      if (typeof length !== 'number' || !Number.isInteger(length) || length < 0) throw new TypeError(`read() expects a length, got ${describe(length)}`);
      return this.run.downloadRead(length);
    });
  }
}
