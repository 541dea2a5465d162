import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors.js';
import { makeTac, type TacValues } from '../../src/config/tac-template.js';
import { parseTac, splitStatements } from '../../src/config/tac-reader.js';
import { parsePyLiteral, pyRepr } from '../../src/config/python-literal.js';

const base: TacValues = {
  basedir: '/srv/w1',
  logSize: 10000000,
  logCount: '10',
  noLogrotate: false,
  host: 'master.example.org',
  port: 9989,
  connectionString: null,
  name: 'w1',
  passwd: 'secret',
  keepalive: 600,
  umask: 'None',
  maxdelay: 300,
  numcpus: 'None',
  allowShutdown: null,
  maxretries: 'None',
  useTls: false,
  deleteLeftoverDirs: false,
  proxyConnectionString: null,
  protocol: 'pb',
};

/** What Python's create_worker.py (snapshot template) writes for `create-worker /srv/w1 master.example.org w1 secret`. */
const PYTHON_TAC = `
import os

from buildbot_worker.bot import Worker
from twisted.application import service

basedir = '/srv/w1'
rotateLength = 10000000
maxRotatedFiles = 10

# if this is a relocatable tac file, get the directory containing the TAC
if basedir == '.':
    import os.path
    basedir = os.path.abspath(os.path.dirname(__file__))

# note: this line is matched against to check that this is a worker
# directory; do not edit it.
application = service.Application('buildbot-worker')

from twisted.python.logfile import LogFile
from twisted.logger import ILogObserver
from twisted.logger import textFileLogObserver
from twisted.logger import LogLevelFilterPredicate
from twisted.logger import FilteringLogObserver
logfile = LogFile.fromFullPath(
    os.path.join(basedir, "twistd.log"), rotateLength=rotateLength,
    maxRotatedFiles=maxRotatedFiles)
application.setComponent(
    ILogObserver,
    FilteringLogObserver(
        textFileLogObserver(logfile), predicates=[LogLevelFilterPredicate()]
    ),
)

buildmaster_host = 'master.example.org'
port = 9989
connection_string = None

workername = 'w1'
passwd = 'secret'
keepalive = 600
umask = None
maxdelay = 300
numcpus = None
allow_shutdown = None
maxretries = None
use_tls = 0
delete_leftover_dirs = 0
proxy_connection_string = None
protocol = 'pb'

s = Worker(buildmaster_host, port, workername, passwd, basedir,
           keepalive, umask=umask, maxdelay=maxdelay,
           numcpus=numcpus, allow_shutdown=allow_shutdown,
           maxRetries=maxretries, protocol=protocol, useTls=use_tls,
           delete_leftover_dirs=delete_leftover_dirs,
           connection_string=connection_string,
           proxy_connection_string=proxy_connection_string)
s.setServiceParent(application)
`;

/** Written by the Debian 3.7 buildbot-worker create-worker (legacy log observer, no connection_string). */
const PYTHON37_TAC = `
import os

from buildbot_worker.bot import Worker
from twisted.application import service

basedir = '/tmp/pyw'
rotateLength = 10000000
maxRotatedFiles = 10

# if this is a relocatable tac file, get the directory containing the TAC
if basedir == '.':
    import os.path
    basedir = os.path.abspath(os.path.dirname(__file__))

# note: this line is matched against to check that this is a worker
# directory; do not edit it.
application = service.Application('buildbot-worker')

from twisted.python.logfile import LogFile
from twisted.python.log import ILogObserver, FileLogObserver
logfile = LogFile.fromFullPath(
    os.path.join(basedir, "twistd.log"), rotateLength=rotateLength,
    maxRotatedFiles=maxRotatedFiles)
application.setComponent(ILogObserver, FileLogObserver(logfile).emit)

buildmaster_host = 'h'
port = 1234
workername = 'w\u00f6rker'
passwd = 'pa\\'ss"wd'
keepalive = 600
umask = 0o22
maxdelay = 300
numcpus = None
allow_shutdown = 'file'
maxretries = 5
use_tls = 1
delete_leftover_dirs = 0
proxy_connection_string = None
protocol = 'pb'

s = Worker(buildmaster_host, port, workername, passwd, basedir,
           keepalive, umask=umask, maxdelay=maxdelay,
           numcpus=numcpus, allow_shutdown=allow_shutdown,
           maxRetries=maxretries, protocol=protocol, useTls=use_tls,
           delete_leftover_dirs=delete_leftover_dirs,
           proxy_connection_string=proxy_connection_string)
s.setServiceParent(application)
`;

test('makeTac reproduces the Python template byte for byte', () => {
  assert.equal(makeTac(base), PYTHON_TAC);
});

test('--no-logrotate drops the LogFile block; --connection-string comments out host and port', () => {
  const tac = makeTac({ ...base, noLogrotate: true, connectionString: 'tls:m\\:1:9989' });
  assert.ok(!tac.includes('LogFile'));
  assert.ok(tac.includes("buildmaster_host = None  # 'master.example.org'\nport = None  # 9989\nconnection_string = 'tls:m\\\\:1:9989'\n"));
});

