import { open, stat, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import type { Command, CommandArgs, CommandContext, RemoteWriter } from '../context.js';
import { flagArg, optionalIntArg, positiveIntArg, requireArgs, stringArg } from '../args.js';
import { osErrorOf } from '../fs/os-error.js';
import { StoppedError, untilAborted } from '../fs/watchdog.js';
import { blockSizeFor, MAX_IN_FLIGHT_BYTES } from './limits.js';
import { errorText, finishTransfer, maxsizeText } from './outcome.js';
import { PipelinedWriter, RemoteWriteError } from './pipelined-writer.js';

/**
 * `uploadFile` / `upload_file` (Python `WorkerFileUploadCommand`): sends `path` to the
 * master's writer in blocks of at most `blocksize` (and never more than 640 KiB), stops at
 * `maxsize` bytes with Python's "Maximum filesize reached" error, then closes the writer
 * and, with `keepstamp`, sends the file's access and modification times.
 *
 * Unlike Python, a file of exactly `maxsize` bytes is not reported as truncated, and a
 * few blocks are kept in flight instead of one.
 */
export function uploadFileCommand(args: CommandArgs): Command {
  const name = 'WorkerFileUploadCommand';
  requireArgs(name, args, ['path', 'blocksize']);
  const path = stringArg(name, args, 'path');
  const blockSize = blockSizeFor(positiveIntArg(name, args, 'blocksize'));
  const maxsize = optionalIntArg(name, args, 'maxsize');
  const keepstamp = flagArg(args, 'keepstamp', false);
  return { run: (ctx) => uploadFile(ctx, path, blockSize, maxsize, keepstamp) };
}

async function uploadFile(ctx: CommandContext, path: string, blockSize: number, maxsize: number | null, keepstamp: boolean): Promise<void> {
  const writer = ctx.writer();
  let file: FileHandle | undefined;
  let times: Stats | undefined;
  let stderr: string | undefined;
  try {
    if (keepstamp) times = await stat(path);
    file = await open(path, 'r');
  } catch (err) {
    if (!osErrorOf(err)) throw err;
    stderr = `Cannot open file '${path}' for upload`;
  }
  ctx.output('header', `sending ${path}\n`);

  const sender = new PipelinedWriter((b) => writer.write(b), MAX_IN_FLIGHT_BYTES, ctx.signal);
  try {
    if (file) stderr = await sendFile(ctx, file, path, sender, blockSize, maxsize);
    await sender.drain();
  } catch (err) {
    await file?.close().catch(() => undefined);
    if (err instanceof StoppedError) {
      // Python closes the writer after an interrupt too; nobody may answer any more.
      void writer.close().catch(() => undefined);
      finishTransfer(ctx, 1, stderr);
      return;
    }
    if (!(err instanceof RemoteWriteError)) throw err;
    await closeQuietly(ctx, writer);
    finishTransfer(ctx, 1, `Upload of '${path}' failed: ${err.message}`);
    return;
  }
  await file?.close();
  if (stderr) {
    // Unlike the Python worker, leave the master's writer unclosed: closing it renames the
    // master's temporary file into place, leaving an empty or truncated file behind, while
    // a failed step makes the master cancel (delete) it.
    return finishTransfer(ctx, 1, stderr);
  }

  try {
    await untilAborted(writer.close(), ctx.signal);
    if (keepstamp && times && file) {
      await untilAborted(writer.utime(times.atimeMs / 1000, times.mtimeMs / 1000), ctx.signal);
    }
  } catch (err) {
    if (err instanceof StoppedError) return finishTransfer(ctx, 1, stderr);
    return finishTransfer(ctx, 1, `Upload of '${path}' failed: ${errorText(err)}`);
  }
  finishTransfer(ctx, stderr ? 1 : 0, stderr);
}

/** Read and send the file; resolves to the error text for a local failure, if any. */
async function sendFile(ctx: CommandContext, file: FileHandle, path: string, sender: PipelinedWriter, blockSize: number, maxsize: number | null): Promise<string | undefined> {
  let remaining = maxsize;
  for (;;) {
    if (ctx.signal.aborted) throw new StoppedError();
    const length = remaining === null ? blockSize : Math.min(blockSize, remaining);
    let block: Buffer;
    try {
      if (length === 0) {
        // At the limit: only an error if the file has more to give.
        const probe = await file.read(Buffer.alloc(1), 0, 1, null);
        return probe.bytesRead > 0 ? maxsizeText(path) : undefined;
      }
      const buffer = Buffer.allocUnsafe(length);
      const { bytesRead } = await file.read(buffer, 0, length, null);
      if (bytesRead === 0) return undefined;
      block = buffer.subarray(0, bytesRead);
    } catch (err) {
      const os = osErrorOf(err);
      if (!os) throw err;
      return `Cannot read file '${path}' for upload: ${os.strerror}`;
    }
    await sender.send(block);
    if (remaining !== null) remaining -= block.length;
  }
}

async function closeQuietly(ctx: CommandContext, writer: RemoteWriter): Promise<void> {
  try {
    await untilAborted(writer.close(), ctx.signal);
  } catch (err) {
    ctx.log.debug({ commandId: ctx.commandId, err }, 'ignoring error from remote close()');
  }
}
