import { randomBytes } from 'node:crypto';
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CommandError, ERR } from '../../errors.js';
import type { Command, CommandArgs, CommandContext, RemoteReader } from '../context.js';
import { optionalIntArg, positiveIntArg, requireArgs, stringArg } from '../args.js';
import { osErrorOf } from '../fs/os-error.js';
import { StoppedError, untilAborted } from '../fs/watchdog.js';
import { blockSizeFor } from './limits.js';
import { makeDirs } from '../../util/make-dirs.js';
import { errorText, finishTransfer, maxsizeText } from './outcome.js';

/**
 * `downloadFile` / `download_file` (Python `WorkerFileDownloadCommand`): reads the
 * master's file in blocks of at most `blocksize` into a temporary file next to `path`,
 * applies `mode` to it, and renames it over `path` only when everything arrived. So,
 * unlike Python, a failed, interrupted or over-`maxsize` download leaves no partial file
 * and the old `path` (if any) untouched, and `mode` is in place before the name appears.
 * A read answered with null or no bytes is the end of the file (msgpack masters always
 * answer null, see msgpack.md §9). With `mode` null an existing file's mode is kept, as
 * Python's truncate-in-place does.
 */
export function downloadFileCommand(args: CommandArgs): Command {
  const name = 'WorkerFileDownloadCommand';
  requireArgs(name, args, ['path', 'blocksize']);
  const path = stringArg(name, args, 'path');
  const blockSize = blockSizeFor(positiveIntArg(name, args, 'blocksize'));
  const maxsize = optionalIntArg(name, args, 'maxsize');
  const mode = optionalIntArg(name, args, 'mode');
  return { run: (ctx) => downloadFile(ctx, path, blockSize, maxsize, mode) };
}

/** A failure of the local file, reported with Python's wording where Python has one. */
class LocalFileError extends CommandError {
  constructor(message: string) {
    super(message, ERR.DOWNLOAD_FILE);
  }
}

/** The master's reader failed or broke its contract. */
class RemoteReadError extends CommandError {
  constructor(message: string) {
    super(message, ERR.REMOTE_READ);
  }
}

