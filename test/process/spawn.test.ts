import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnProcess, type SpawnedProcess } from '../../src/process/spawn.js';
import { pgidOf } from './proc-table.js';

async function runCollect(argv: string[], extra: { stdin?: Uint8Array; usePty?: boolean } = {}) {
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
  return { p, pgid: pgidOf(p.pid), exit: await p.ended, out: () => out, err: () => err };
}

test('the child leads its own process group and gets its output streams', async () => {
  const r = await runCollect(['/bin/sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(r.pgid, r.p.pid);
  assert.equal(r.p.pgid, r.p.pid);
  assert.deepEqual(r.exit, { code: 3, signal: null });
  assert.equal(r.out(), 'out\n');
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

test('a missing program rejects with ENOENT', async () => {
  await assert.rejects(runCollect(['/nonexistent/program']), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
});

test('with a PTY, output arrives on stdout from a terminal, in its own group', async () => {
  const r = await runCollect(['/bin/sh', '-c', 'test -t 1 && echo tty; echo err >&2'], { usePty: true });
  assert.equal(r.p.usesPty, true);
  assert.equal(r.exit.code, 0);
  assert.equal(r.out().replaceAll('\r\n', '\n'), 'tty\nerr\n');
});
