import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WorkerBot } from '../../src/worker/bot.js';
import { parseOsRelease } from '../../src/worker/worker-info.js';
import { FakeRunner, memoryLogger } from './fakes.js';

function tempdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'bot-test-'));
}

function makeBot(basedir: string, opts: Partial<ConstructorParameters<typeof WorkerBot>[2]> = {}) {
  const runner = new FakeRunner();
  const { log, messages } = memoryLogger();
  const bot = new WorkerBot(basedir, runner, {
    log,
    commandVersions: { shell: '3.3', mkdir: '3.3' },
    environ: { HOME: '/home/w', PATH: '/bin' },
    version: '9.9.9',
    osReleaseFile: path.join(basedir, 'no-such-os-release'),
    ...opts,
  });
  return { bot, runner, messages };
}

test('getWorkerInfo reports info files, os-release, environ and the fixed keys', async () => {
  const dir = tempdir();
  fs.mkdirSync(path.join(dir, 'info'));
  fs.writeFileSync(path.join(dir, 'info', 'admin'), 'Jane <jane@example.org>\n');
  fs.writeFileSync(path.join(dir, 'info', 'host'), 'a h\u00e9llo host\n');
  fs.writeFileSync(path.join(dir, 'info', 'access_uri'), 'ssh://w1\n');
  fs.mkdirSync(path.join(dir, 'info', 'subdir'));
  fs.writeFileSync(path.join(dir, 'info', 'bad'), Buffer.from([0xff, 0xfe, 0x41]));
  const osRelease = path.join(dir, 'os-release');
  fs.writeFileSync(osRelease, '# comment\n\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nEMPTY=\nnoequals\n');
  const { bot, messages } = makeBot(dir, { osReleaseFile: osRelease, numcpus: 3, deleteLeftoverDirs: true });
  const info = await bot.getWorkerInfo();
  assert.deepEqual(info, {
    admin: 'Jane <jane@example.org>\n',
    host: 'a h\u00e9llo host\n',
    access_uri: 'ssh://w1\n',
    os_pretty_name: 'Debian GNU/Linux 12 (bookworm)',
    os_id: 'debian',
    os_version_id: '12',
    environ: { HOME: '/home/w', PATH: '/bin' },
    system: 'posix',
    basedir: dir,
    numcpus: 3,
    version: '9.9.9',
    worker_commands: { shell: '3.3', mkdir: '3.3' },
    delete_leftover_dirs: true,
  });
  assert.ok(messages().some((m) => m.startsWith('error while reading file:') && m.includes('bad')));
});

test('without info/ and numcpus the CPUs are counted', async () => {
  const { bot } = makeBot(tempdir());
  const info = await bot.getWorkerInfo();
  assert.equal(info.numcpus, os.availableParallelism());
  assert.equal(info.delete_leftover_dirs, false);
  assert.equal(info.admin, undefined);
});

test('os-release parsing matches Python (quotes stripped at both ends only)', () => {
  assert.deepEqual(parseOsRelease('NAME="A "quoted" B"\r\nX=1\n#Y=2\n'), { os_name: 'A "quoted" B', os_x: '1' });
});

test('setBuilderList creates builder dirs and returns absolute paths', async () => {
  const dir = tempdir();
  const { bot, messages } = makeBot(dir);
  fs.mkdirSync(path.join(dir, 'old-builder'));
  fs.writeFileSync(path.join(dir, 'twistd.log'), '');
  const dirs = await bot.setBuilderList([
    ['b1', 'b1-dir'],
    ['b2', 'nested/b2'],
  ]);
  assert.deepEqual(
    [...dirs],
    [
      ['b1', path.join(dir, 'b1-dir')],
      ['b2', path.join(dir, 'nested', 'b2')],
    ],
  );
  assert.ok(fs.statSync(path.join(dir, 'b1-dir')).isDirectory());
  assert.ok(fs.statSync(path.join(dir, 'nested', 'b2')).isDirectory());
  assert.ok(fs.existsSync(path.join(dir, 'old-builder')), 'leftovers are kept without delete_leftover_dirs');
  assert.ok(messages().includes("I have a leftover directory 'old-builder' that is not being used by the buildmaster: you can delete it now"));
});

test('setBuilderList deletes leftover dirs when configured, never info/ or wanted dirs', async () => {
  const dir = tempdir();
  const { bot, messages } = makeBot(dir, { deleteLeftoverDirs: true });
  fs.mkdirSync(path.join(dir, 'info'));
  fs.mkdirSync(path.join(dir, 'stale', 'deep'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'stale', 'deep', 'f'), 'x');
  fs.writeFileSync(path.join(dir, 'buildbot.tac'), 'x');
  await bot.setBuilderList([['b', 'nested/b']]);
  assert.ok(!fs.existsSync(path.join(dir, 'stale')));
  assert.ok(fs.existsSync(path.join(dir, 'info')));
  assert.ok(fs.existsSync(path.join(dir, 'nested', 'b')));
  assert.ok(fs.existsSync(path.join(dir, 'buildbot.tac')));
  assert.ok(messages().includes("Deleting directory 'stale' that is not being used by the buildmaster"));
});

test('commands, settings, interrupts and lost connections go to the runner', async () => {
  const { bot, runner } = makeBot(tempdir());
  const channel = { sendUpdates: async () => {}, complete: async () => {} };
  bot.startCommand({ commandId: '7', commandName: 'shell', args: { command: 'true' }, channel });
  assert.equal(runner.started[0]?.commandId, '7');
  await bot.interruptCommand('7', 'stop it');
  assert.deepEqual(runner.interrupts, [['7', 'stop it']]);
  bot.setWorkerSettings({ newlineRe: 'x', maxLineLength: 10, bufferSize: 20, bufferTimeout: 1 });
  assert.equal(runner.settings.maxLineLength, 10);
  bot.connectionLost();
  assert.deepEqual(runner.interruptAlls, ['connection lost']);
  assert.deepEqual(bot.getCommands(), { shell: '3.3', mkdir: '3.3' });
  assert.equal(bot.getVersion(), '9.9.9');
});

test('print logs "message from master" and shutdown emits an event', () => {
  const { bot, messages } = makeBot(tempdir());
  bot.print('attached');
  assert.ok(messages().includes('message from master: attached'));
  let fired = 0;
  bot.on('shutdown', () => fired++);
  bot.shutdown();
  assert.equal(fired, 1);
  assert.ok(messages().includes('worker shutting down on command from master'));
});