test('pyRepr quotes like Python 3 repr()', () => {
  assert.equal(pyRepr('plain'), "'plain'");
  assert.equal(pyRepr("it's"), `"it's"`);
  assert.equal(pyRepr(`pa'ss"wd`), `'pa\\'ss"wd'`);
  assert.equal(pyRepr('a\\b\n\t\x01\u00e9\u2713'), "'a\\\\b\\n\\t\\x01\u00e9\u2713'");
  assert.equal(pyRepr('\x7f\x85'), "'\\x7f\\x85'");
});

test('any string survives pyRepr → parsePyLiteral', async () => {
  const fc = (await import('fast-check')).default;
  fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => parsePyLiteral(pyRepr(s)) === s));
  fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => parsePyLiteral(pyRepr(s)) === s));
});

test('a tac written by makeTac reads back to the same settings', () => {
  const tac = makeTac({
    ...base,
    umask: '0o22',
    numcpus: '4',
    maxretries: '3',
    allowShutdown: 'signal',
    useTls: true,
    deleteLeftoverDirs: true,
    protocol: 'msgpack_experimental_v7',
    logCount: 'None',
    logSize: 5000,
    passwd: 'p\'w"\\',
  });
  const cfg = parseTac(tac, '/srv/w1/buildbot.tac', {});
  assert.deepEqual(cfg, {
    basedir: '/srv/w1',
    host: 'master.example.org',
    port: 9989,
    connectionString: null,
    workername: 'w1',
    password: 'p\'w"\\',
    keepalive: 600,
    umask: 0o22,
    maxdelay: 300,
    numcpus: 4,
    allowShutdown: 'signal',
    maxretries: 3,
    useTls: true,
    deleteLeftoverDirs: true,
    proxyConnectionString: null,
    protocol: 'msgpack_experimental_v7',
    path: null,
    logRotation: { rotateLength: 5000, maxRotatedFiles: null },
    logToStdout: false,
  });
});

test('a relocatable tac resolves basedir to the tac directory', () => {
  const cfg = parseTac(makeTac({ ...base, basedir: '.' }), '/moved/here/buildbot.tac', {});
  assert.equal(cfg.basedir, '/moved/here');
});

test('a tac from the Python 3.7 create-worker reads unchanged', () => {
  const cfg = parseTac(PYTHON37_TAC, '/tmp/pyw/buildbot.tac', {});
  assert.equal(cfg.workername, 'w\u00f6rker');
  assert.equal(cfg.password, `pa'ss"wd`);
  assert.equal(cfg.host, 'h');
  assert.equal(cfg.port, 1234);
  assert.equal(cfg.umask, 0o22);
  assert.equal(cfg.maxretries, 5);
  assert.equal(cfg.useTls, true);
  assert.equal(cfg.allowShutdown, 'file');
  assert.deepEqual(cfg.logRotation, { rotateLength: 10000000, maxRotatedFiles: 10 });
});

test('an old tac passing usepty positionally and without a LogFile still reads', () => {
  const tac = `
from twisted.application import service
from buildbot.slave.bot import BuildSlave
basedir = r'/old/w'
application = service.Application('buildbot-worker')
buildmaster_host = "old-master"
port = 9989
slavename = 'old'
passwd = 'pw'
keepalive = 600
usepty = 0
umask = 022
s = Worker(buildmaster_host, port, slavename, passwd, basedir,
           keepalive, usepty, umask=umask)
s.setServiceParent(application)
`;
  const cfg = parseTac(tac, '/old/w/buildbot.tac', {});
  assert.equal(cfg.workername, 'old');
  assert.equal(cfg.umask, 0o22);
  assert.equal(cfg.logRotation, null, 'twistd default logging');
});

