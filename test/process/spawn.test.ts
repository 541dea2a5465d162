import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecError } from '../../src/process/exec-error.js';
import { execLookupFailure } from '../../src/process/program-lookup.js';
import { spawnProcess, type SpawnedProcess } from '../../src/process/spawn.js';
import { alive, waitFor } from './proc-table.js';

async function runCollect(argv: string[], extra: { stdin?: Uint8Array; usePty?: boolean; cwd?: string; env?: Record<string, string> } = {}) {
  let out = '';
  let err = '';
  const p: SpawnedProcess = await spawnProcess({
    argv,
    cwd: '/tmp',
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    ...extra,
    onStdout: (d) => (out += Buffer.from(d).toString()),
    onStderr: (d) => (err += Buffer.from(d).toString()),
  });
  return { p, exit: await p.ended, out: () => out, err: () => err };
}

test('the child leads its own process group and gets its output streams', async () => {
  // The child reports its own group (field 5 of /proc/self/stat): it may be reaped before
  // the test could look.
  const r = await runCollect(['/bin/sh', '-c', 'echo out; echo err >&2; cut -d" " -f5 /proc/$$/stat; exit 3']);
  assert.equal(r.p.pgid, r.p.pid);
  assert.deepEqual(r.exit, { code: 3, signal: null });
  assert.equal(r.out(), `out\n${r.p.pid}\n`);
  assert.equal(r.err(), 'err\n');
});

test('a signalled child reports the signal number', async () => {
  const r = await runCollect(['/bin/sh', '-c', 'kill -TERM $$']);
  assert.deepEqual(r.exit, { code: null, signal: 15 });
});

test('children start with default signal dispositions and an empty mask', async () => {
  // Node itself ignores SIGPIPE; the child must not inherit that (issue #3153).
  const r = await runCollect(['/bin/sh', '-c', 'grep -E "^Sig(Ign|Blk)" /proc/self/status']);
  assert.match(r.out(), /SigBlk:\s+0+\n/);
  assert.match(r.out(), /SigIgn:\s+0+\n/);
  const t = await runCollect(['/bin/sh', '-c', 'grep -E "^Sig(Ign|Blk)" /proc/self/status'], { usePty: true });
  assert.match(t.out(), /SigIgn:\s+0+\r?\n/);
});

test('initial stdin is written and closed; without it stdin is at EOF', async () => {
  const r = await runCollect(['/bin/cat'], { stdin: Buffer.from('hello\n') });
  assert.equal(r.out(), 'hello\n');
  const empty = await runCollect(['/bin/cat']);
  assert.equal(empty.out(), '');
  assert.equal(empty.exit.code, 0);
});

const execError = (osCode: string, path: string) => (e: unknown) => e instanceof ExecError && e.osCode === osCode && e.path === path;

test('a program that cannot be executed rejects with ExecError naming the path Python names', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spawn-exec-'));
  writeFileSync(join(dir, 'plain'), '#!/bin/sh\necho never\n');
  chmodSync(join(dir, 'plain'), 0o644);
  mkdirSync(join(dir, 'adir'));
  for (const usePty of [false, true]) {
    await assert.rejects(runCollect(['/nonexistent/program'], { usePty }), execError('ENOENT', '/nonexistent/program'));
    // A bare name: every PATH entry is tried; ENOENT names the last one.
    await assert.rejects(runCollect(['no-such-program', 'x'], { usePty, env: { PATH: '/usr/bin:/bin' } }), execError('ENOENT', '/bin/no-such-program'));
    await assert.rejects(runCollect(['./plain'], { usePty, cwd: dir }), execError('EACCES', './plain'));
    await assert.rejects(runCollect(['adir'], { usePty, cwd: dir, env: { PATH: `/nonexistent:${dir}:/bin` } }), execError('EACCES', `${dir}/adir`));
  }
});

test('the PATH search follows os.execvpe', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spawn-lookup-'));
  writeFileSync(join(dir, 'tool'), '');
  chmodSync(join(dir, 'tool'), 0o600);
  assert.equal(execLookupFailure('sh', '/nonexistent:/bin', '/'), undefined);
  // The first error other than ENOENT/ENOTDIR wins over later ones.
  assert.deepEqual(execLookupFailure('tool', `/nonexistent:${dir}/:/bin`, '/'), { code: 'EACCES', path: `${dir}/tool` });
  // An empty entry is the current directory, named without a prefix.
  assert.deepEqual(execLookupFailure('tool', ':/nonexistent', dir), { code: 'EACCES', path: 'tool' });
  // No PATH: Python's os.defpath.
  assert.deepEqual(execLookupFailure('no-such-program', undefined, '/'), { code: 'ENOENT', path: '/usr/bin/no-such-program' });
  assert.deepEqual(execLookupFailure('no-such-program', '/etc/passwd:/nonexistent', '/'), { code: 'ENOENT', path: '/nonexistent/no-such-program' });
});

test('with a PTY, output arrives on stdout from a terminal, in its own group', async () => {
  const r = await runCollect(['/bin/sh', '-c', 'test -t 1 && echo tty; echo err >&2; cut -d" " -f5 /proc/$$/stat'], { usePty: true });
  assert.equal(r.p.usesPty, true);
  assert.equal(r.exit.code, 0);
  assert.equal(r.out().replaceAll('\r\n', '\n'), `tty\nerr\n${r.p.pid}\n`);
});

test('with a PTY, every byte written right before the exit arrives (20 runs of 2-5 MB)', async () => {
  for (let i = 0; i < 20; i++) {
    const size = 2_000_000 + i * 157_003;
    let got = 0;
    let last = 0;
    const p = await spawnProcess({
      argv: ['/bin/sh', '-c', `head -c ${size - 1} /dev/zero | tr '\\000' x; printf y`],
      cwd: '/tmp',
      env: { PATH: '/usr/bin:/bin' },
      usePty: true,
      onStdout: (d) => {
        got += d.length;
        last = d[d.length - 1]!;
      },
      onStderr: () => {},
    });
    assert.deepEqual(await p.ended, { code: 0, signal: null });
    assert.equal(got, size, `run ${i}: ${got} of ${size} bytes`);
    assert.equal(String.fromCharCode(last), 'y', `run ${i}: the last byte`);
  }
});

test('with a PTY, output waiting while the reader is paused at the exit arrives after resume', async () => {
  for (let i = 0; i < 3; i++) {
    let got = '';
    const p = await spawnProcess({
      argv: ['/bin/sh', '-c', "head -c 3000 /dev/zero | tr '\\000' x; printf end"],
      cwd: '/tmp',
      env: { PATH: '/usr/bin:/bin' },
      usePty: true,
      onStdout: (d) => (got += Buffer.from(d).toString('latin1')),
      onStderr: () => {},
    });
    p.pause();
    assert.ok(await waitFor(() => !alive(p.pid), 10_000), 'the child exits while its output waits');
    // Past node-pty's 200 ms destroy timer, which used to discard what was unread.
    await new Promise((r) => setTimeout(r, 500));
    p.resume();
    assert.deepEqual(await p.ended, { code: 0, signal: null });
    assert.equal(got.length, 3003, `run ${i}: ${got.length} bytes, ending ${JSON.stringify(got.slice(-10))}`);
    assert.ok(got === 'x'.repeat(3000) + 'end');
  }
});
