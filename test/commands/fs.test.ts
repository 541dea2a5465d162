import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fsCommandFactories } from '../../src/commands/fs.js';
import { pythonGlob } from '../../src/commands/fs/python-glob.js';
import { Watchdog } from '../../src/commands/fs/watchdog.js';
import { CommandError, ERR } from '../../src/errors.js';
import { ManualClock } from '../../src/util/clock.js';
import { PyTuple } from '../../src/values.js';
import { FileCommandContext } from './file-command-context.js';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'fs-commands-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function run(name: string, args: Record<string, unknown>, ctx = new FileCommandContext(args)): Promise<FileCommandContext> {
  const factory = fsCommandFactories[name];
  assert.ok(factory, `no factory ${name}`);
  await factory(args).run(ctx);
  return ctx;
}

async function fresh(name: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

describe('fsCommandFactories', () => {
  it('registers the Python names', () => {
    assert.deepEqual(Object.keys(fsCommandFactories).sort(), ['cpdir', 'glob', 'listdir', 'mkdir', 'rmdir', 'rmfile', 'stat']);
  });

  it('refuses missing arguments with the Python wording', () => {
    assert.throws(() => fsCommandFactories['mkdir']!({}), { message: 'MakeDirectory is missing args: paths' });
    assert.throws(() => fsCommandFactories['cpdir']!({}), { message: 'CopyDirectory is missing args: to_path, from_path' });
    assert.throws(() => fsCommandFactories['stat']!({}), CommandError);
    assert.throws(() => fsCommandFactories['rmdir']!({ paths: [3] }), { code: ERR.BAD_ARGS });
    assert.throws(() => fsCommandFactories['rmdir']!({ paths: ['/x'], timeout: 'soon' }), { code: ERR.BAD_ARGS });
  });
});

describe('mkdir', () => {
  it('creates every path with its parents, and accepts existing directories', async () => {
    const base = await fresh('mkdir-ok');
    await mkdir(join(base, 'exists'));
    const ctx = await run('mkdir', { paths: [join(base, 'a/b/c'), join(base, 'exists')] });
    assert.equal(ctx.rc, 0);
    assert.ok((await stat(join(base, 'a/b/c'))).isDirectory());
    assert.equal(ctx.text('header'), '');
  });

  it('reports an existing file as "File exists" with rc = errno', async () => {
    const base = await fresh('mkdir-file');
    await writeFile(join(base, 'f'), '');
    const ctx = await run('mkdir', { paths: [join(base, 'f'), join(base, 'never')] });
    assert.equal(ctx.rc, 17);
    assert.equal(ctx.text('header'), `mkdir: File exists: ${join(base, 'f')}\n`);
    await assert.rejects(stat(join(base, 'never')), 'stops at the first failure, like Python');
  });

  it('reports a file in the way as "Not a directory"', async () => {
    const base = await fresh('mkdir-notdir');
    await writeFile(join(base, 'f'), '');
    const ctx = await run('mkdir', { paths: [join(base, 'f/sub')] });
    assert.equal(ctx.rc, 20);
    assert.equal(ctx.text('header'), `mkdir: Not a directory: ${join(base, 'f/sub')}\n`);
  });
});

describe('rmdir', () => {
  it('removes trees with read-only files and directories, not following links', async () => {
    const base = await fresh('rmdir-ro');
    const outside = await fresh('rmdir-outside');
    await writeFile(join(outside, 'keep'), 'x');
    const tree = join(base, 'tree');
    await mkdir(join(tree, 'ro/deeper'), { recursive: true });
    await writeFile(join(tree, 'ro/deeper/file'), 'x');
    await writeFile(join(tree, 'ro/file'), 'x');
    await chmod(join(tree, 'ro/file'), 0o444);
    await chmod(join(tree, 'ro/deeper'), 0o000);
    await chmod(join(tree, 'ro'), 0o500);
    await symlink(outside, join(tree, 'link'));
    const other = join(base, 'plain-file');
    await writeFile(other, '');
    const ctx = await run('rmdir', { paths: [tree, other, join(base, 'missing')] });
    assert.equal(ctx.rc, 0);
    await assert.rejects(lstat(tree));
    await assert.rejects(lstat(other));
    assert.equal(await readFile(join(outside, 'keep'), 'utf8'), 'x');
    assert.equal(ctx.text('header'), `rmdir ${tree}\nrmdir ${other}\nrmdir ${join(base, 'missing')}\n`);
  });

  it('stops with rc -1 and failure_reason when no progress is made within timeout', async () => {
    const base = await fresh('rmdir-timeout');
    await mkdir(join(base, 'tree/a'), { recursive: true });
    const args = { paths: [join(base, 'tree')], timeout: 5 };
    const ctx = new FileCommandContext(args);
    const running = fsCommandFactories['rmdir']!(args).run(ctx);
    ctx.clock.advance(5000); // before any fs call can have answered
    await running;
    assert.equal(ctx.rc, -1);
    assert.deepEqual(ctx.statuses('failure_reason'), ['timeout_without_output']);
    assert.match(ctx.text('header'), /command timed out: 5 seconds without progress removing /);
  });

  it('stops with rc -1 when interrupted', async () => {
    const base = await fresh('rmdir-interrupt');
    await mkdir(join(base, 'tree'), { recursive: true });
    const args = { paths: [join(base, 'tree')] };
    const ctx = new FileCommandContext(args);
    ctx.controller.abort('master interrupt');
    await fsCommandFactories['rmdir']!(args).run(ctx);
    assert.equal(ctx.rc, -1);
    assert.match(ctx.text('header'), /interrupted \(master interrupt\)/);
    assert.deepEqual(ctx.statuses('failure_reason'), []);
  });
});

describe('Watchdog', () => {
  it('restarts the no-progress timer on progress and enforces maxTime', () => {
    const clock = new ManualClock();
    const parent = new AbortController();
    const dog = new Watchdog(clock, 10, 25, parent.signal);
    clock.advance(9000);
    dog.progress();
    clock.advance(9000);
    dog.progress();
    assert.equal(dog.signal.aborted, false);
    clock.advance(7000);
    assert.equal(dog.signal.aborted, true);
    assert.deepEqual(dog.reason, { kind: 'maxTime', seconds: 25, failureReason: 'timeout' });
    assert.equal(clock.pending, 0, 'timers released');
  });

  it('follows the parent signal and releases its listener', () => {
    const clock = new ManualClock();
    const parent = new AbortController();
    const dog = new Watchdog(clock, null, null, parent.signal);
    parent.abort(new Error('command interrupted: lost connection'));
    assert.deepEqual(dog.reason, { kind: 'interrupted', why: 'command interrupted: lost connection' });
  });
});

describe('cpdir', () => {
  it('copies a tree keeping links, modes, times and empty directories, logging like cp -v', async () => {
    const base = await fresh('cpdir-ok');
    const from = join(base, 'src');
    await mkdir(join(from, 'sub/empty'), { recursive: true });
    await writeFile(join(from, 'run.sh'), '#!/bin/sh\n');
    await chmod(join(from, 'run.sh'), 0o750);
    await writeFile(join(from, 'sub/data'), 'data');
    await symlink('run.sh', join(from, 'link'));
    await symlink('/nonexistent/target', join(from, 'dangling'));
    await chmod(join(from, 'sub'), 0o700);
    await utimes(join(from, 'sub/data'), 1_000_000, 1_234_567);
    const to = join(base, 'new/parent/dst');
    const ctx = await run('cpdir', { from_path: from, to_path: to, timeout: 120 });
    assert.equal(ctx.rc, 0, ctx.text('stderr'));
    assert.equal((await stat(join(to, 'run.sh'))).mode & 0o7777, 0o750);
    assert.equal((await stat(join(to, 'sub'))).mode & 0o7777, 0o700);
    assert.equal(await readlink(join(to, 'link')), 'run.sh');
    assert.equal(await readlink(join(to, 'dangling')), '/nonexistent/target');
    assert.equal(await readFile(join(to, 'sub/data'), 'utf8'), 'data');
    assert.equal(Math.floor((await stat(join(to, 'sub/data'))).mtimeMs / 1000), 1_234_567);
    assert.ok((await stat(join(to, 'sub/empty'))).isDirectory());
    assert.match(ctx.text('stdout'), new RegExp(`^'${from}' -> '${to}'\n`));
    assert.ok(ctx.text('stdout').includes(`'${join(from, 'sub/data')}' -> '${join(to, 'sub/data')}'\n`));
  });

  it('copies into an existing directory under the source name, as cp does', async () => {
    const base = await fresh('cpdir-into');
    await mkdir(join(base, 'src'));
    await writeFile(join(base, 'src/f'), 'f');
    await mkdir(join(base, 'dst'));
    const ctx = await run('cpdir', { from_path: join(base, 'src'), to_path: join(base, 'dst') });
    assert.equal(ctx.rc, 0);
    assert.equal(await readFile(join(base, 'dst/src/f'), 'utf8'), 'f');
  });

  it('fails with rc 1 and cp-like stderr for a missing source', async () => {
    const base = await fresh('cpdir-missing');
    const ctx = await run('cpdir', { from_path: join(base, 'nope'), to_path: join(base, 'dst') });
    assert.equal(ctx.rc, 1);
    assert.equal(ctx.text('stderr'), `cp: cannot stat '${join(base, 'nope')}': No such file or directory\n`);
  });

  it('refuses to copy a directory into itself', async () => {
    const base = await fresh('cpdir-self');
    const ctx = await run('cpdir', { from_path: base, to_path: join(base, 'inside') });
    assert.equal(ctx.rc, 1);
    assert.match(ctx.text('stderr'), /into itself/);
  });
});

describe('stat', () => {
  it('sends the os.stat tuple in Python order, then rc 0', async () => {
    const base = await fresh('stat');
    const file = join(base, 'f');
    await writeFile(file, 'hello');
    await chmod(file, 0o640);
    await utimes(file, 1_600_000_000.75, 1_500_000_000.25);
    const ctx = await run('stat', { path: file });
    assert.equal(ctx.rc, 0);
    const [st] = ctx.statuses('stat');
    assert.ok(st instanceof PyTuple);
    const real = await stat(file);
    assert.deepEqual(st.items, [real.mode, real.ino, real.dev, real.nlink, real.uid, real.gid, 5, 1_600_000_000, 1_500_000_000, Math.floor(real.ctimeMs / 1000)]);
    assert.equal((st.items[0] as number) & 0o777, 0o640);
    assert.deepEqual(
      ctx.recorded.map((r) => (r.kind === 'status' ? r.key : r.stream)),
      ['stat', 'rc'],
    );
  });

  it('reports a missing file with header and rc = ENOENT', async () => {
    const ctx = await run('stat', { path: join(root, 'no-such') });
    assert.equal(ctx.rc, 2);
    assert.equal(ctx.text('header'), `stat: No such file or directory: ${join(root, 'no-such')}\n`);
    assert.deepEqual(ctx.statuses('stat'), []);
  });
});

describe('listdir and rmfile', () => {
  it('lists names without . and ..', async () => {
    const base = await fresh('listdir');
    await writeFile(join(base, '.hidden'), '');
    await mkdir(join(base, 'd'));
    const ctx = await run('listdir', { path: base });
    assert.equal(ctx.rc, 0);
    assert.deepEqual((ctx.statuses('files')[0] as string[]).sort(), ['.hidden', 'd']);
  });

  it('listdir of a missing directory: header and rc 2', async () => {
    const ctx = await run('listdir', { path: join(root, 'gone') });
    assert.equal(ctx.rc, 2);
    assert.equal(ctx.text('header'), `listdir: No such file or directory: ${join(root, 'gone')}\n`);
  });

  it('rmfile removes a file; a missing one is rc 2, a directory rc 21', async () => {
    const base = await fresh('rmfile');
    await writeFile(join(base, 'f'), '');
    assert.equal((await run('rmfile', { path: join(base, 'f') })).rc, 0);
    await assert.rejects(lstat(join(base, 'f')));
    const missing = await run('rmfile', { path: join(base, 'f') });
    assert.equal(missing.rc, 2);
    assert.equal(missing.text('header'), `rmfile: No such file or directory: ${join(base, 'f')}\n`);
    const dir = await run('rmfile', { path: base });
    assert.equal(dir.rc, 21);
    assert.equal(dir.text('header'), `rmfile: Is a directory: ${base}\n`);
  });
});

describe('glob', () => {
  let g: string;
  before(async () => {
    g = await fresh('glob');
    for (const d of ['a/sub/deep', 'a/.hid', 'b', 'x(1)', 'w@+!{a,b}']) await mkdir(join(g, d), { recursive: true });
    for (const f of ['a/f', 'a/sub/g', 'a/sub/deep/h', 'a/.hid/i', 'a/.dot', 'b/f2', 'x(1)/q', 'w@+!{a,b}/z', '[lit']) {
      await writeFile(join(g, f), '');
    }
    await symlink('../b', join(g, 'a/lnk'));
    await symlink('nowhere', join(g, 'a/broken'));
  });

  // Expected values are what CPython 3.11's glob.glob(pattern, recursive=True) returns on this tree.
  const cases: [string, string[]][] = [
    ['*', ['[lit', 'a', 'b', 'w@+!{a,b}', 'x(1)']],
    ['a/*', ['a/broken', 'a/f', 'a/lnk', 'a/sub']],
    ['a/.*', ['a/.dot', 'a/.hid']],
    ['a/**', ['a/', 'a/broken', 'a/f', 'a/lnk', 'a/lnk/f2', 'a/sub', 'a/sub/deep', 'a/sub/deep/h', 'a/sub/g']],
    ['**/f', ['a/f']],
    ['a/**/', ['a/', 'a/lnk/', 'a/sub/', 'a/sub/deep/']],
    ['*/', ['a/', 'b/', 'w@+!{a,b}/', 'x(1)/']],
    ['x(1)/*', ['x(1)/q']],
    ['w@+!{a,b}/*', ['w@+!{a,b}/z']],
    ['[!a]*', ['[lit', 'b', 'w@+!{a,b}', 'x(1)']],
    ['[lit', ['[lit']],
    ['a/f', ['a/f']],
    ['a/nope', []],
    ['a/f/', []],
    ['a/sub/', ['a/sub/']],
    ['a/[fs]*', ['a/f', 'a/sub']],
    ['a/?', ['a/f']],
    ['a/*/*', ['a/lnk/f2', 'a/sub/deep', 'a/sub/g']],
    ['**/.hid/*', ['a/.hid/i']],
    ['a/s[t-u]b/g', ['a/sub/g']],
    ['a/s[u-t]b/g', []],
    ['a/[]]', []],
  ];
  for (const [pattern, expected] of cases) {
    it(`matches Python for ${pattern}`, async () => {
      const found = await pythonGlob(join(g, pattern));
      assert.deepEqual(found.sort(), expected.map((e) => `${g}/${e}`).sort());
    });
  }

  it('does not loop through a symbolic link to an ancestor', async () => {
    const base = await fresh('glob-loop');
    await mkdir(join(base, 'd'));
    await writeFile(join(base, 'd/f'), '');
    await symlink('..', join(base, 'd/up'));
    const found = await pythonGlob(`${base}/**`);
    assert.deepEqual(found.sort(), [`${base}/`, `${base}/d`, `${base}/d/f`, `${base}/d/up`]);
  });

  it('the command sends files then rc 0', async () => {
    const ctx = await run('glob', { path: join(g, 'b/*') });
    assert.deepEqual(ctx.statuses('files'), [[join(g, 'b/f2')]]);
    assert.equal(ctx.rc, 0);
  });
});
