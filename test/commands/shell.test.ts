import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandRunner } from '../../src/commands/runner.js';
import { parseShellArgs, shellCommandFactory } from '../../src/commands/shell.js';
import type { Registry } from '../../src/commands/registry.js';
import { CommandError, ERR } from '../../src/errors.js';
import { ManualClock, systemClock, type Clock } from '../../src/util/clock.js';
import { alive, liveInGroup, pgidOf, waitFor } from '../process/proc-table.js';
import { request, silentLog } from './fake-channel.js';

const registry: Registry = { get: (n) => (n === 'shell' ? shellCommandFactory : undefined), versions: () => ({ shell: '3.3' }) };
const workerEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/home/w' };
const fixture = (name: string) => fileURLToPath(new URL(`../process/fixtures/${name}.js`, import.meta.url));

function runner(clock: Clock = systemClock) {
  return new CommandRunner({ registry, clock, log: silentLog, workerEnv });
}

async function runShell(args: Record<string, unknown>, clock?: Clock) {
  const r = runner(clock);
  const workdir = mkdtempSync(join(tmpdir(), 'shell-test-'));
  const req = request('shell', { workdir, logEnviron: false, ...args });
  r.start(req);
  await req.channel.done;
  return { ch: req.channel, workdir: req.args['workdir'] as string };
}

test('a string command: Python header lines, output, rc and elapsedTime', async () => {
  const { ch, workdir } = await runShell({ command: "echo out; printf 'no newline' >&2; exit 3", timeout: 1200 });
  const header = ch.text('header');
  assert.ok(
    header.startsWith(
      `/bin/sh -c 'echo out; printf '"'"'no newline'"'"' >&2; exit 3'\n` +
        ` in dir ${workdir} (timeout 1200 secs)\n` +
        ' watching logfiles {}\n' +
        ` argv: [b'/bin/sh', b'-c', b"echo out; printf 'no newline' >&2; exit 3"]\n` +
        ' using PTY: False\n',
    ),
    header,
  );
  assert.match(header, /\nelapsedTime=\d+\.\d{6}\n$/);
  assert.equal(ch.text('stdout'), 'out\n');
  assert.equal(ch.text('stderr'), 'no newline\n');
  assert.deepEqual(ch.statuses('rc'), [3]);
  assert.equal(ch.statuses('elapsed').length, 1);
  assert.deepEqual(ch.completed, { failure: null });
});

test('list command with obfuscated items; env merged; PWD is the workdir; environment header', async () => {
  const { ch, workdir } = await runShell({
    command: ['/bin/sh', '-c', ['obfuscated', 'echo "$SECRETVAR $LIST $PWD"', 'echo XXX']],
    env: { SECRETVAR: 'hunter2', LIST: ['a', 'b'], HOME: null },
    logEnviron: true,
  });
  assert.equal(ch.text('stdout'), `hunter2 a:b ${workdir}\n`);
  const header = ch.text('header');
  assert.ok(header.startsWith("/bin/sh -c 'echo XXX'\n"), header);
  assert.ok(header.includes(" argv: [b'/bin/sh', b'-c', b'echo XXX']\n"));
  assert.ok(!header.includes('echo "$SECRETVAR'));
  assert.ok(header.includes(' environment:\n  LIST=a:b\n  PATH='));
  assert.ok(header.includes(`\n  PWD=${workdir}\n  SECRETVAR=hunter2\n using PTY: False\n`));
  assert.ok(!header.includes('HOME='));
});

test('killed by a signal: rc -1 and the signal header', async () => {
  const { ch } = await runShell({ command: 'kill -TERM $$' });
  assert.deepEqual(ch.statuses('rc'), [-1]);
  assert.ok(ch.text('header').includes('\nprocess killed by signal 15\n'));
});

test('want_stdout false; initial_stdin; usePTY disabled with stdin', async () => {
  const quiet = await runShell({ command: 'echo hidden; echo shown >&2', want_stdout: false });
  assert.equal(quiet.ch.text('stdout'), '');
  assert.equal(quiet.ch.text('stderr'), 'shown\n');
  const { ch } = await runShell({ command: ['cat'], initial_stdin: 'fed\n', usePTY: true });
  assert.equal(ch.text('stdout'), 'fed\n');
  const header = ch.text('header');
  assert.ok(header.startsWith('WARNING: disabling usePTY for this command\ncat\n'));
  assert.ok(header.includes(' writing 4 bytes to stdin\n using PTY: False\n'));
});

