import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, link, lstat, mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Parser, type ReadEntry } from 'tar';
import { spawnSync } from 'node:child_process';
import { OwnerNames } from '../../../src/commands/transfer/owner-names.js';
import { BATCH_BYTES, BATCH_ENTRIES, directoryTar, gzipped, SYNC_FILE_BYTES } from '../../../src/commands/transfer/directory-tar.js';
import { eventually } from '../../helpers/eventually.js';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'directory-tar-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const options = { maxReadSize: 64 * 1024, onwarn: () => undefined };

async function collect(source: AsyncIterable<Buffer>): Promise<{ chunks: Buffer[]; data: Buffer }> {
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(Buffer.from(chunk));
  return { chunks, data: Buffer.concat(chunks) };
}

interface Member {
  path: string;
  type: string;
  mode: number;
  mtime: number;
  linkpath: string;
  uname: string;
  gname: string;
  data: Buffer;
}

/** The members of a tar (gzip is detected), in archive order, read with the tar package. */
async function members(tarBytes: Buffer): Promise<Member[]> {
  const out: Member[] = [];
  const parser = new Parser({
    onReadEntry: (entry: ReadEntry) => {
      const parts: Buffer[] = [];
      entry.on('data', (c: Buffer) => parts.push(c));
      entry.on('end', () =>
        out.push({
          path: entry.path,
          type: entry.type,
          mode: (entry.mode ?? 0) & 0o7777,
          mtime: Math.floor((entry.mtime?.getTime() ?? 0) / 1000),
          linkpath: entry.linkpath ?? '',
          uname: entry.uname ?? '',
          gname: entry.gname ?? '',
          data: Buffer.concat(parts),
        }),
      );
    },
  });
  await new Promise<void>((resolve, reject) => {
    parser.on('end', resolve);
    parser.on('error', reject);
    parser.end(tarBytes);
  });
  return out;
}

async function openFds(): Promise<number> {
  return (await readdir('/proc/self/fd')).length;
}