test('the Docker image tac is evaluated against the environment', () => {
  const tac = `
import fnmatch
import os
import sys

from twisted.application import service
from twisted.logger import FilteringLogObserver
from twisted.logger import ILogObserver
from twisted.logger import LogLevelFilterPredicate
from twisted.logger import textFileLogObserver

from buildbot_worker.bot import Worker

# setup worker
basedir = os.environ.get("BUILDBOT_BASEDIR",
    os.path.abspath(os.path.dirname(__file__)))
application = service.Application('buildbot-worker')
application.setComponent(
    ILogObserver,
    FilteringLogObserver(
        textFileLogObserver(sys.stdout), predicates=[LogLevelFilterPredicate()]
    ),
)

# and worker on the same process!
buildmaster_host = os.environ.get("BUILDMASTER", 'localhost')
port = int(os.environ.get("BUILDMASTER_PORT", 9989))
protocol = os.environ.get("BUILDMASTER_PROTOCOL", 'pb')
workername = os.environ.get("WORKERNAME", 'docker')
passwd = os.environ.get("WORKERPASS")

# delete the password from the environ so that it is not leaked in the log
blacklist = os.environ.get("WORKER_ENVIRONMENT_BLACKLIST", "WORKERPASS").split()
for name in list(os.environ.keys()):
    for toremove in blacklist:
        if fnmatch.fnmatch(name, toremove):
            del os.environ[name]

keepalive = 600
umask = None
maxdelay = 300
allow_shutdown = None
maxretries = 10
delete_leftover_dirs = False

s = Worker(buildmaster_host, port, workername, passwd, basedir,
           keepalive, umask=umask, maxdelay=maxdelay, protocol=protocol,
           allow_shutdown=allow_shutdown, maxRetries=maxretries,
           delete_leftover_dirs=delete_leftover_dirs)
s.setServiceParent(application)
`;
  const cfg = parseTac(tac, '/buildbot/buildbot.tac', { BUILDMASTER: 'bm', BUILDMASTER_PORT: '19989', WORKERNAME: 'dk', WORKERPASS: 'pw', BUILDMASTER_PROTOCOL: 'msgpack_experimental_v7' });
  assert.equal(cfg.basedir, '/buildbot');
  assert.equal(cfg.host, 'bm');
  assert.equal(cfg.port, 19989);
  assert.equal(cfg.protocol, 'msgpack_experimental_v7');
  assert.equal(cfg.workername, 'dk');
  assert.equal(cfg.password, 'pw');
  assert.equal(cfg.maxretries, 10);
  assert.equal(cfg.logToStdout, true);
  assert.throws(() => parseTac(tac, '/buildbot/buildbot.tac', {}), /no password/);
});

test('bad tacs give ConfigErrors naming the problem', () => {
  assert.throws(
    () => parseTac('x = 1\n', '/t/buildbot.tac', {}),
    (e) => e instanceof ConfigError && /unexpected content/.test(e.message),
  );
  assert.throws(() => parseTac("application = service.Application('buildbot-worker')\n", '/t/buildbot.tac', {}), /no Worker/);
  const weird = makeTac(base).replace("passwd = 'secret'", 'passwd = open("/etc/pw").read()');
  assert.throws(
    () => parseTac(weird, '/t/buildbot.tac', {}),
    (e) => e instanceof ConfigError && /passwd/.test(e.message),
  );
  const badProto = makeTac({ ...base, protocol: 'null' });
  assert.throws(() => parseTac(badProto, '/t/buildbot.tac', {}), /Unknown protocol null/);
});

test('statements continue across brackets, strings and backslashes; comments are dropped', () => {
  const st = splitStatements("a = (1,\n  2)  # c\nb = '''x\ny'''\nc = 1 + \\\n 2\n  d = 3\n");
  assert.deepEqual(
    st.map((s) => [s.text, s.line, s.indented]),
    [
      ['a = (1,   2)', 1, false],
      ["b = '''x\ny'''", 3, false],
      ['c = 1 +   2', 5, false],
      ['d = 3', 7, true],
    ],
  );
});

/** Characters produced by String trim/slice/substring while `run` runs: the copying work of a parser. */
function charactersCopied(run: () => void): number {
  const proto = String.prototype as unknown as Record<string, (...a: unknown[]) => string>;
  const names = ['trim', 'trimStart', 'trimEnd', 'slice', 'substring', 'substr'] as const;
  const originals = names.map((n) => proto[n]!);
  let copied = 0;
  names.forEach((n, i) => {
    proto[n] = function (this: string, ...a: unknown[]) {
      const r = originals[i]!.apply(this, a);
      copied += r.length;
      return r;
    };
  });
  try {
    run();
  } finally {
    names.forEach((n, i) => (proto[n] = originals[i]!));
  }
  return copied;
}

test('a tac with 100 KB lines is read with work linear in its size', () => {
  // One long string and one long call: trimming the statement at every character, or
  // copying the rest of it at every token, would copy billions of characters.
  const long = 'p'.repeat(100_000);
  const args = `unused = f(${Array.from({ length: 25_000 }, () => '1').join(', ')})`;
  const tac = makeTac({ ...base, passwd: long }).replace('\nkeepalive', `\n${args}\nkeepalive`);
  let cfg: ReturnType<typeof parseTac> | undefined;
  const copied = charactersCopied(() => (cfg = parseTac(tac, '/t/buildbot.tac', {})));
  assert.equal(cfg!.password, long);
  assert.ok(copied < 20 * tac.length, `${copied} characters copied for ${tac.length} of tac`);
});

test('a \\U escape beyond U+10FFFF is a ConfigError naming the line, as Python refuses it', () => {
  const tac = makeTac(base).replace("passwd = 'secret'", "passwd = 'a\\U00110000'");
  const line = tac.split('\n').findIndex((l) => l.startsWith('passwd')) + 1;
  assert.throws(
    () => parseTac(tac, '/t/buildbot.tac', {}),
    (e) => e instanceof ConfigError && e.message.startsWith(`/t/buildbot.tac:${line}: illegal Unicode character`),
  );
  assert.throws(() => parsePyLiteral("'\\U00110000'"), ConfigError);
  assert.equal(parsePyLiteral("'\\U0010ffff\\101'"), '\u{10ffff}A');
});
