import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fsPromises, { chmod, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rename, rm, stat, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import type { PathLike } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { extract } from 'tar';
import { MAX_IN_FLIGHT_BYTES, MAX_TRANSFER_BLOCK_BYTES, transferCommandFactories } from '../../src/commands/transfer.js';
import { CommandError, ERR } from '../../src/errors.js';
import { FileCommandContext, MemoryReader, MemoryWriter } from './file-command-context.js';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'transfer-commands-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function fresh(name: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function upload(args: Record<string, unknown>, writer = new MemoryWriter()): Promise<[FileCommandContext, MemoryWriter]> {
  const ctx = new FileCommandContext(args, writer);
  await transferCommandFactories['uploadFile']!(args).run(ctx);
  return [ctx, writer];
}

async function uploadDir(args: Record<string, unknown>, writer = new MemoryWriter()): Promise<[FileCommandContext, MemoryWriter]> {
  const ctx = new FileCommandContext(args, writer);
  await transferCommandFactories['uploadDirectory']!(args).run(ctx);
  return [ctx, writer];
}

async function download(args: Record<string, unknown>, reader: MemoryReader): Promise<FileCommandContext> {
  const ctx = new FileCommandContext(args, undefined, reader);
  await transferCommandFactories['downloadFile']!(args).run(ctx);
  return ctx;
}

/** Extract `tarBytes` with the tar package into a fresh directory. */
async function untar(tarBytes: Buffer, name: string): Promise<string> {
  const dir = await fresh(name);
  const file = join(dir, '..', `${name}.tar`);
  await writeFile(file, tarBytes);
  await extract({ file, cwd: dir });
  return dir;
}

const writeSizes = (w: MemoryWriter): number[] => w.chunks.map((c) => c.length);

/**
 * A writer whose master takes about 1 MiB every 5 ms (answering the oldest writes first),
 * much slower than reading a local file.
 */
function slowWriter(): { writer: MemoryWriter; stop: () => Promise<void> } {
  const writer = new MemoryWriter();
  const waiting: { size: number; resolve: () => void }[] = [];
  writer.gate = (size) => new Promise<void>((resolve) => waiting.push({ size, resolve }));
  let finished = false;
  const answering = (async () => {
    while (!finished) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      let budget = 1024 * 1024;
      while (waiting.length > 0 && budget > 0) {
        const next = waiting.shift()!;
        budget -= next.size;
        next.resolve();
      }
    }
    waiting.splice(0).forEach((w) => w.resolve());
  })();
  return {
    writer,
    stop: async () => {
      finished = true;
      await answering;
    },
  };
}

describe('transferCommandFactories', () => {
  it('registers the camelCase Python names', () => {
    assert.deepEqual(Object.keys(transferCommandFactories).sort(), ['downloadFile', 'uploadDirectory', 'uploadFile']);
  });

  it('refuses missing and bad arguments', () => {
    assert.throws(() => transferCommandFactories['uploadFile']!({ path: '/x' }), {
      message: 'WorkerFileUploadCommand is missing args: blocksize',
    });
    assert.throws(() => transferCommandFactories['downloadFile']!({ path: '/x', blocksize: 0 }), { code: ERR.BAD_ARGS });
    assert.throws(() => transferCommandFactories['downloadFile']!({ path: '/x', blocksize: 10, maxsize: -1 }), {
      code: ERR.BAD_ARGS,
    });
  });
});