test('usePTY runs in a terminal', async () => {
  const { ch } = await runShell({ command: 'test -t 1 && echo tty', usePTY: true });
  assert.equal(ch.text('stdout'), 'tty\n');
  assert.ok(ch.text('header').includes(' using PTY: True\n'));
  assert.deepEqual(ch.statuses('rc'), [0]);
});

test('timeout without output kills the group: failure_reason, messages, rc -1', async () => {
  const clock = new ManualClock();
  const r = runner(clock);
  // Output is sent as it comes: with the default 5 s buffer, what the child prints after the
  // header was sent would wait for a clock this test does not move.
  r.settings = { ...r.settings, bufferTimeout: 0 };
  const workdir = mkdtempSync(join(tmpdir(), 'shell-test-'));
  const req = request('shell', { workdir, logEnviron: false, command: ['/bin/sh', '-c', 'echo started; exec sleep 30'], timeout: 2 });
  r.start(req);
  // Buffered output moves only with the manual clock.
  assert.ok(await waitFor(() => (clock.advance(0), req.channel.text('stdout') === 'started\n')));
  assert.equal(req.channel.completed, undefined);
  clock.advance(1999);
  assert.equal(req.channel.completed, undefined);
  clock.advance(1);
  await req.channel.done;
  assert.deepEqual(req.channel.statuses('failure_reason'), ['timeout_without_output']);
  const header = req.channel.text('header');
  assert.ok(header.includes("\ncommand timed out: 2 seconds without output running [b'/bin/sh', b'-c', b'echo started; exec sleep 30'], attempting to kill\n"), header);
  assert.ok(header.includes('process killed by signal 9\n'));
  assert.deepEqual(req.channel.statuses('rc'), [-1]);
});

test('maxTime and max_lines', async () => {
  const slow = await runShell({ command: 'sleep 30', maxTime: 0.3 });
  assert.deepEqual(slow.ch.statuses('failure_reason'), ['timeout']);
  assert.ok(slow.ch.text('header').includes(' (maxTime 0.3 secs)\n'));
  assert.ok(slow.ch.text('header').includes("command timed out: 0.3 seconds elapsed running [b'/bin/sh', b'-c', b'sleep 30'], attempting to kill"));
  assert.deepEqual(slow.ch.statuses('rc'), [-1]);
  const chatty = await runShell({ command: 'i=0; while true; do echo line $i; i=$((i+1)); sleep 0.01; done', max_lines: 5 });
  assert.deepEqual(chatty.ch.statuses('failure_reason'), ['max_lines_failure']);
  assert.match(chatty.ch.text('header'), /command exceeds max lines: 6\/5 written\/allowed running/);
  assert.ok(chatty.ch.text('stdout').split('\n').length - 1 <= 6);
  assert.deepEqual(chatty.ch.statuses('rc'), [-1]);
});

test('interrupt: message, group killed including a TERM-ignoring grandchild, no survivors', async () => {
  const r = runner();
  r.settings = { ...r.settings, bufferTimeout: 0.05 };
  const workdir = mkdtempSync(join(tmpdir(), 'shell-test-'));
  const req = request('shell', { workdir, logEnviron: false, command: [process.execPath, fixture('grandchild-ignores-term')], sigtermTime: 0.3 });
  r.start(req);
  let grandchild = 0;
  await waitFor(() => {
    const m = /grandchild (\d+)/.exec(req.channel.text('stdout'));
    if (m) grandchild = Number(m[1]);
    return grandchild !== 0;
  }, 10000);
  assert.ok(grandchild > 0 && alive(grandchild));
  const pgid = pgidOf(grandchild);
  await r.interrupt('1', 'stop');
  await req.channel.done;
  const header = req.channel.text('header');
  assert.ok(header.includes('\ncommand interrupted, attempting to kill\n'), header);
  assert.ok(header.includes('process killed by signal 15\n'), 'the leader died of SIGTERM');
  assert.deepEqual(req.channel.statuses('rc'), [-1]);
  assert.deepEqual(req.channel.statuses('elapsed'), []);
  assert.ok(await waitFor(() => !alive(grandchild)), 'the grandchild ignoring SIGTERM was killed too');
  assert.deepEqual(liveInGroup(pgid), []);
});

test('logfiles are sent as logfile updates', async () => {
  const { ch } = await runShell({ command: 'printf "l1\\nl2\\n" > my.log; sleep 0.1', logfiles: { custom: 'my.log' } });
  assert.equal(ch.text('custom'), 'l1\nl2\n');
  assert.ok(ch.text('header').includes(" watching logfiles {'custom': 'my.log'}\n"));
});

