import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseTac } from '../../src/config/tac-reader.js';
import { cli, tempdir } from './cli-helpers.js';

test("create-worker writes a 0600 tac, info files and prints Python's messages", () => {
  const dir = path.join(tempdir(), 'w1');
  const r = cli(['create-worker', '--umask=0o22', '--maxretries', '4', '-k', '30', dir, 'master.example.org:1234', 'w1', 'se"cr\'et']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(
    r.stdout,
    [
      `mkdir ${dir}`,
      `mkdir ${dir}/info`,
      'Creating info/admin, you need to edit it appropriately.',
      'Creating info/host, you need to edit it appropriately.',
      'Not creating info/access_uri - add it if you wish',
      `Please edit the files in ${dir}/info appropriately.`,
      `worker configured in ${dir}`,
      '',
    ].join('\n'),
  );
  const tac = path.join(dir, 'buildbot.tac');
  assert.equal(fs.statSync(tac).mode & 0o777, 0o600);
  assert.equal(fs.readFileSync(path.join(dir, 'info', 'admin'), 'utf8'), 'Your Name Here <admin@youraddress.invalid>\n');
  assert.equal(fs.readFileSync(path.join(dir, 'info', 'host'), 'utf8'), 'Please put a description of this build host here\n');
  const cfg = parseTac(fs.readFileSync(tac, 'utf8'), tac, {});
  assert.deepEqual([cfg.host, cfg.port, cfg.workername, cfg.password, cfg.umask, cfg.maxretries, cfg.keepalive, cfg.basedir], ['master.example.org', 1234, 'w1', 'se"cr\'et', 0o22, 4, 30, dir]);
});

test('running create-worker again keeps a correct tac and writes buildbot.tac.new for a different one', () => {
  const dir = path.join(tempdir(), 'w');
  assert.equal(cli(['create-worker', '-q', dir, 'bm', 'w', 'pw']).code, 0);
  const again = cli(['create-worker', dir, 'bm', 'w', 'pw']);
  assert.equal(
    again.stdout,
    ['updating existing installation', 'buildbot.tac already exists and is correct', 'Not creating info/access_uri - add it if you wish', `worker configured in ${dir}`, ''].join('\n'),
  );
  const changed = cli(['create-worker', dir, 'bm', 'w', 'other']);
  assert.ok(changed.stdout.includes('not touching existing buildbot.tac\ncreating buildbot.tac.new instead\n'));
  assert.ok(fs.readFileSync(path.join(dir, 'buildbot.tac.new'), 'utf8').includes("passwd = 'other'"));
  assert.ok(fs.readFileSync(path.join(dir, 'buildbot.tac'), 'utf8').includes("passwd = 'pw'"));
  assert.equal(fs.statSync(path.join(dir, 'buildbot.tac.new')).mode & 0o777, 0o600);
});

test('--quiet prints nothing; flags and options reach the tac', () => {
  const dir = path.join(tempdir(), 'w');
  const r = cli([
    'create-worker',
    '-q',
    '-r',
    '-n',
    '--use-tls',
    '--delete-leftover-dirs',
    '--numcpus',
    '2',
    '-s',
    '500',
    '-l',
    'None',
    '-a',
    'file',
    '--protocol',
    'msgpack_experimental_v7',
    '--proxy-connection-string',
    'tcp:proxy:3128',
    '--maxdelay',
    '20',
    dir,
    '[::1]:9000',
    'w',
    'pw',
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stdout, '');
  const text = fs.readFileSync(path.join(dir, 'buildbot.tac'), 'utf8');
  for (const line of [
    "basedir = '.'",
    'rotateLength = 500',
    'maxRotatedFiles = None',
    "buildmaster_host = '::1'",
    'port = 9000',
    'numcpus = 2',
    "allow_shutdown = 'file'",
    'use_tls = 1',
    'delete_leftover_dirs = 1',
    "proxy_connection_string = 'tcp:proxy:3128'",
    "protocol = 'msgpack_experimental_v7'",
    'maxdelay = 20',
  ]) {
    assert.ok(text.includes(`\n${line}\n`), line);
  }
  assert.ok(!text.includes('LogFile'), '--no-logrotate');
});

test('--connection-string comments out host and port', () => {
  const dir = path.join(tempdir(), 'w');
  assert.equal(cli(['create-worker', '-q', '--connection-string', 'tls:bm:9989', dir, 'bm', 'w', 'pw']).code, 0);
  const text = fs.readFileSync(path.join(dir, 'buildbot.tac'), 'utf8');
  assert.ok(text.includes("buildmaster_host = None  # 'bm'\nport = None  # 9989\nconnection_string = 'tls:bm:9989'\n"));
});

test('usage errors print "<argv0>:  <error>", a blank line, the help, and exit 1', () => {
  const dir = path.join(tempdir(), 'w');
  const cases: Array<[string[], string]> = [
    [['create-worker', dir, 'bm', 'w'], 'incorrect number of arguments'],
    [['create-worker', dir, 'http://bm', 'w', 'p'], '<master> is not a URL - do not use URL'],
    [['create-worker', dir, 'bm:abc', 'w', 'p'], "invalid master port 'abc', needs to be a number"],
    [['create-worker', dir, 'a:b:c', 'w', 'p'], "invalid <master> argument 'a:b:c', if it is an ipv6 address, it must be enclosed by []"],
    [['create-worker', '--keepalive', 'x', dir, 'bm', 'w', 'p'], 'keepalive parameter needs to be a number'],
    [['create-worker', '--log-size', '1.5', dir, 'bm', 'w', 'p'], 'log-size parameter needs to be a number'],
    [['create-worker', '--umask', '022', dir, 'bm', 'w', 'p'], 'umask parameter needs to be a number or None'],
    [['create-worker', '--maxretries', 'x', dir, 'bm', 'w', 'p'], 'maxretries parameter needs to be a number or None'],
    [['create-worker', '--allow-shutdown', 'never', dir, 'bm', 'w', 'p'], "allow-shutdown needs to be one of 'signal' or 'file'"],
    [['create-worker', '--protocol', 'null', dir, 'bm', 'w', 'p'], "Unknown protocol null: use 'pb' or 'msgpack_experimental_v7'"],
    [[], 'must specify a command'],
    [['stop', 'a', 'b'], "I wasn't expecting so many arguments"],
  ];
  for (const [args, message] of cases) {
    const r = cli(args);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.stdout, new RegExp(`^\\S*worker\\.js:  ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n\nUsage: buildbot-worker`), `${args.join(' ')}\n${r.stdout}`);
  }
  assert.ok(!fs.existsSync(dir), 'nothing created on a usage error');
});

test('--version and --help', () => {
  const v = cli(['--version']);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^worker version: \d+\.\d+\.\d+\n/);
  // Python names Twisted on the second line; this worker the command version it reports
  // to masters and the Node that runs it.
  assert.match(v.stdout, /\nworker command version: 3\.3\n/);
  assert.ok(v.stdout.includes(`\nNode version: ${process.versions.node}`), v.stdout);
  for (const sub of ['create-worker', 'start', 'stop', 'restart']) {
    const h = cli([sub, '--help']);
    assert.equal(h.code, 0, sub);
    assert.match(h.stdout, new RegExp(`Usage: buildbot-worker ${sub}`));
  }
  assert.match(cli(['start', '--help']).stdout, /--nodaemon/);
});

test("a basedir that cannot be created fails with Python's message", () => {
  const parent = path.join(tempdir(), 'a-file');
  fs.writeFileSync(parent, '');
  const dir = path.join(parent, 'w');
  const r = cli(['create-worker', dir, 'bm', 'w', 'p']);
  assert.equal(r.code, 1);
  assert.ok(r.stdout.includes(`error creating directory ${dir}\nfailed to configure worker in ${dir}\n(Not a directory)\n`), r.stdout);
});
