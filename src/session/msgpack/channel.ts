import type { Logger } from 'pino';
import type { RemoteReader, RemoteWriter } from '../../commands/context.js';
import type { UpdateEntry } from '../../commands/update.js';
import { CommandError, ERR, ProtocolError } from '../../errors.js';
import type { CommandChannel, CommandFailure } from '../../worker/handlers.js';
import type { MsgpackPeer } from '../../engine/msgpack/peer.js';
import {
  completeRequest,
  readFileCloseRequest,
  readFileRequest,
  updateRequest,
  uploadDirectoryUnpackRequest,
  uploadDirectoryWriteRequest,
  uploadFileCloseRequest,
  uploadFileUtimeRequest,
  uploadFileWriteRequest,
} from './wire.js';

/**
 * The link from one running command back to a msgpack master: `update` and `complete`
 * ops (`docs/protocol/msgpack.md` §6, §7, §10) and, for transfers, the
 * `update_upload_*` / `update_read_file*` ops keyed by the command id (§6, §8).
 */

/** Which transfer ops a command gets, by the name the master used. */
export type TransferKind = 'file-upload' | 'directory-upload' | 'download' | undefined;

export function transferKind(commandName: string): TransferKind {
  switch (commandName) {
    case 'upload_file':
    case 'uploadFile':
      return 'file-upload';
    case 'upload_directory':
    case 'uploadDirectory':
      return 'directory-upload';
    case 'download_file':
    case 'downloadFile':
      return 'download';
    default:
      return undefined;
  }
}

/** Shared by the channels of one connection: log the master's read bug once (§9.1). */
export interface ReadBugNotice {
  logged: boolean;
}

/** File uploads: `update_upload_file_write` / `_close` / `_utime` (§8). */
class FileUploadWriter implements RemoteWriter {
  constructor(
    private readonly peer: MsgpackPeer,
    private readonly commandId: string,
  ) {}

  async write(data: Uint8Array): Promise<void> {
    await this.peer.request(uploadFileWriteRequest(this.commandId, data));
  }

  async close(): Promise<void> {
    await this.peer.request(uploadFileCloseRequest(this.commandId));
  }

  /** A 3.7 master answers this with an error (§9.2); the caller sees it as a rejection. */
  async utime(accessTime: number, modifiedTime: number): Promise<void> {
    await this.peer.request(uploadFileUtimeRequest(this.commandId, accessTime, modifiedTime));
  }

  async unpack(): Promise<void> {
    throw new CommandError('unpack() is only for directory uploads', ERR.TRANSFER);
  }
}

/** Directory uploads: `update_upload_directory_write` / `_unpack` (§8). */
class DirectoryUploadWriter implements RemoteWriter {
  constructor(
    private readonly peer: MsgpackPeer,
    private readonly commandId: string,
  ) {}

  async write(data: Uint8Array): Promise<void> {
    await this.peer.request(uploadDirectoryWriteRequest(this.commandId, data));
  }

  /** There is no close op for directories: `unpack` closes the master's tar file (§6). */
  async close(): Promise<void> {}

  async utime(): Promise<void> {
    throw new CommandError('utime() is only for file uploads', ERR.TRANSFER);
  }

  async unpack(): Promise<void> {
    await this.peer.request(uploadDirectoryUnpackRequest(this.commandId));
  }
}

/** Downloads: `update_read_file` / `update_read_file_close` (§8). */
class DownloadReader implements RemoteReader {
  private received = 0;

  constructor(
    private readonly peer: MsgpackPeer,
    private readonly commandId: string,
    private readonly log: Logger,
    private readonly notice: ReadBugNotice,
  ) {}

  /**
   * Up to `length` bytes, or null at end of file. A 3.7 master answers null on the very
   * first read whatever the file holds (§9.1): that is end of file too, and worth one log line.
   */
  async read(length: number): Promise<Uint8Array | null> {
    const result = await this.peer.request(readFileRequest(this.commandId, length));
    if (result === null || result === undefined) {
      if (this.received === 0 && !this.notice.logged) {
        this.notice.logged = true;
        this.log.warn(
          { commandId: this.commandId },
          'the master answered update_read_file with null before any data: msgpack masters (3.7 and later) never send download data, so the file will be empty',
        );
      }
      return null;
    }
    let data: Uint8Array;
    if (result instanceof Uint8Array) data = result;
    else if (typeof result === 'string') data = Buffer.from(result, 'utf8');
    else throw new ProtocolError(`the master answered update_read_file with ${typeof result}, not bytes`, ERR.MSGPACK_READ);
    if (data.length > length) {
      throw new ProtocolError(`the master answered update_read_file(${length}) with ${data.length} bytes`, ERR.MSGPACK_READ);
    }
    this.received += data.length;
    return data;
  }

  async close(): Promise<void> {
    await this.peer.request(readFileCloseRequest(this.commandId));
  }
}

export class MsgpackCommandChannel implements CommandChannel {
  readonly writer?: RemoteWriter;
  readonly reader?: RemoteReader;
  private completed = false;

  constructor(
    private readonly peer: MsgpackPeer,
    readonly commandId: string,
    commandName: string,
    log: Logger,
    notice: ReadBugNotice,
    private readonly onComplete: (commandId: string) => void = () => undefined,
  ) {
    const kind = transferKind(commandName);
    if (kind === 'file-upload') this.writer = new FileUploadWriter(peer, commandId);
    else if (kind === 'directory-upload') this.writer = new DirectoryUploadWriter(peer, commandId);
    else if (kind === 'download') this.reader = new DownloadReader(peer, commandId, log, notice);
  }

  get isComplete(): boolean {
    return this.completed;
  }

  /** One `update` op with every entry, in order (§7); nothing is sent for an empty list. */
  async sendUpdates(entries: UpdateEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.peer.request(updateRequest(this.commandId, entries));
  }

  /** `complete` with `args` null or the failure text (§10); sent once. */
  async complete(failure: CommandFailure | null): Promise<void> {
    if (this.completed) return;
    this.completed = true;
    try {
      await this.peer.request(completeRequest(this.commandId, failure));
    } finally {
      this.onComplete(this.commandId);
    }
  }
}
