/**
 * One command the test master started on a worker, recorded the way the master's
 * RemoteCommand / FileWriter / FileReader see it. Protocol-neutral: the PB and msgpack
 * connections feed it decoded updates and transfer calls.
 */

/** Text logs of a command, as the master's step would hold them. */
export interface CommandLogs {
  /** stdout, stderr and header text interleaved in arrival order (the master's `stdio` log). */
  stdio: string;
  stdout: string;
  stderr: string;
  header: string;
  /** Named logfiles (`log` updates), by logfile name. */
  [logfile: string]: string;
}

/** What a file or directory upload delivered to the master's writer. */
export interface UploadRecord {
  /** The bytes written (file contents, or the tar stream of a directory); empty unless `collect`. */
  data: Buffer;
  /** Total bytes written (counted even when not collecting). */
  bytes: number;
  writes: number;
  closed: boolean;
  unpacked: boolean;
  /** `[accessTime, modifiedTime]` from a successful `utime`. */
  utime?: [number, number];
}

/** What a download took from the master's reader. */
export interface DownloadRecord {
  reads: number;
  /** Bytes the reader consumed from the source (also when the faithful msgpack bug hid them). */
  bytesServed: number;
  closed: boolean;
}

/**
 * How the command ended, like a Buildbot step result: EXCEPTION when the command raised
 * or could not start, RETRY when the connection was lost, FAILURE for rc ≠ 0 or a
 * missing rc, SUCCESS otherwise.
 */
export type CommandStatus = 'SUCCESS' | 'FAILURE' | 'EXCEPTION' | 'RETRY';

export interface CommandResult {
  commandId: string;
  status: CommandStatus;
  /** The `rc` update, or null when none arrived before `complete` (FAILURE in the real master). */
  rc: number | null;
  /** Every `[key, value]` update in arrival order (log text values as sent on the wire). */
  updates: Array<[string, unknown]>;
  logs: CommandLogs;
  /** The last `elapsed` update. */
  elapsed?: number;
  /** The failure the worker completed with (msgpack: its string; PB: `type: value` then the traceback). */
  failure?: string;
  /** PB only: the CopyableFailure's type, e.g. `builtins.FileNotFoundError`. */
  failureType?: string;
  /** The worker refused the start itself (error answer to startCommand/start_command). */
  startError?: string;
  connectionLost: boolean;
  interrupted: boolean;
  /** Protocol mistakes seen on this command (e.g. rc after complete, malformed update). */
  violations: string[];
  upload?: UploadRecord;
  download?: DownloadRecord;
}

/** Options for `WorkerHandle.startCommand`. */
export interface StartCommandOptions {
  /** Upload commands: what to do with the data the worker writes. */
  upload?: { collect?: boolean; onData?: (chunk: Buffer) => void; /** Most bytes collected (default MAX_UPLOAD_COLLECT_BYTES); past it the write fails. */ maxCollectBytes?: number };
  /** downloadFile: the data the master serves through its reader. */
  download?: {
    data: Uint8Array | string;
    /**
     * msgpack only. true (default, like the 3.7 master): `update_read_file` reads the
     * block but answers null, so the worker writes an empty file. false: answer the bytes.
     */
    faithfulReadBug?: boolean;
  };
  /**
   * msgpack only. true (default, like the 3.7 master): `update_upload_file_utime` is
   * answered with the master's TypeError text. false: record the times.
   */
  faithfulUtimeBug?: boolean;
  /** Send print('ping') (+ PB startBuild) before this command even if a build already started on the builder. */
  startBuild?: boolean;
  /** Count log text (`logChars`) instead of keeping it, for steps that print more than memory holds. */
  discardLogs?: boolean;
  /** Called with each piece of log text as it arrives (`log`: stdout, stderr, header or a logfile name). */
  onLog?: (log: string, text: string) => void;
}

/** The connection-side operations a run needs. */
export interface CommandRunController {
  interrupt(run: CommandRun, why: string): Promise<void>;
}

/** Bound on the bytes one upload may collect in memory. */
export const MAX_UPLOAD_COLLECT_BYTES = 1024 * 1024 * 1024;

export class CommandRun {
  readonly updates: Array<[string, unknown]> = [];
  readonly logs: CommandLogs = { stdio: '', stdout: '', stderr: '', header: '' };
  readonly violations: string[] = [];
  /** Characters of log text received per log (kept in `logs` unless `discardLogs`). */
  readonly logChars: Record<string, number> = {};
  /** Resolves with the outcome; never rejects. */
  readonly done: Promise<CommandResult>;
  /** The arguments as sent on the wire (after msgpack rewriting; PB references shown as markers). */
  wireArgs: Record<string, unknown> = {};
  /** The command name as sent on the wire (`upload_file` on msgpack). */
  wireName: string;

  private rc: number | null = null;
  private elapsed: number | undefined;
  private finished = false;
  private interruptedFlag = false;
  private resolveDone!: (r: CommandResult) => void;
  private readonly uploadChunks: Buffer[] = [];
  private upload?: UploadRecord;
  private download?: DownloadRecord;
  private readonly downloadSource?: Buffer;
  private downloadOffset = 0;

  constructor(
    readonly commandId: string,
    readonly builderName: string,
    /** The name the caller used (PB spelling). */
    readonly commandName: string,
    readonly options: StartCommandOptions,
    private readonly controller: CommandRunController,
    private readonly onFinish: (result: CommandResult) => void,
  ) {
    this.wireName = commandName;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    if (commandName === 'uploadFile' || commandName === 'uploadDirectory') {
      this.upload = { data: Buffer.alloc(0), bytes: 0, writes: 0, closed: false, unpacked: false };
    }
    if (commandName === 'downloadFile') {
      this.download = { reads: 0, bytesServed: 0, closed: false };
      const data = options.download?.data ?? '';
      // A view, not a copy: a 1 GB source copied here cost seconds inside every download step.
      this.downloadSource = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    }
  }

