import { ERR, WorkerError } from '../../errors.js';
import { jellyFailure } from '../../protocol/jelly.js';
import type { RemoteReader, RemoteWriter } from '../../commands/context.js';
import type { UpdateEntry } from '../../commands/update.js';
import type { CommandChannel, CommandFailure } from '../../worker/handlers.js';
import { PyFloat, PyTuple, type PyValue } from '../../values.js';
import { PreJellied, type RemoteReference } from '../../engine/pb/broker.js';
import { parentsOf } from '../../protocol/python-failure.js';

/**
 * The link from one running command back to the master over PB
 * (`docs/protocol/pb.md` §6.4, §6.5, §4.4): `update`/`complete` on the master's
 * RemoteCommand, and the FileWriter/DirectoryWriter/FileReader of transfers. Every
 * reference received with the command is released exactly once, so a long session does
 * not fill the master's table of exported objects.
 */

/** A call on a writer or reader after it was released. */
export class ReleasedReferenceError extends WorkerError {
  constructor(what: string, method: string) {
    super(ERR.RELEASED, `${what}.${method}() called after the transfer ended`);
  }
}

/**
 * One update entry as the PB master expects it: output chunks send their text only
 * (the master re-splits lines itself), logfiles a (name, text) tuple, statuses their value.
 */
export function updateDict(entry: UpdateEntry): Record<string, PyValue> {
  switch (entry.kind) {
    case 'output':
      return { [entry.stream]: entry.chunk.text };
    case 'logfile':
      return { log: new PyTuple([entry.name, entry.chunk.text]) };
    case 'status':
      return { [entry.key]: entry.value };
  }
}

/**
 * The `update` argument: one `[dict, 0]` pair per entry, all in one call. The 3.7 worker
 * makes one call per pair; the master iterates over every pair of a call in order, so one
 * call per flush keeps the order and saves a round trip per entry.
 */
export function updatePairs(entries: UpdateEntry[]): PyValue[] {
  return entries.map((e) => [updateDict(e), 0]);
}

/** Releases a reference once, after its last call; later calls fail instead of reaching a dropped object. */
class Held {
  private done = false;
  constructor(
    readonly ref: RemoteReference,
    private readonly what: string,
  ) {}

  get released(): boolean {
    return this.done;
  }

  call(method: string, args: unknown[] = []): Promise<unknown> {
    if (this.done) return Promise.reject(new ReleasedReferenceError(this.what, method));
    return this.ref.callRemote(method, args);
  }

  release(): void {
    if (this.done) return;
    this.done = true;
    this.ref.release();
  }
}

class PbWriter implements RemoteWriter {
  constructor(private readonly held: Held) {}

  async write(data: Uint8Array): Promise<void> {
    await this.held.call('write', [data]);
  }

  /**
   * `close` and `utime` (keepstamp) come in either order, so neither is known to be the
   * last call: the channel releases a file writer when the command completes.
   */
  async close(): Promise<void> {
    await this.held.call('close');
  }

  async utime(accessTime: number, modifiedTime: number): Promise<void> {
    await this.held.call('utime', [new PyTuple([new PyFloat(accessTime), new PyFloat(modifiedTime)])]);
  }

  /** Extracting the tar is the last thing a directory upload asks of its writer. */
  async unpack(): Promise<void> {
    try {
      await this.held.call('unpack');
    } finally {
      this.held.release();
    }
  }
}

class PbReader implements RemoteReader {
  constructor(private readonly held: Held) {}

  async read(length: number): Promise<Uint8Array | null> {
    const data = await this.held.call('read', [length]);
    if (data instanceof Uint8Array) return data;
    if (data === null) return null;
    if (typeof data === 'string') return Buffer.from(data, 'utf8');
    throw new WorkerError(ERR.PB_READ, `the master's reader answered read() with ${typeof data}, not bytes`);
  }

  async close(): Promise<void> {
    try {
      await this.held.call('close');
    } finally {
      this.held.release();
    }
  }
}

export class PbCommandChannel implements CommandChannel {
  readonly writer?: RemoteWriter;
  readonly reader?: RemoteReader;
  private readonly command: Held;
  private readonly heldWriter?: Held;
  private readonly heldReader?: Held;
  private completed = false;

  constructor(command: RemoteReference, writer?: RemoteReference, reader?: RemoteReference) {
    this.command = new Held(command, 'RemoteCommand');
    if (writer) {
      this.heldWriter = new Held(writer, 'writer');
      this.writer = new PbWriter(this.heldWriter);
    }
    if (reader) {
      this.heldReader = new Held(reader, 'reader');
      this.reader = new PbReader(this.heldReader);
    }
  }

  /** Whether `complete` was called. */
  get isComplete(): boolean {
    return this.completed;
  }

  async sendUpdates(entries: UpdateEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.command.call('update', [updatePairs(entries)]);
  }

  /**
   * `complete(None)` or `complete(failure)`. Once the master has answered (or the call
   * failed), the RemoteCommand is released, and so are a writer/reader still held.
   */
  async complete(failure: CommandFailure | null): Promise<void> {
    if (this.completed) return;
    this.completed = true;
    const arg = failure ? new PreJellied(jellyFailure({ type: failure.type, value: failure.value, traceback: failure.traceback, parents: parentsOf(failure.type) })) : null;
    try {
      await this.command.call('complete', [arg]);
    } finally {
      this.release();
    }
  }

  /** Release every reference of this command (also used when the command cannot start). */
  release(): void {
    this.command.release();
    this.heldWriter?.release();
    this.heldReader?.release();
  }
}