describe('uploadFile', () => {
  it('sends the file in blocks, closes the writer and reports rc 0', async () => {
    const dir = await fresh('up-ok');
    const path = join(dir, 'data.bin');
    const content = randomBytes(1_000_003);
    await writeFile(path, content);
    const [ctx, writer] = await upload({ path, blocksize: 100_000, maxsize: null, keepstamp: false });
    assert.ok(writer.data.equals(content));
    assert.ok(writeSizes(writer).every((n) => n <= 100_000));
    assert.equal(writer.calls.at(-1), 'close');
    assert.equal(ctx.text('header'), `sending ${path}\n`);
    assert.equal(ctx.text('stderr'), '');
    assert.equal(ctx.rc, 0);
  });

  it('never sends a block over 640 KiB whatever blocksize asks', async () => {
    const dir = await fresh('up-big-blocks');
    const path = join(dir, 'data.bin');
    await writeFile(path, randomBytes(2 * 1024 * 1024));
    const [ctx, writer] = await upload({ path, blocksize: 16 * 1024 * 1024 });
    assert.equal(Math.max(...writeSizes(writer)), MAX_TRANSFER_BLOCK_BYTES);
    assert.equal(writer.data.length, 2 * 1024 * 1024);
    assert.equal(ctx.rc, 0);
  });

  it('keepstamp: utime with the file times after close', async () => {
    const dir = await fresh('up-stamp');
    const path = join(dir, 'f');
    await writeFile(path, 'x');
    await utimes(path, 1_600_000_000.5, 1_500_000_000.25);
    const [ctx, writer] = await upload({ path, blocksize: 1024, keepstamp: true });
    assert.deepEqual(writer.calls, ['write', 'close', 'utime']);
    assert.deepEqual(writer.utimes, [[1_600_000_000.5, 1_500_000_000.25]]);
    assert.equal(ctx.rc, 0);
  });

  it('a failing utime (msgpack 3.7 masters) is rc 1 with the reason', async () => {
    const dir = await fresh('up-stamp-fail');
    const path = join(dir, 'f');
    await writeFile(path, 'x');
    const writer = new MemoryWriter();
    writer.failUtime = true;
    const [ctx] = await upload({ path, blocksize: 1024, keepstamp: true }, writer);
    assert.equal(ctx.rc, 1);
    assert.match(ctx.text('stderr'), /^Upload of '.*' failed: FileWriter.remote_utime\(\) takes 2/);
  });

  it('stops at maxsize with the Python error text and rc 1', async () => {
    const dir = await fresh('up-max');
    const path = join(dir, 'f');
    const content = randomBytes(10_000);
    await writeFile(path, content);
    const [ctx, writer] = await upload({ path, blocksize: 3000, maxsize: 7000 }, new MemoryWriter());
    assert.ok(writer.data.equals(content.subarray(0, 7000)));
    assert.ok(!writer.calls.includes('close'), 'the writer is left for the master to cancel: no truncated file there');
    assert.equal(ctx.text('stderr'), `Maximum filesize reached, truncating file '${path}'\n`);
    assert.equal(ctx.rc, 1);
    assert.ok(ctx.recorded.findIndex((r) => r.kind === 'output' && r.stream === 'stderr') < ctx.recorded.findIndex((r) => r.kind === 'status' && r.key === 'rc'), 'stderr before rc');
  });

  it('a file of exactly maxsize bytes is not an error', async () => {
    const dir = await fresh('up-max-exact');
    const path = join(dir, 'f');
    await writeFile(path, randomBytes(6000));
    const [ctx, writer] = await upload({ path, blocksize: 3000, maxsize: 6000 });
    assert.equal(writer.data.length, 6000);
    assert.equal(ctx.rc, 0);
  });

  it('a missing file: Python text, rc 1, writer not closed (no empty file at the master)', async () => {
    const path = join(root, 'missing-upload');
    const [ctx, writer] = await upload({ path, blocksize: 1024, keepstamp: true });
    assert.deepEqual(writer.calls, []);
    assert.equal(ctx.text('stderr'), `Cannot open file '${path}' for upload\n`);
    assert.equal(ctx.text('header'), `sending ${path}\n`);
    assert.equal(ctx.rc, 1);
  });

  it('a failing writer ends the upload with rc 1 and the reason', async () => {
    const dir = await fresh('up-writer-fails');
    const path = join(dir, 'f');
    await writeFile(path, randomBytes(50_000));
    const writer = new MemoryWriter();
    writer.failWritesAfter = 2;
    const [ctx] = await upload({ path, blocksize: 1000 }, writer);
    assert.equal(ctx.rc, 1);
    assert.equal(ctx.text('stderr'), `Upload of '${path}' failed: writer went away\n`);
    assert.ok(writer.calls.filter((c) => c === 'write').length < 50, 'stopped sending');
  });

  it('keeps several blocks in flight, bounded by MAX_IN_FLIGHT_BYTES', async () => {
    const dir = await fresh('up-window');
    const path = join(dir, 'f');
    await writeFile(path, randomBytes(4 * 1024 * 1024));
    // The master answers in batches, every few milliseconds: reading the file is faster.
    const { writer, stop } = slowWriter();
    const [ctx] = await upload({ path, blocksize: 256 * 1024 }, writer);
    await stop();
    assert.equal(ctx.rc, 0);
    assert.ok(writer.peakInFlight > 1, `peak ${writer.peakInFlight}`);
    assert.ok(writer.peakInFlightBytes <= MAX_IN_FLIGHT_BYTES, `peak bytes ${writer.peakInFlightBytes}`);
    assert.equal(writer.data.length, 4 * 1024 * 1024);
  });

  it('stops when interrupted: rc 1, the rest is not sent', async () => {
    const dir = await fresh('up-interrupt');
    const path = join(dir, 'f');
    await writeFile(path, randomBytes(1024 * 1024));
    const writer = new MemoryWriter();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    writer.gate = () => held; // the master never answers
    const args = { path, blocksize: 16 * 1024 };
    const ctx = new FileCommandContext(args, writer);
    const running = transferCommandFactories['uploadFile']!(args).run(ctx);
    while (writer.inFlight === 0) await tick();
    ctx.controller.abort('interrupt');
    await running;
    release();
    assert.equal(ctx.rc, 1);
    assert.ok(writer.calls.filter((c) => c === 'write').length * 16 * 1024 <= MAX_IN_FLIGHT_BYTES);
  });

  it('200 MB through a slow writer: bytes buffered stay bounded', async () => {
    const dir = await fresh('up-200mb');
    const path = join(dir, 'big');
    const size = 200 * 1024 * 1024;
    await writeFile(path, '');
    await truncate(path, size); // sparse: reads as zeros, costs no disk
    const { writer, stop } = slowWriter();
    writer.keep = false;
    const before = process.memoryUsage().arrayBuffers;
    let peakArrayBuffers = before;
    const sample = setInterval(() => {
      peakArrayBuffers = Math.max(peakArrayBuffers, process.memoryUsage().arrayBuffers);
    }, 5);
    try {
      const [ctx] = await upload({ path, blocksize: 640 * 1024 }, writer);
      assert.equal(ctx.rc, 0);
    } finally {
      clearInterval(sample);
      await stop();
    }
    assert.equal(writer.received, size);
    assert.ok(writer.peakInFlightBytes <= MAX_IN_FLIGHT_BYTES, `in flight ${writer.peakInFlightBytes}`);
    // Unbounded buffering would hold most of the 200 MB; garbage not yet collected is allowed for.
    assert.ok(peakArrayBuffers - before < 64 * 1024 * 1024, `array buffers grew by ${peakArrayBuffers - before}`);
  });
});