  /** True until the command completed, failed to start or lost its connection. */
  get active(): boolean {
    return !this.finished;
  }

  get interrupted(): boolean {
    return this.interruptedFlag;
  }

  /**
   * Ask the worker to interrupt the command (PB `interruptCommand`, msgpack
   * `interrupt_command`). Like the master, a second interrupt or one after the end is a no-op.
   */
  async interrupt(why: string): Promise<void> {
    if (this.finished || this.interruptedFlag) return;
    this.interruptedFlag = true;
    await this.controller.interrupt(this, why);
  }

  // ---- fed by the connections ---------------------------------------------------------

  /** One decoded update. `text` is the log text for stdout/stderr/header/log keys. */
  recordUpdate(key: string, value: unknown, logText?: { log: string; text: string }): void {
    if (this.finished) {
      this.violations.push(`update ${JSON.stringify(key)} after the command finished`);
      return;
    }
    if (logText) {
      this.logChars[logText.log] = (this.logChars[logText.log] ?? 0) + logText.text.length;
      this.options.onLog?.(logText.log, logText.text);
    }
    if (logText && this.options.discardLogs) return;
    this.updates.push([key, value]);
    if (logText) {
      const { log, text } = logText;
      if (log === 'stdout' || log === 'stderr' || log === 'header') {
        this.logs[log] += text;
        this.logs.stdio += text;
      } else {
        this.logs[log] = (this.logs[log] ?? '') + text;
      }
    } else if (key === 'rc') {
      if (typeof value === 'number' && Number.isInteger(value)) this.rc = value;
      else this.violations.push(`rc is not an integer: ${String(value)}`);
    } else if (key === 'elapsed') {
      if (typeof value === 'number') this.elapsed = value;
      else this.violations.push(`elapsed is not a number: ${String(value)}`);
    }
  }

  recordViolation(message: string): void {
    this.violations.push(message);
  }

  /** `complete` arrived: `failure` null on success. */
  recordComplete(failure: string | null, failureType?: string): CommandResult | undefined {
    if (this.finished) return undefined;
    if (this.rc === null && failure === null) this.violations.push('complete without a preceding rc update');
    return this.finish({ failure: failure ?? undefined, failureType });
  }

  recordStartError(text: string): CommandResult | undefined {
    if (this.finished) return undefined;
    return this.finish({ startError: text });
  }

  recordConnectionLost(): CommandResult | undefined {
    if (this.finished) return undefined;
    return this.finish({ connectionLost: true });
  }

  // writer side
  uploadWrite(chunk: Buffer): void {
    const up = this.requireUpload();
    up.writes++;
    up.bytes += chunk.length;
    if (this.options.upload?.collect) {
      const max = this.options.upload.maxCollectBytes ?? MAX_UPLOAD_COLLECT_BYTES;
      if (up.bytes > max) throw new RangeError(`upload exceeds ${max} collected bytes`);
      this.uploadChunks.push(chunk);
    }
    this.options.upload?.onData?.(chunk);
  }

  uploadClose(): void {
    this.requireUpload().closed = true;
  }

  uploadUnpack(): void {
    const up = this.requireUpload();
    up.closed = true;
    up.unpacked = true;
  }

  uploadUtime(accessTime: number, modifiedTime: number): void {
    this.requireUpload().utime = [accessTime, modifiedTime];
  }

  // reader side
  downloadRead(length: number): Buffer {
    const dl = this.requireDownload();
    if (dl.closed) throw new Error('I/O operation on closed file.');
    const src = this.downloadSource ?? Buffer.alloc(0);
    const n = Math.max(0, Math.min(length, src.length - this.downloadOffset));
    const block = src.subarray(this.downloadOffset, this.downloadOffset + n);
    this.downloadOffset += n;
    dl.reads++;
    dl.bytesServed += n;
    return block;
  }

  downloadClose(): void {
    this.requireDownload().closed = true;
  }

  /** Whether this run has a writer (upload commands). */
  get hasWriter(): boolean {
    return this.upload !== undefined;
  }

  get hasReader(): boolean {
    return this.download !== undefined;
  }

  private requireUpload(): UploadRecord {
    if (!this.upload) throw new Error('this command has no writer');
    return this.upload;
  }

  private requireDownload(): DownloadRecord {
    if (!this.download) throw new Error('this command has no reader');
    return this.download;
  }

  private finish(extra: { failure?: string; failureType?: string; startError?: string; connectionLost?: boolean }): CommandResult {
    this.finished = true;
    let status: CommandResult['status'];
    if (extra.connectionLost) status = 'RETRY';
    else if (extra.startError !== undefined || extra.failure !== undefined) status = 'EXCEPTION';
    else if (this.rc === null || this.rc !== 0) status = 'FAILURE';
    else status = 'SUCCESS';
    const result: CommandResult = {
      commandId: this.commandId,
      status,
      rc: this.rc,
      updates: this.updates,
      logs: this.logs,
      connectionLost: extra.connectionLost ?? false,
      interrupted: this.interruptedFlag,
      violations: this.violations,
    };
    if (this.elapsed !== undefined) result.elapsed = this.elapsed;
    if (extra.failure !== undefined) result.failure = extra.failure;
    if (extra.failureType !== undefined) result.failureType = extra.failureType;
    if (extra.startError !== undefined) result.startError = extra.startError;
    if (this.upload) {
      this.upload.data = Buffer.concat(this.uploadChunks);
      result.upload = this.upload;
    }
    if (this.download) result.download = this.download;
    this.onFinish(result);
    this.resolveDone(result);
    return result;
  }
}
