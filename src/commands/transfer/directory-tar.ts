import { lstatSync, type Stats } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pipeline, Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { Header, WriteEntry, WriteEntrySync } from 'tar';
import { OwnerNames } from './owner-names.js';

/** Entries packed before the packer yields to the event loop (a few milliseconds of work). */
export const BATCH_ENTRIES = 256;
/** File bytes packed before the packer yields: the most output held before it is sent. */
export const BATCH_BYTES = 1024 * 1024;
/**
 * Files larger than this are read in pieces with backpressure; smaller ones are read in
 * one synchronous call with the rest of their batch.
 */
export const SYNC_FILE_BYTES = 256 * 1024;

export interface DirectoryTarOptions {
  /** Largest piece of a large file read at once. */
  maxReadSize: number;
  /** Owner names for the headers; default: this machine's /etc/passwd and /etc/group. */
  ownerNames?: OwnerNames;
  onwarn: (code: string, message: string) => void;
}

interface Listing {
  prefix: string;
  names: string[];
  next: number;
}

/**
 * A tar of the directory `root` (members relative to it, `./` first, then a depth-first walk
 * in sorted name order like Python's `tarfile.add`; symbolic links kept as links, hard links
 * within the tree as links, modes, mtimes and owners (ids and names) kept), as chunks in order.
 *
 * The `tar` package writes every entry. Its asynchronous packer costs several times the
 * file system work for many small files: one thread-pool round trip per lstat, open, read
 * and close, and a queue walk per event that grows with the tree when files have other
 * hard links (see bench/README.md). So small entries go through its synchronous packer, a
 * batch at a time (`BATCH_ENTRIES` / `BATCH_BYTES`, then the caller's `await` lets the
 * event loop run), and each large file through its asynchronous entry writer, whose reads
 * wait for the consumer. Memory stays bounded by the batch and by the large file's read size.
 */
export async function* directoryTar(root: string, options: DirectoryTarOptions): AsyncGenerator<Buffer, void, undefined> {
  // Imported here: only directory uploads need tar, and loading it slows every start.
  const { PackSync, WriteEntry } = await import('tar');
  const cwd = path.resolve(root);
  // One stat at a time: filled just before its entry is written, so tar does not lstat again.
  const statCache = new Map<string, Stats>();
  // Kept for the whole archive: a file's later hard links become link entries.
  const linkCache = new Map<`${number}:${number}`, string>();
  const names = options.ownerNames ?? new OwnerNames();
  const entryOptions = {
    cwd,
    strict: true,
    follow: false,
    noDirRecurse: true,
    maxReadSize: options.maxReadSize,
    statCache,
    linkCache,
    onwarn: options.onwarn,
    onWriteEntry: (entry: WriteEntry | WriteEntrySync) => withOwnerNames(entry, names),
  };
  const pack = new PackSync(entryOptions);
  let out: Buffer[] = [];
  let outBytes = 0;
  let failure: { error: unknown } | undefined;
  pack.on('data', (chunk: Buffer) => {
    out.push(chunk);
    outBytes += chunk.length;
  });
  pack.on('error', (error: unknown) => {
    failure ??= { error };
  });
  const take = (): Buffer => {
    const chunk = out.length === 1 ? out[0]! : Buffer.concat(out, outBytes);
    out = [];
    outBytes = 0;
    return chunk;
  };
  /** Writes one entry synchronously through the packer; throws what tar reported. */
  const packEntry = (rel: string, abs: string, st: Stats): void => {
    statCache.set(abs, st);
    try {
      pack.write(rel);
    } finally {
      statCache.delete(abs);
    }
    if (failure) throw failure.error;
  };

  packEntry('.', cwd, lstatSync(cwd));
  const stack: Listing[] = [{ prefix: '', names: (await readdir(cwd)).sort(), next: 0 }];
  let entries = 0;
  let fileBytes = 0;
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next === top.names.length) {
      stack.pop();
      continue;
    }
    const rel = top.prefix + top.names[top.next++]!;
    const abs = path.resolve(cwd, rel);
    const st = lstatSync(abs);
    if (st.isFile() && st.size > SYNC_FILE_BYTES) {
      if (outBytes > 0) yield take();
      yield* largeFile(new WriteEntry(rel, { ...entryOptions, statCache: new Map([[abs, st]]) }));
      entries = 0;
      fileBytes = 0;
      continue;
    }
    packEntry(rel, abs, st);
    entries += 1;
    if (st.isFile()) fileBytes += st.size;
    if (st.isDirectory()) stack.push({ prefix: `${rel}/`, names: (await readdir(abs)).sort(), next: 0 });
    if (entries >= BATCH_ENTRIES || fileBytes >= BATCH_BYTES) {
      if (outBytes > 0) yield take();
      entries = 0;
      fileBytes = 0;
    }
  }
  pack.end(); // the end-of-archive blocks
  if (failure) throw failure.error;
  if (outBytes > 0) yield take();
}

/**
 * Gives the entry's header the owner's user and group names, as Python's tarfile does (tar
 * fills `uname` only for the current user, from $USER, and never `gname`). tar calls
 * `onWriteEntry` just before it creates the header and encodes it, so the header is
 * completed as it is assigned.
 */
function withOwnerNames(entry: WriteEntry | WriteEntrySync, names: OwnerNames): void {
  const st = entry.stat;
  if (!st) return;
  const uname = names.user(st.uid);
  const gname = names.group(st.gid);
  let header: Header | undefined;
  Object.defineProperty(entry, 'header', {
    configurable: true,
    enumerable: true,
    get: () => header,
    set: (h: Header | undefined) => {
      if (h) {
        h.uname = uname;
        h.gname = gname;
      }
      header = h;
    },
  });
}

/** The chunks of one large file's entry, read as they are consumed. */
async function* largeFile(entry: WriteEntry): AsyncGenerator<Buffer, void, undefined> {
  let finished = false;
  try {
    for await (const chunk of entry) yield chunk;
    finished = true;
  } finally {
    if (!finished) {
      // Abandoned (interrupt, maxsize, remote failure): let the entry read to its end,
      // discarding the data, so that it closes its file.
      entry.on('error', () => undefined);
      entry.resume();
    }
  }
}

/** `source` gzip-compressed. Stopping the iteration stops `source` too. */
export function gzipped(source: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  const gzip = createGzip();
  // Errors reach the consumer through `gzip`, which pipeline destroys with them.
  pipeline(Readable.from(source, { objectMode: false }), gzip, () => undefined);
  return gzip;
}