describe('uploadDirectory', () => {
  async function makeTree(name: string): Promise<string> {
    const dir = await fresh(name);
    await mkdir(join(dir, 'sub/empty'), { recursive: true });
    await writeFile(join(dir, 'run.sh'), '#!/bin/sh\necho hi\n');
    await chmod(join(dir, 'run.sh'), 0o751);
    await writeFile(join(dir, 'sub/data.bin'), randomBytes(100_000));
    await symlink('../run.sh', join(dir, 'sub/link'));
    await chmod(join(dir, 'sub'), 0o750);
    return dir;
  }

  async function checkTree(src: string, out: string): Promise<void> {
    assert.equal(await readFile(join(out, 'run.sh'), 'utf8'), '#!/bin/sh\necho hi\n');
    assert.equal((await stat(join(out, 'run.sh'))).mode & 0o777, 0o751);
    assert.equal((await stat(join(out, 'sub'))).mode & 0o777, 0o750);
    assert.ok((await readFile(join(out, 'sub/data.bin'))).equals(await readFile(join(src, 'sub/data.bin'))));
    assert.ok((await lstat(join(out, 'sub/link'))).isSymbolicLink());
    assert.equal(await readlink(join(out, 'sub/link')), '../run.sh');
    assert.ok((await stat(join(out, 'sub/empty'))).isDirectory());
  }

  it('streams a tar with links, modes and empty directories, then unpacks', async () => {
    const src = await makeTree('updir-src');
    const [ctx, writer] = await uploadDir({ path: src, blocksize: 16384, maxsize: null, compress: null });
    assert.equal(ctx.rc, 0, ctx.text('stderr'));
    assert.equal(writer.calls.at(-1), 'unpack');
    assert.ok(!writer.calls.includes('close'));
    assert.ok(writeSizes(writer).every((n) => n <= 16384));
    assert.equal(ctx.text('header'), `sending ${src}\n`);
    await checkTree(src, await untar(writer.data, 'updir-out'));
  });

  it('gz compresses the stream', async () => {
    const src = await makeTree('updir-gz-src');
    const [ctx, writer] = await uploadDir({ path: src, blocksize: 16384, compress: 'gz' });
    assert.equal(ctx.rc, 0);
    assert.deepEqual([...writer.data.subarray(0, 2)], [0x1f, 0x8b]);
    await checkTree(src, await untar(writer.data, 'updir-gz-out'));
  });

  it('bz2 compresses the stream through bzip2, as tarfile w|bz2 does', async () => {
    const src = await makeTree('updir-bz2-src');
    const [ctx, writer] = await uploadDir({ path: src, blocksize: 16384, compress: 'bz2' });
    assert.equal(ctx.rc, 0, ctx.text('stderr'));
    assert.equal(writer.data.subarray(0, 3).toString('latin1'), 'BZh');
    assert.equal(writer.calls.at(-1), 'unpack');
    const plain = spawnSync('bzip2', ['-dc'], { input: writer.data, maxBuffer: 64 * 1024 * 1024 });
    assert.equal(plain.status, 0, String(plain.stderr));
    await checkTree(src, await untar(plain.stdout, 'updir-bz2-out'));
  });

  it('bz2 without a bzip2 program: a clear message, rc 1, nothing written', async () => {
    const src = await makeTree('updir-bz2-none');
    const saved = process.env['PATH'];
    process.env['PATH'] = await fresh('empty-path');
    try {
      const [ctx, writer] = await uploadDir({ path: src, blocksize: 16384, compress: 'bz2' });
      assert.equal(ctx.rc, 1);
      assert.equal(ctx.text('stderr'), `Cannot compress '${src}' with bz2: no bzip2 program on this worker (install bzip2, or use compress='gz')\n`);
      assert.deepEqual(writer.calls, []);
    } finally {
      process.env['PATH'] = saved;
    }
  });

  it('bz2 with a failing compressor: its message, rc 1, no unpack', async () => {
    const src = await makeTree('updir-bz2-broken');
    const bin = await fresh('broken-bzip2');
    await writeFile(join(bin, 'bzip2'), '#!/bin/sh\n/bin/cat > /dev/null; echo "bzip2: I/O or other error" >&2; exit 2\n', { mode: 0o755 });
    const saved = process.env['PATH'];
    process.env['PATH'] = bin;
    try {
      const [ctx, writer] = await uploadDir({ path: src, blocksize: 16384, compress: 'bz2' });
      assert.equal(ctx.rc, 1);
      assert.equal(ctx.text('stderr'), `Cannot compress '${src}' with bz2: ${bin}/bzip2 exited with code 2: bzip2: I/O or other error\n`);
      assert.ok(!writer.calls.includes('unpack'));
    } finally {
      process.env['PATH'] = saved;
    }
  });

  it('bz2 with maxsize: the compressor is stopped, rc 1, no unpack', async () => {
    const src = await makeTree('updir-bz2-max');
    const [ctx, writer] = await uploadDir({ path: src, blocksize: 4096, maxsize: 20_000, compress: 'bz2' });
    assert.equal(ctx.rc, 1);
    assert.equal(ctx.text('stderr'), `Maximum filesize reached, truncating file '${src}'\n`);
    assert.ok(!writer.calls.includes('unpack'));
  });

  it('an unknown compress value is refused when the command is created', () => {
    assert.throws(
      () => transferCommandFactories['uploadDirectory']!({ path: '/x', blocksize: 16384, compress: 'xz' }),
      (err: unknown) => err instanceof CommandError && err.code === ERR.BAD_ARGS,
    );
  });

  it('a missing directory: Python text, rc 1, nothing written', async () => {
    const path = join(root, 'no-dir');
    const [ctx, writer] = await uploadDir({ path, blocksize: 16384 });
    assert.equal(ctx.text('stderr'), `Cannot read directory '${path}' for upload: [Errno 2] No such file or directory: '${path}'\n`);
    assert.deepEqual(writer.calls, []);
    assert.equal(ctx.rc, 1);
  });

  it('maxsize: rc 1, Python text, no unpack', async () => {
    const src = await makeTree('updir-max');
    const [ctx, writer] = await uploadDir({ path: src, blocksize: 16384, maxsize: 20_000 });
    assert.equal(ctx.rc, 1);
    assert.equal(ctx.text('stderr'), `Maximum filesize reached, truncating file '${src}'\n`);
    assert.ok(!writer.calls.includes('unpack'));
    assert.ok(writer.data.length <= 20_000);
  });

  it('interrupted: rc 1, no unpack', async () => {
    const src = await makeTree('updir-interrupt');
    const writer = new MemoryWriter();
    writer.gate = () => new Promise(() => undefined);
    const args = { path: src, blocksize: 4096 };
    const ctx = new FileCommandContext(args, writer);
    const running = transferCommandFactories['uploadDirectory']!(args).run(ctx);
    while (writer.inFlight === 0) await tick();
    ctx.controller.abort('interrupt');
    await running;
    assert.equal(ctx.rc, 1);
    assert.ok(!writer.calls.includes('unpack'));
  });

  it('200 MB directory through a slow writer: bytes buffered stay bounded', async () => {
    const dir = await fresh('updir-200mb');
    const size = 200 * 1024 * 1024;
    await writeFile(join(dir, 'big'), '');
    await truncate(join(dir, 'big'), size);
    const { writer, stop } = slowWriter();
    writer.keep = false;
    const before = process.memoryUsage().arrayBuffers;
    let peakArrayBuffers = before;
    const sample = setInterval(() => {
      peakArrayBuffers = Math.max(peakArrayBuffers, process.memoryUsage().arrayBuffers);
    }, 5);
    try {
      const [ctx] = await uploadDir({ path: dir, blocksize: 256 * 1024 }, writer);
      assert.equal(ctx.rc, 0);
    } finally {
      clearInterval(sample);
      await stop();
    }
    assert.ok(writer.received > size);
    assert.ok(writer.peakInFlightBytes <= MAX_IN_FLIGHT_BYTES, `in flight ${writer.peakInFlightBytes}`);
    assert.ok(peakArrayBuffers - before < 64 * 1024 * 1024, `array buffers grew by ${peakArrayBuffers - before}`);
  });
});

