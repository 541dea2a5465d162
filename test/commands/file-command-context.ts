import { pino } from 'pino';
import type { CommandContext, RemoteReader, RemoteWriter } from '../../src/commands/context.js';
import type { OutputStream } from '../../src/commands/update.js';
import { ManualClock } from '../../src/util/clock.js';
import type { PyValue } from '../../src/values.js';

/** One thing a command did through its context, in order. */
export type Recorded = { kind: 'output'; stream: OutputStream; text: string } | { kind: 'status'; key: string; value: PyValue };

/**
 * A CommandContext for the file and transfer command tests: records output and status
 * updates in order, runs on a ManualClock, and hands out the writer/reader it was given.
 */
export class FileCommandContext implements CommandContext {
  readonly commandId = '7';
  readonly clock = new ManualClock();
  readonly log = pino({ level: 'silent' });
  readonly workerEnv = {};
  readonly controller = new AbortController();
  readonly recorded: Recorded[] = [];

  constructor(
    readonly args: Record<string, unknown> = {},
    private readonly remoteWriter?: RemoteWriter,
    private readonly remoteReader?: RemoteReader,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  output(stream: OutputStream, data: string | Uint8Array): boolean {
    this.recorded.push({ kind: 'output', stream, text: typeof data === 'string' ? data : Buffer.from(data).toString() });
    return true;
  }

  logfile(): boolean {
    throw new Error('file commands have no logfiles');
  }

  async whenWritable(): Promise<void> {}

  status(key: string, value: PyValue): void {
    this.recorded.push({ kind: 'status', key, value });
  }

  async flush(): Promise<void> {}

  writer(): RemoteWriter {
    if (!this.remoteWriter) throw new Error('no writer');
    return this.remoteWriter;
  }

  reader(): RemoteReader {
    if (!this.remoteReader) throw new Error('no reader');
    return this.remoteReader;
  }

  /** Every value sent for status `key`. */
  statuses(key: string): PyValue[] {
    return this.recorded.flatMap((r) => (r.kind === 'status' && r.key === key ? [r.value] : []));
  }

  /** The single rc sent (fails the test if there is not exactly one). */
  get rc(): PyValue {
    const rcs = this.statuses('rc');
    if (rcs.length !== 1) throw new Error(`expected one rc, got ${JSON.stringify(rcs)}`);
    return rcs[0]!;
  }

  /** All text of one stream. */
  text(stream: OutputStream): string {
    return this.recorded.map((r) => (r.kind === 'output' && r.stream === stream ? r.text : '')).join('');
  }
}

/** An in-memory writer recording every call; `gate` (if set) decides when each write is answered. */
export class MemoryWriter implements RemoteWriter {
  readonly chunks: Buffer[] = [];
  readonly calls: string[] = [];
  utimes: [number, number][] = [];
  failWritesAfter = Infinity;
  failUtime = false;
  /** Called with each block's size; the write is answered when it resolves. */
  gate: ((size: number) => Promise<void>) | undefined;
  inFlight = 0;
  peakInFlight = 0;
  inFlightBytes = 0;
  peakInFlightBytes = 0;
  /** Keep the bytes (false for large transfers: count them only). */
  keep = true;
  received = 0;

  async write(data: Uint8Array): Promise<void> {
    this.calls.push('write');
    if (this.calls.filter((c) => c === 'write').length > this.failWritesAfter) throw new Error('writer went away');
    this.inFlight++;
    this.inFlightBytes += data.length;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    this.peakInFlightBytes = Math.max(this.peakInFlightBytes, this.inFlightBytes);
    try {
      if (this.gate) await this.gate(data.length);
      if (this.keep) this.chunks.push(Buffer.from(data));
      this.received += data.length;
    } finally {
      this.inFlight--;
      this.inFlightBytes -= data.length;
    }
  }

  async close(): Promise<void> {
    this.calls.push('close');
  }

  async utime(accessTime: number, modifiedTime: number): Promise<void> {
    this.calls.push('utime');
    if (this.failUtime) throw new Error('FileWriter.remote_utime() takes 2 positional arguments but 3 were given');
    this.utimes.push([accessTime, modifiedTime]);
  }

  async unpack(): Promise<void> {
    this.calls.push('unpack');
  }

  get data(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** An in-memory reader over `content`; `eof` is what it answers at the end (null or empty). */
export class MemoryReader implements RemoteReader {
  readonly lengths: number[] = [];
  closed = 0;
  private offset = 0;
  failAt = Infinity;
  gate: (() => Promise<void>) | undefined;

  constructor(
    private readonly content: Buffer,
    private readonly eof: null | Uint8Array = null,
  ) {}

  async read(length: number): Promise<Uint8Array | null> {
    this.lengths.push(length);
    if (this.gate) await this.gate();
    if (this.offset >= this.failAt) throw new Error('reader went away');
    if (this.offset >= this.content.length) return this.eof;
    const block = this.content.subarray(this.offset, this.offset + length);
    this.offset += block.length;
    return block;
  }

  async close(): Promise<void> {
    this.closed++;
  }
}