async function downloadFile(ctx: CommandContext, path: string, blockSize: number, maxsize: number | null, mode: number | null): Promise<void> {
  const reader = ctx.reader();
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.download`);
  let file: FileHandle | undefined;
  let stderr: string | undefined;
  let complete = false;
  try {
    file = await createTemp(path, temp, mode);
    stderr = await receive(ctx, reader, file, path, blockSize, maxsize);
    await file.close().catch(rethrowAs(`Cannot write file '${path}' for download`));
    file = undefined;
    if (!stderr) {
      await rename(temp, path).catch(rethrowAs(`Cannot write file '${path}' for download`));
      complete = true;
    }
  } catch (err) {
    if (err instanceof StoppedError) stderr = undefined;
    else if (err instanceof LocalFileError) stderr = err.message;
    else if (err instanceof RemoteReadError) stderr = `Download of '${path}' failed: ${err.message}`;
    else throw err;
  } finally {
    await file?.close().catch(() => undefined);
    if (!complete) await unlink(temp).catch(() => undefined);
  }
  // Python always closes the reader; after an interrupt nobody may answer any more.
  if (ctx.signal.aborted) void reader.close().catch(() => undefined);
  else {
    await untilAborted(reader.close(), ctx.signal).catch((err: unknown) => ctx.log.debug({ commandId: ctx.commandId, err }, 'ignoring error from remote close()'));
  }
  finishTransfer(ctx, complete ? 0 : 1, stderr);
}

function rethrowAs(text: string): (err: unknown) => never {
  return (err: unknown) => {
    const os = osErrorOf(err);
    if (!os) throw err;
    throw new LocalFileError(`${text}: ${os.strerror}`);
  };
}

/** Create the parent directories and the temporary file, with its final mode. */
async function createTemp(path: string, temp: string, mode: number | null): Promise<FileHandle> {
  const cannotOpen = (err: unknown): never => {
    if (!osErrorOf(err) && !(err instanceof LocalFileError)) throw err;
    throw new LocalFileError(`Cannot open file '${path}' for download`);
  };
  await makeDirs(dirname(path)).catch(cannotOpen);
  const existing = await stat(path).catch(() => undefined);
  if (existing?.isDirectory()) cannotOpen(new LocalFileError('is a directory'));
  const file = await open(temp, 'wx').catch(cannotOpen);
  const finalMode = mode ?? (existing ? existing.mode & 0o7777 : null);
  if (finalMode !== null) {
    try {
      // On the handle: by path, a temporary file swapped for a symlink after the open would
      // hand its mode to whatever the link points at.
      await file.chmod(finalMode);
    } catch (err) {
      await file.close().catch(() => undefined);
      cannotOpen(err);
    }
  }
  return file;
}

/**
 * Reads the master keeps in flight. One at a time, every 16 KiB block (the 3.7 master's
 * default) costs a round trip. The master answers reads in order, from its file position,
 * so the answers concatenate to the file whatever their sizes.
 */
export const READS_IN_FLIGHT = 8;

/** Writes every byte of `chunks`, going on after a short write (a signal, a nearly full disk). */
async function writeAll(file: FileHandle, chunks: Uint8Array[]): Promise<void> {
  let total = 0;
  for (const c of chunks) total += c.length;
  let { bytesWritten } = await file.writev(chunks);
  while (bytesWritten < total) {
    const rest = Buffer.concat(chunks).subarray(bytesWritten);
    bytesWritten += (await file.write(rest)).bytesWritten;
  }
}

/**
 * Read blocks until end of file, up to READS_IN_FLIGHT reads ahead, writing each block in
 * order while the next ones are on their way. The first null or empty answer is the end;
 * the answers to reads already sent past it (empty, from the master) are ignored.
 * Resolves to the maxsize error text, if the file was larger than `maxsize`.
 */
async function receive(ctx: CommandContext, reader: RemoteReader, file: FileHandle, path: string, blockSize: number, maxsize: number | null): Promise<string | undefined> {
  const ask = (length: number): Promise<Uint8Array | null> => {
    const read = untilAborted(
      reader.read(length).catch((err: unknown) => {
        throw new RemoteReadError(errorText(err));
      }),
      ctx.signal,
    );
    // Keep reads in flight from rejecting unobserved while a write runs or after the end.
    read.catch(() => undefined);
    return read;
  };
  // Each read in flight, and its answer once it has arrived: answers already here are
  // written together (one writev), not one file write per block.
  const pending: Array<{ read: Promise<Uint8Array | null>; answer?: Uint8Array | null }> = [];
  const push = (length: number): void => {
    const entry: { read: Promise<Uint8Array | null>; answer?: Uint8Array | null } = { read: ask(length) };
    entry.read.then(
      (answer) => (entry.answer = answer),
      () => undefined,
    );
    pending.push(entry);
  };
  let remaining = maxsize; // bytes still allowed, counting what has arrived
  let unasked = maxsize; // bytes still allowed, counting what has been asked for
  const fill = (): void => {
    while (pending.length < READS_IN_FLIGHT) {
      if (unasked === null) {
        push(blockSize);
      } else if (unasked > 0) {
        const length = Math.min(blockSize, unasked);
        unasked -= length;
        push(length);
      } else {
        // At the limit, a one-byte read tells whether the file had more (Python assumes
        // it had); asked only once everything before it has arrived.
        if (pending.length === 0) push(1);
        return;
      }
    }
  };
  /** Takes one answer: false at the end of the file; throws past maxsize or on a bad answer. */
  const take = (data: Uint8Array | null, batch: Uint8Array[]): boolean | string => {
    if (!data || data.length === 0) return false;
    if (remaining !== null && data.length > remaining) return maxsizeText(path);
    if (data.length > blockSize) throw new RemoteReadError(`the master sent ${data.length} bytes, more than the ${blockSize} asked for`);
    if (remaining !== null) {
      remaining -= data.length;
      // A short answer that is not the end leaves bytes unasked for: ask for them again.
      if (pending.length === 0) unasked = remaining;
    }
    batch.push(data);
    fill();
    return true;
  };
  try {
    fill();
    for (;;) {
      const batch: Uint8Array[] = [];
      let more = take(await pending.shift()!.read, batch);
      while (more === true && pending.length > 0 && pending[0].answer !== undefined) {
        more = take(await pending.shift()!.read, batch);
      }
      if (batch.length > 0) {
        try {
          await writeAll(file, batch);
        } catch (err) {
          const os = osErrorOf(err);
          if (!os) throw err;
          throw new LocalFileError(`Cannot write file '${path}' for download: ${os.strerror}`);
        }
      }
      if (typeof more === 'string') return more;
      if (!more) return undefined;
    }
  } finally {
    // Let the reads sent past the end be answered before the reader is closed.
    if (!ctx.signal.aborted) await Promise.allSettled(pending.map((p) => p.read));
  }
}
