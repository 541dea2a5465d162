import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestMaster } from '../../src/master/test-master.js';
import { cli, cliRun, tempdir, waitFor } from './cli-helpers.js';

/**
 * twistd.log against the Python worker's: test/fixtures/python-worker-3.7-twistd-log.txt is the
 * log of Debian's buildbot-worker 3.7 started as a daemon against a real 3.7 master that ran
 * a build with one shell step (environment trimmed). Each shape below must match a line of
 * that file and a line of ours, in the same order.
 */
const fixture = (name: string) => fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));
const PROTOCOLS = {
  pb: { log: fixture('python-worker-3.7-twistd-log.txt'), system: 'Broker,client', createArgs: [] as string[] },
  msgpack: {
    log: fixture('python-worker-3.7-msgpack-twistd-log.txt'),
    system: 'BuildbotWebSocketClientProtocol,client',
    createArgs: ['--protocol', 'msgpack_experimental_v7'],
  },
};
type Proto = keyof typeof PROTOCOLS;

const STEP = 'echo hello stdout; echo hello stderr >&2';
/** [Twisted log system ('client': the protocol's), message]: the variable parts are regexps; PB only where marked. */
const ALL_SHAPES: Array<[string, RegExp, 'pb'?]> = [
  ['-', /Loading buildbot\.tac\.\.\./],
  ['-', /Loaded\./],
  ['-', /\S+ \S+ \(\S+ \S+\) starting up\./],
  ['-', /Starting Worker -- version: \S+/],
  ['-', /recording hostname in twistd\.hostname/],
  ['client', /message from master: attached/],
  ['client', /Connected to buildmaster; worker is ready/, 'pb'],
  ['client', /sending application-level keepalives every 600 seconds/, 'pb'],
  ['client', / startCommand:shell \[id \S+\]/],
  ['client', /RunProcess\._startCommand/],
  ['client', / \/bin\/sh -c 'echo hello stdout; echo hello stderr >&2'/],
  ['client', / {2}in dir \/\S+\/build \(timeout 1200 secs\)/],
  ['client', / {2}watching logfiles \{\}/],
  ['client', / {2}argv: \[b'\/bin\/sh', b'-c', b'echo hello stdout; echo hello stderr >&2'\]/],
  ['client', / environment:.*/],
  ['client', / {2}using PTY: False/],
  ['-', /command finished with signal None, exit code 0, elapsedTime: \d+\.\d{6}/],
  ['-', /ProtocolCommandBase\.command_complete \(success\) <.+>/],
  ['-', /Received SIGTERM, shutting down\./],
  ['-', /Main loop terminated\./],
  ['-', /Server Shut Down\./],
];

const shapesFor = (p: Proto): Array<[string, RegExp]> => ALL_SHAPES.filter((s) => s[2] === undefined || s[2] === p).map(([system, re]) => [system === 'client' ? PROTOCOLS[p].system : system, re]);

const lineRegExp = ([system, message]: [string, RegExp]) =>
  new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d[+-]\\d{4} \\[${system.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\] ${message.source}$`);

/** Index of the first line matching each shape, searching after the previous one; fails naming the missing shape. */
function matchInOrder(p: Proto, lines: string[], what: string): number[] {
  const found: number[] = [];
  let from = 0;
  for (const shape of shapesFor(p)) {
    const re = lineRegExp(shape);
    const i = lines.findIndex((l, n) => n >= from && re.test(l));
    assert.ok(i >= 0, `${what}: no line like [${shape[0]}] ${shape[1].source} after line ${from}:\n${lines.join('\n')}`);
    found.push(i);
    from = i + 1;
  }
  return found;
}

for (const p of Object.keys(PROTOCOLS) as Proto[]) {
  test(`the Python worker's twistd.log has each shape (${p}; the shapes are real)`, () => {
    matchInOrder(p, fs.readFileSync(PROTOCOLS[p].log, 'utf8').split('\n'), `Python 3.7 worker (${p})`);
  });

  test(`our twistd.log has the Python worker's lines, in the same order, for a daemon running a shell step (${p})`, async () => {
    const master = await startTestMaster({ workers: { w1: 'log-secret-pw' } });
    const dir = path.join(tempdir(), 'w');
    try {
      const port = p === 'pb' ? master.pbPort : master.msgpackPort;
      assert.equal(cli(['create-worker', '-q', ...PROTOCOLS[p].createArgs, dir, `127.0.0.1:${port}`, 'w1', 'log-secret-pw']).code, 0);
      const started = await cliRun(['start', dir]);
      assert.equal(started.code, 0, started.stdout);
      const handle = await master.waitForWorker('w1', { timeoutMs: 20_000 });
      const r = await handle.startCommand('builder', 'shell', { command: ['/bin/sh', '-c', STEP], workdir: 'build', timeout: 1200, env: { STEP_TOKEN: 'value-not-logged' } }).done;
      assert.equal(r.status, 'SUCCESS', JSON.stringify(r));
      const stop = await cliRun(['stop', dir]);
      assert.equal(stop.code, 0, stop.stdout);
      await waitFor(() => fs.readFileSync(path.join(dir, 'twistd.log'), 'utf8').includes('Server Shut Down.'));
      const text = fs.readFileSync(path.join(dir, 'twistd.log'), 'utf8');
      matchInOrder(p, text.split('\n'), `this worker (${p})`);
      assert.ok(!text.includes('log-secret-pw'), 'no password');
      assert.ok(text.includes('STEP_TOKEN') && !text.includes('value-not-logged'), 'environment names, not values');
    } finally {
      await master.close();
    }
  });
}

test('--log-format json: the same messages as pino JSON records', async () => {
  const master = await startTestMaster({ workers: { w1: 'log-secret-pw' }, msgpackPort: null });
  const dir = path.join(tempdir(), 'w');
  try {
    assert.equal(cli(['create-worker', '-q', dir, `127.0.0.1:${master.pbPort}`, 'w1', 'log-secret-pw']).code, 0);
    const started = await cliRun(['start', '--log-format', 'json', dir]);
    assert.equal(started.code, 0, started.stdout);
    const handle = await master.waitForWorker('w1', { timeoutMs: 20_000 });
    const r = await handle.startCommand('builder', 'shell', { command: ['/bin/sh', '-c', 'exit 3'], workdir: 'build' }).done;
    assert.equal(r.status, 'FAILURE', JSON.stringify(r));
    assert.equal((await cliRun(['stop', dir])).code, 0);
    const text = fs.readFileSync(path.join(dir, 'twistd.log'), 'utf8');
    const records = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; level: number; system?: string; commandId?: string });
    const finished = records.find((rec) => rec.msg.startsWith('command finished with signal None, exit code 3, elapsedTime: '));
    assert.ok(finished, text);
    assert.equal(finished.system, '-');
    assert.ok(
      records.some((rec) => /^ startCommand:shell \[id \S+\]$/.test(rec.msg) && rec.system === 'Broker,client' && rec.commandId !== undefined),
      text,
    );
    assert.ok(!text.includes('log-secret-pw'));
  } finally {
    await master.close();
  }
});
