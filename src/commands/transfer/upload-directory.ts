import { stat } from 'node:fs/promises';
import { CommandError, ERR } from '../../errors.js';
import type { Command, CommandArgs, CommandContext } from '../context.js';
import { optionalIntArg, positiveIntArg, requireArgs, stringArg } from '../args.js';
import { osErrorOf, pythonOsErrorText } from '../fs/os-error.js';
import { StoppedError, untilAborted } from '../fs/watchdog.js';
import { BlockAssembler } from './block-assembler.js';
import { blockSizeFor, MAX_IN_FLIGHT_BYTES } from './limits.js';
import { errorText, finishTransfer, maxsizeText } from './outcome.js';
import { PipelinedWriter, RemoteWriteError } from './pipelined-writer.js';

export type Compression = 'none' | 'gz' | 'bz2';

/** Largest piece of a file the tar writer reads at once (its default is 16 MiB). */
const TAR_READ_BYTES = 256 * 1024;

/** The `compress` argument: none, `gz` (zlib) or `bz2` (a child `bzip2`, see bzip2-stream.ts). */
export function compressionArg(value: unknown): Compression {
  if (value === undefined || value === null || value === '' || value === false) return 'none';
  if (value === 'gz' || value === 'bz2') return value;
  throw new CommandError(`WorkerDirectoryUploadCommand: unknown compress value ${JSON.stringify(value)} (expected null, 'gz' or 'bz2')`, ERR.BAD_ARGS);
}

/**
 * `uploadDirectory` / `upload_directory` (Python `WorkerDirectoryUploadCommand`): streams a
 * tar of `path` (members relative to it, symbolic links kept as links, empty directories
 * and modes kept, optionally gzip- or bzip2-compressed) to the master's writer as it is produced, without
 * the Python worker's temporary file, then asks the master to unpack it.
 *
 * After a failure, `maxsize` or an interrupt the tar is not unpacked: it would be
 * truncated (Python unpacks it anyway on maxsize and interrupt).
 */
export function uploadDirectoryCommand(args: CommandArgs): Command {
  const name = 'WorkerDirectoryUploadCommand';
  requireArgs(name, args, ['path', 'blocksize']);
  const path = stringArg(name, args, 'path');
  const blockSize = blockSizeFor(positiveIntArg(name, args, 'blocksize'));
  const maxsize = optionalIntArg(name, args, 'maxsize');
  const compression = compressionArg(args['compress']);
  return { run: (ctx) => uploadDirectory(ctx, path, blockSize, maxsize, compression) };
}

async function uploadDirectory(ctx: CommandContext, path: string, blockSize: number, maxsize: number | null, compression: Compression): Promise<void> {
  const writer = ctx.writer();
  try {
    const st = await stat(path);
    if (!st.isDirectory()) {
      throw Object.assign(new Error(`ENOTDIR: not a directory, scandir '${path}'`), { code: 'ENOTDIR', errno: -20 });
    }
  } catch (err) {
    const os = osErrorOf(err);
    if (!os) throw err;
    return finishTransfer(ctx, 1, `Cannot read directory '${path}' for upload: ${pythonOsErrorText(os, path)}`);
  }
  // Loaded on first use, like tar itself (bench/README.md, "Memory").
  const [{ bzip2Compressed, findBzip2 }, { directoryTar, gzipped }] = await Promise.all([import('./bzip2-stream.js'), import('./directory-tar.js')]);
  let bzip2: string | undefined;
  if (compression === 'bz2') {
    bzip2 = findBzip2();
    if (!bzip2) {
      return finishTransfer(ctx, 1, `Cannot compress '${path}' with bz2: no bzip2 program on this worker (install bzip2, or use compress='gz')`);
    }
  }
  ctx.output('header', `sending ${path}\n`);

  const tar = directoryTar(path, {
    maxReadSize: TAR_READ_BYTES,
    onwarn: (code, message) => ctx.log.warn({ commandId: ctx.commandId, code }, message),
  });
  const chunks = compression === 'gz' ? gzipped(tar) : bzip2 ? bzip2Compressed(tar, bzip2) : tar;
  const sender = new PipelinedWriter((b) => writer.write(b), MAX_IN_FLIGHT_BYTES, ctx.signal);
  const blocks = new BlockAssembler(blockSize);
  let sent = 0;
  const send = async (block: Buffer): Promise<boolean> => {
    if (maxsize !== null && sent + block.length > maxsize) return false;
    sent += block.length;
    await sender.send(block);
    return true;
  };

  let stderr: string | undefined;
  try {
    stream: {
      for await (const chunk of chunks) {
        if (ctx.signal.aborted) throw new StoppedError();
        for (const block of blocks.push(chunk)) {
          if (!(await send(block))) {
            stderr = maxsizeText(path);
            break stream;
          }
        }
      }
      const last = blocks.flush();
      if (last && !(await send(last))) stderr = maxsizeText(path);
    }
    await sender.drain();
  } catch (err) {
    if (err instanceof StoppedError) return finishTransfer(ctx, 1, undefined);
    if (err instanceof RemoteWriteError) return finishTransfer(ctx, 1, `Upload of '${path}' failed: ${err.message}`);
    if (err instanceof CommandError && err.code === ERR.COMPRESSOR) {
      return finishTransfer(ctx, 1, `Cannot compress '${path}' with bz2: ${err.message}`);
    }
    const os = osErrorOf(err);
    if (!os) throw err;
    return finishTransfer(ctx, 1, `Cannot read directory '${path}' for upload: ${errorText(err)}`);
  }
  if (stderr) return finishTransfer(ctx, 1, stderr);
  try {
    await untilAborted(writer.unpack(), ctx.signal);
  } catch (err) {
    if (err instanceof StoppedError) return finishTransfer(ctx, 1, undefined);
    return finishTransfer(ctx, 1, `Unpacking '${path}' on the master failed: ${errorText(err)}`);
  }
  finishTransfer(ctx, 0, undefined);
}
