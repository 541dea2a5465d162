import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CommandError, ERR } from '../../errors.js';
import { execLookupFailure } from '../../process/program-lookup.js';

/**
 * bzip2 compression for `compress='bz2'` (Python: `tarfile` mode `w|bz2`) through a child
 * `bzip2` process: Node has no bzip2 of its own and no well-kept streaming bzip2 library
 * exists on npm, while `bzip2` is on every Debian system (the package depends on it).
 */
export const BZIP2 = 'bzip2';

/** The bzip2 program on the worker's PATH, or undefined when there is none. */
export function findBzip2(envPath: string | undefined = process.env['PATH']): string | undefined {
  for (const dir of (envPath ?? '').split(':')) {
    if (dir === '') continue;
    const candidate = `${dir.replace(/\/$/, '')}/${BZIP2}`;
    if (!execLookupFailure(candidate, undefined, '/')) return candidate;
  }
  return undefined;
}

/**
 * `source` compressed by `program` (bzip2), as it is produced. Errors of `source` come out
 * as they are; a failing compressor as CommandError `ERR_COMPRESSOR`. Stopping the
 * iteration stops the compressor and `source`.
 */
export async function* bzip2Compressed(source: AsyncIterable<Buffer>, program: string): AsyncGenerator<Buffer, void, undefined> {
  const child = spawn(program, ['-c', '-9'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  let spawnError: Error | undefined;
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (err) => {
      spawnError = err;
      resolve({ code: null, signal: null });
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  let sourceError: { error: unknown } | undefined;
  let feedError: unknown;
  async function* watched(): AsyncGenerator<Buffer, void, undefined> {
    try {
      yield* source;
    } catch (error) {
      sourceError ??= { error };
      throw error;
    }
  }
  // A failing source kills the compressor, which ends its output. Errors writing to a
  // compressor that died are reported as its failure below.
  const feeding = pipeline(Readable.from(watched(), { objectMode: false }), child.stdin).catch((error: unknown) => {
    feedError ??= error;
    child.kill();
  });
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    const { code, signal } = await closed;
    await feeding;
    if (sourceError) throw sourceError.error;
    if (spawnError) throw new CommandError(`cannot run ${program}: ${spawnError.message}`, ERR.COMPRESSOR, { cause: spawnError });
    if (code !== 0) {
      const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      throw new CommandError(`${program} ${why}${stderr ? `: ${stderr.trim()}` : ''}`, ERR.COMPRESSOR);
    }
    if (feedError !== undefined) throw new CommandError(`writing to ${program} failed: ${String(feedError)}`, ERR.COMPRESSOR, { cause: feedError });
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill();
    child.stdin.destroy();
    child.stdout.destroy();
  }
}