test('an existing logfile with follow sends only what is appended', async () => {
  const workdir = mkdtempSync(join(tmpdir(), 'shell-test-'));
  writeFileSync(join(workdir, 'f.log'), 'old\n');
  const { ch } = await runShell({ workdir, command: 'sleep 0.05; echo new >> f.log', logfiles: { f: { filename: 'f.log', follow: false } } });
  assert.equal(ch.text('f'), 'old\nnew\n', 'without follow the whole file is read once it changes');
});

test('a program that cannot be started: the reason on stderr, rc 1, no failure (as Python)', async () => {
  const { ch } = await runShell({ command: ['no-such-program', 'arg'], env: { PATH: '/usr/bin:/bin' } });
  assert.equal(ch.text('stderr'), "Upon execvpe b'no-such-program' [b'no-such-program', b'arg']\n" + "FileNotFoundError: [Errno 2] No such file or directory: b'/bin/no-such-program'\n");
  assert.deepEqual(ch.statuses('rc'), [1]);
  assert.match(ch.text('header'), /^no-such-program arg\n in dir /);
  assert.match(ch.text('header'), /\nelapsedTime=\d+\.\d{6}\n$/);
  assert.deepEqual(ch.completed, { failure: null });
});

test('a file without the execute bit, in a workdir that does not exist yet', async () => {
  const base = mkdtempSync(join(tmpdir(), 'shell-test-'));
  writeFileSync(join(base, 'script'), '#!/bin/sh\necho never\n', { mode: 0o644 });
  const workdir = join(base, 'fresh', 'dir');
  const { ch } = await runShell({ workdir, command: ['../../script'] });
  assert.ok(statSync(workdir).isDirectory(), 'the workdir is created first');
  assert.equal(ch.text('stderr'), "Upon execvpe b'../../script' [b'../../script']\nPermissionError: [Errno 13] Permission denied: b'../../script'\n");
  assert.deepEqual(ch.statuses('rc'), [1]);
  assert.deepEqual(ch.completed, { failure: null });
});

test('exec failure: obfuscated arguments stay hidden; with a PTY the text is on the terminal', async () => {
  const { ch } = await runShell({
    command: [
      ['obfuscated', '/nonexistent/secret-tool', '/nonexistent/TOOL'],
      ['obfuscated', 'hunter2', 'XXX'],
    ],
    usePTY: true,
  });
  const out = ch.text('stdout');
  assert.equal(out, "Upon execvpe b'/nonexistent/TOOL' [b'/nonexistent/TOOL', b'XXX']\nFileNotFoundError: [Errno 2] No such file or directory: b'/nonexistent/TOOL'\n");
  assert.ok(!out.includes('hunter2') && !out.includes('secret-tool'));
  assert.equal(ch.text('stderr'), '');
  assert.deepEqual(ch.statuses('rc'), [1]);
});

test('logfiles are all checked when the command is created: a bad entry starts nothing', () => {
  assert.throws(
    () => shellCommandFactory({ workdir: '/x', command: 'true', logfiles: { a: 'a.log', b: { follow: true } } }),
    (e: CommandError) => e.code === ERR.BAD_ARGS && e.message === "logfile 'b' has no filename",
  );
  const o = parseShellArgs({ workdir: '/x', command: 'true', logfiles: { a: 'a.log', b: { filename: 'b.log', follow: 1 } } });
  assert.deepEqual(o.logfileSpecs, [
    { name: 'a', filename: 'a.log', follow: false },
    { name: 'b', filename: 'b.log', follow: true },
  ]);
});

test('argument validation', () => {
  assert.throws(
    () => parseShellArgs({}),
    (e: CommandError) => e.message === 'WorkerShellCommand is missing args: workdir, command',
  );
  assert.throws(() => parseShellArgs({ workdir: '/x', command: [] }), CommandError);
  assert.throws(() => parseShellArgs({ workdir: '/x', command: [{}] }), CommandError);
  assert.throws(() => parseShellArgs({ workdir: 'rel', command: 'x' }), CommandError);
  assert.throws(() => parseShellArgs({ workdir: '/x', command: 'x', timeout: 'soon' }), CommandError);
  const o = parseShellArgs({ workdir: '/x', command: 'x', want_stdout: 0, timeout: null, usePTY: false, interruptSignal: 'TERM', not_really: 1 });
  assert.equal(o.wantStdout, false);
  assert.equal(o.timeout, undefined);
  assert.equal(o.interruptSignal, 'TERM');
});

test('a bad env value completes with the Python error as failure', async () => {
  const { ch } = await runShell({ command: 'true', env: { X: 1 } });
  assert.equal(ch.completed?.failure?.value, "'env' values must be strings or lists; key 'X' is incorrect");
});