describe('downloadFile', () => {
  const leftovers = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => n.endsWith('.download'));

  it('writes the file, applies mode, closes the reader once', async () => {
    const dir = await fresh('down-ok');
    const path = join(dir, 'new/sub/f.bin');
    const content = randomBytes(100_000);
    const reader = new MemoryReader(content);
    const ctx = await download({ path, blocksize: 16384, maxsize: null, mode: 0o640 }, reader);
    assert.equal(ctx.rc, 0, ctx.text('stderr'));
    assert.ok((await readFile(path)).equals(content));
    assert.equal((await stat(path)).mode & 0o777, 0o640);
    assert.equal(reader.closed, 1);
    assert.ok(reader.lengths.every((n) => n <= 16384));
    assert.deepEqual(await leftovers(join(dir, 'new/sub')), []);
  });

  it('treats an empty block as end of file too', async () => {
    const dir = await fresh('down-empty-eof');
    const path = join(dir, 'f');
    const ctx = await download({ path, blocksize: 1000 }, new MemoryReader(Buffer.from('abc'), new Uint8Array(0)));
    assert.equal(ctx.rc, 0);
    assert.equal(await readFile(path, 'utf8'), 'abc');
  });

  it('a null first answer (msgpack masters) gives an empty file', async () => {
    const dir = await fresh('down-null');
    const path = join(dir, 'f');
    const ctx = await download({ path, blocksize: 1000 }, new MemoryReader(Buffer.alloc(0)));
    assert.equal(ctx.rc, 0);
    assert.equal((await readFile(path)).length, 0);
  });

  it('never asks for more than 640 KiB', async () => {
    const dir = await fresh('down-big-blocks');
    const ctx = await download({ path: join(dir, 'f'), blocksize: 10 * 1024 * 1024 }, new MemoryReader(randomBytes(1024 * 1024)));
    assert.equal(ctx.rc, 0);
  });

  it('over maxsize: rc 1, Python text, no file and the old one untouched', async () => {
    const dir = await fresh('down-max');
    const path = join(dir, 'f');
    await writeFile(path, 'old');
    const ctx = await download({ path, blocksize: 1000, maxsize: 2500 }, new MemoryReader(randomBytes(3000)));
    assert.equal(ctx.rc, 1);
    assert.equal(ctx.text('stderr'), `Maximum filesize reached, truncating file '${path}'\n`);
    assert.equal(await readFile(path, 'utf8'), 'old');
    assert.deepEqual(await leftovers(dir), []);
  });

  it('exactly maxsize bytes is fine', async () => {
    const dir = await fresh('down-max-exact');
    const reader = new MemoryReader(randomBytes(3000));
    const ctx = await download({ path: join(dir, 'f'), blocksize: 1000, maxsize: 3000 }, reader);
    assert.equal(ctx.rc, 0);
    assert.equal((await readFile(join(dir, 'f'))).length, 3000);
  });

  it('an unwritable destination: Python text, rc 1, reader closed, nothing left', async () => {
    const dir = await fresh('down-unwritable');
    await writeFile(join(dir, 'file'), '');
    const path = join(dir, 'file/sub/f');
    const reader = new MemoryReader(Buffer.from('abc'));
    const ctx = await download({ path, blocksize: 1000 }, reader);
    assert.equal(ctx.rc, 1);
    assert.equal(ctx.text('stderr'), `Cannot open file '${path}' for download\n`);
    assert.equal(reader.closed, 1);
    assert.deepEqual(reader.lengths, []);
  });

  it('a directory at the destination: Cannot open file', async () => {
    const dir = await fresh('down-dir');
    await mkdir(join(dir, 'd'));
    const ctx = await download({ path: join(dir, 'd'), blocksize: 1000 }, new MemoryReader(Buffer.from('abc')));
    assert.equal(ctx.rc, 1);
    assert.match(ctx.text('stderr'), /^Cannot open file '.*\/d' for download\n$/);
  });

  it('interrupted: rc 1, no file, no temporary file', async () => {
    const dir = await fresh('down-interrupt');
    const path = join(dir, 'f');
    const reader = new MemoryReader(randomBytes(100_000));
    let calls = 0;
    reader.gate = () => (++calls > 2 ? new Promise(() => undefined) : Promise.resolve());
    const args = { path, blocksize: 1000 };
    const ctx = new FileCommandContext(args, undefined, reader);
    const running = transferCommandFactories['downloadFile']!(args).run(ctx);
    while (reader.lengths.length < 3) await tick();
    ctx.controller.abort('interrupt');
    await running;
    assert.equal(ctx.rc, 1);
    await assert.rejects(lstat(path));
    assert.deepEqual(await leftovers(dir), []);
    assert.equal(reader.closed, 1);
  });

  it('a failing reader: rc 1 with the reason, old file untouched', async () => {
    const dir = await fresh('down-reader-fails');
    const path = join(dir, 'f');
    await writeFile(path, 'old');
    const reader = new MemoryReader(randomBytes(10_000));
    reader.failAt = 5000;
    const ctx = await download({ path, blocksize: 1000 }, reader);
    assert.equal(ctx.rc, 1);
    assert.equal(ctx.text('stderr'), `Download of '${path}' failed: reader went away\n`);
    assert.equal(await readFile(path, 'utf8'), 'old');
    assert.deepEqual(await leftovers(dir), []);
  });

  it('applies the mode to the file it opened, not to what its path names afterwards', async () => {
    const dir = await fresh('down-mode-handle');
    const path = join(dir, 'f');
    const victim = join(dir, 'victim');
    await writeFile(victim, 'keep');
    await chmod(victim, 0o600);
    // Swap the temporary file for a symlink to the victim right after the command opens it,
    // as another local user could: the open is wrapped through the builtin's ESM bindings.
    const realOpen = fsPromises.open;
    fsPromises.open = (async (file: PathLike, ...rest: Parameters<typeof realOpen> extends [unknown, ...infer R] ? R : never) => {
      const handle = await realOpen(file, ...rest);
      if (String(file).endsWith('.download')) {
        await rename(String(file), `${String(file)}.moved`);
        await symlink(victim, String(file));
      }
      return handle;
    }) as typeof realOpen;
    syncBuiltinESMExports();
    try {
      await download({ path, blocksize: 1000, mode: 0o777 }, new MemoryReader(Buffer.from('new')));
    } finally {
      fsPromises.open = realOpen;
      syncBuiltinESMExports();
    }
    assert.equal((await stat(victim)).mode & 0o777, 0o600);
    assert.equal(await readFile(victim, 'utf8'), 'keep');
  });

  it('without mode, an existing file keeps its mode', async () => {
    const dir = await fresh('down-keep-mode');
    const path = join(dir, 'f');
    await writeFile(path, 'old');
    await chmod(path, 0o600);
    const ctx = await download({ path, blocksize: 1000, mode: null }, new MemoryReader(Buffer.from('new')));
    assert.equal(ctx.rc, 0);
    assert.equal(await readFile(path, 'utf8'), 'new');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
  });
});