describe('directoryTar', () => {
  it('writes ./ first, then a sorted depth-first walk, keeping types, modes, mtimes and hard links', async () => {
    const src = join(root, 'tree');
    await mkdir(join(src, 'b/empty'), { recursive: true });
    await writeFile(join(src, 'c.sh'), 'echo c\n');
    await chmod(join(src, 'c.sh'), 0o751);
    await writeFile(join(src, 'a.txt'), 'alpha\n');
    await utimes(join(src, 'a.txt'), 1_000_000_000, 1_000_000_000);
    const big = randomBytes(SYNC_FILE_BYTES * 3 + 17);
    await writeFile(join(src, 'b/big.bin'), big);
    await symlink('../a.txt', join(src, 'b/link'));
    await link(join(src, 'c.sh'), join(src, 'b/hard'));
    await writeFile(join(root, 'outside'), 'linked from outside\n');
    await link(join(root, 'outside'), join(src, 'd.txt'));
    await chmod(join(src, 'b'), 0o750);

    const list = await members((await collect(directoryTar(src, options))).data);
    assert.deepEqual(
      list.map((m) => [m.path, m.type]),
      [
        ['./', 'Directory'],
        ['a.txt', 'File'],
        ['b/', 'Directory'],
        ['b/big.bin', 'File'],
        ['b/empty/', 'Directory'],
        ['b/hard', 'File'],
        ['b/link', 'SymbolicLink'],
        ['c.sh', 'Link'],
        ['d.txt', 'File'],
      ],
    );
    const byPath = new Map(list.map((m) => [m.path, m]));
    assert.equal(byPath.get('a.txt')!.data.toString(), 'alpha\n');
    assert.equal(byPath.get('a.txt')!.mtime, 1_000_000_000);
    assert.ok(byPath.get('b/big.bin')!.data.equals(big));
    assert.equal(byPath.get('b/')!.mode, 0o750);
    assert.equal(byPath.get('b/hard')!.mode, 0o751);
    assert.equal(byPath.get('b/hard')!.data.toString(), 'echo c\n');
    assert.equal(byPath.get('c.sh')!.linkpath, 'b/hard');
    assert.equal(byPath.get('b/link')!.linkpath, '../a.txt');
    // A hard link whose other name is outside the tree is stored as a file.
    assert.equal(byPath.get('d.txt')!.data.toString(), 'linked from outside\n');
  });

  it('yields a batch at a time, each bounded, for many small files', async () => {
    const src = join(root, 'many');
    const count = BATCH_ENTRIES * 4 + 3;
    await mkdir(src);
    for (let i = 0; i < count; i++) await writeFile(join(src, `f${String(i).padStart(5, '0')}`), randomBytes(1000 + (i % 7)));
    const { chunks, data } = await collect(directoryTar(src, options));
    assert.ok(chunks.length >= 4, `${chunks.length} chunks`);
    // A batch holds at most BATCH_ENTRIES small entries (header, data, padding each).
    const bound = BATCH_BYTES + SYNC_FILE_BYTES + BATCH_ENTRIES * 1024 + 2048;
    assert.ok(Math.max(...chunks.map((c) => c.length)) <= bound);
    const list = await members(data);
    assert.equal(list.length, count + 1);
    assert.equal(list[1]!.path, 'f00000');
    assert.equal(list.at(-1)!.path, `f${String(count - 1).padStart(5, '0')}`);
  });

  it('a large file is read as it is consumed, and closed when the consumer stops early', async () => {
    const src = join(root, 'stop');
    await mkdir(src);
    await writeFile(join(src, 'huge.bin'), Buffer.alloc(32 * 1024 * 1024, 7));
    const before = await openFds();
    let seen = 0;
    for await (const chunk of directoryTar(src, options)) {
      seen += chunk.length;
      if (seen > 1024 * 1024) break;
    }
    // Each chunk is at most one read (maxReadSize) of the file, so little was read ahead.
    assert.ok(seen <= 1024 * 1024 + options.maxReadSize + 1024);
    await eventually(async () => (await openFds()) <= before, 'the file to be closed');
    assert.equal(await openFds(), before, 'the file is closed');
  });

  it('an error reading the tree rejects with the OS error', async () => {
    const file = join(root, 'not-a-dir');
    await writeFile(file, 'x');
    await assert.rejects(collect(directoryTar(file, options)), (err: NodeJS.ErrnoException) => err.code === 'ENOTDIR');
  });

  it('gzipped output unpacks to the same members', async () => {
    const src = join(root, 'gz');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'sub/x.txt'), 'x'.repeat(5000));
    const data = (await collect(gzipped(directoryTar(src, options)))).data;
    assert.deepEqual([...data.subarray(0, 2)], [0x1f, 0x8b]);
    const list = await members(data);
    assert.deepEqual(
      list.map((m) => m.path),
      ['./', 'sub/', 'sub/x.txt'],
    );
    assert.equal(list[2]!.data.toString(), 'x'.repeat(5000));
    assert.ok((await lstat(join(src, 'sub/x.txt'))).isFile());
  });

  it('headers carry the owner names for the uid and gid, empty for ids without an entry', async () => {
    const src = join(root, 'owners');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'sub/f'), 'f\n');
    const longName = `${'n'.repeat(120)}.txt`; // over 100 bytes: a PAX path record
    await writeFile(join(src, longName), 'long\n');
    const st = await lstat(join(src, 'sub/f'));
    const passwd = join(root, 'passwd');
    const group = join(root, 'group');
    await writeFile(passwd, `# comment\nbroken\nbuilder:x:${st.uid}:${st.gid}::/home/builder:/bin/sh\nalias:x:${st.uid}:0::/:/bin/sh\n`);
    await writeFile(group, `staff:x:${st.gid}:\n`);
    const list = await members((await collect(directoryTar(src, { ...options, ownerNames: new OwnerNames(passwd, group) }))).data);
    assert.deepEqual(
      list.map((m) => m.path),
      ['./', longName, 'sub/', 'sub/f'],
    );
    for (const m of list) assert.deepEqual([m.path, m.uname, m.gname], [m.path, 'builder', 'staff']);
    assert.equal(list[1]!.data.toString(), 'long\n');

    const none = await members((await collect(directoryTar(src, { ...options, ownerNames: new OwnerNames(join(root, 'nope'), group) }))).data);
    assert.deepEqual(
      none.map((m) => [m.uname, m.gname]),
      none.map(() => ['', 'staff']),
    );
  });

  // The master unpacks with Python's tarfile: what it reads must be what Python's worker sends.
  it("Python's tarfile reads the same members as from Python's own tar of the tree", { skip: spawnSync('python3', ['-c', '1']).status !== 0 && 'no python3' }, async () => {
    const src = join(root, 'pycompare');
    await mkdir(join(src, 'd/e'), { recursive: true });
    await writeFile(join(src, 'd/e/small.txt'), 'small\n');
    await writeFile(join(src, `d/${'x'.repeat(150)}`), 'long name\n');
    await writeFile(join(src, 'd/big.bin'), randomBytes(SYNC_FILE_BYTES * 2 + 5));
    await chmod(join(src, 'd/e/small.txt'), 0o640);
    await symlink('e/small.txt', join(src, 'd/sym'));
    await link(join(src, 'd/e/small.txt'), join(src, 'd/hard'));
    const ours = join(root, 'ours.tar');
    await writeFile(ours, (await collect(directoryTar(src, options))).data);
    const script = `
import hashlib, json, sys, tarfile
def listing(t):
    out = []
    for m in t:
        data = t.extractfile(m).read() if m.isfile() else b""
        out.append([m.name.rstrip("/") or ".", m.type.decode(), m.mode, int(m.mtime), m.uid, m.gid, m.uname, m.gname, m.linkname, hashlib.sha256(data).hexdigest()])
    return out
py = tarfile.open(fileobj=open(sys.argv[3], "w+b"), mode="w")
py.add(sys.argv[1], "")
py.close()
with tarfile.open(sys.argv[2]) as a, tarfile.open(sys.argv[3]) as b:
    print(json.dumps([listing(a), listing(b)]))
`;
    const r = spawnSync('python3', ['-c', script, src, ours, join(root, 'python.tar')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const [fromOurs, fromPython] = JSON.parse(r.stdout) as [unknown[][], unknown[][]];
    assert.deepEqual(fromOurs, fromPython);
  });
});
