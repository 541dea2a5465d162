import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { findPython3, loadTac } from '../../src/config/tac-python.js';

/**
 * buildbot.tac files the built-in reader does not understand, evaluated by python3 with
 * stand-in buildbot_worker/twisted modules. Skipped where no python3 is installed.
 */
const python = findPython3();
const skip = python ? false : 'no python3 on PATH';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'tac-python-'));

/** A hand-edited tac: the password read from a file, a helper function, imports, computed values. */
function handEditedTac(secretFile: string): string {
  return `
import os
import socket
from buildbot_worker.bot import Worker
from twisted.application import service
from twisted.internet import reactor  # a stand-in: nothing is started

basedir = os.path.abspath(os.path.dirname(__file__))
rotateLength = 10 * 1000
maxRotatedFiles = 3

def setting(name, default):
    """Environment first, then the default."""
    return os.environ.get('WORKER_' + name.upper(), default)

application = service.Application('buildbot-worker')

from twisted.python.logfile import LogFile
from twisted.python.log import ILogObserver, FileLogObserver
logfile = LogFile.fromFullPath(os.path.join(basedir, "twistd.log"), rotateLength=rotateLength,
                               maxRotatedFiles=maxRotatedFiles)
application.setComponent(ILogObserver, FileLogObserver(logfile).emit)

with open(${JSON.stringify(secretFile)}) as f:
    passwd = f.read().strip()
hosts = {'prod': 'master.example.org', 'test': '127.0.0.1'}
print("tac output does not disturb the result")
reactor.callLater(0, lambda: None)
metrics_port = 9100 + 1

s = Worker(hosts[setting('site', 'test')], int(setting('port', '9989')), socket.gethostname() if False else 'w-' + setting('name', 'one'),
           passwd, basedir, 600, umask=0o22, maxdelay=60, numcpus=None, allow_shutdown='file',
           maxRetries=None, protocol='msgpack_experimental_v7', useTls=0, delete_leftover_dirs=1)
s.setServiceParent(application)
`;
}

test('a tac the reader cannot read is evaluated by python3: file-read password, helpers, imports, log rotation', { skip }, () => {
  const dir = tmp();
  const secret = path.join(dir, 'secret');
  fs.writeFileSync(secret, 'from-a-file-pw\n', { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'buildbot.tac'), handEditedTac(secret));
  const loaded = loadTac(dir, { ...process.env, WORKER_NAME: 'env-name', WORKER_PORT: '19989' });
  const c = loaded.config;
  assert.ok(loaded.evaluatedBy, 'evaluated by python3');
  assert.ok(!loaded.evaluatedBy.readerError.includes('from-a-file-pw'));
  assert.equal(c.password, 'from-a-file-pw');
  assert.equal(c.workername, 'w-env-name');
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.port, 19989);
  assert.equal(c.basedir, dir);
  assert.equal(c.keepalive, 600);
  assert.equal(c.umask, 0o22);
  assert.equal(c.maxdelay, 60);
  assert.equal(c.allowShutdown, 'file');
  assert.equal(c.protocol, 'msgpack_experimental_v7');
  assert.equal(c.deleteLeftoverDirs, true);
  assert.equal(c.useTls, false);
  assert.deepEqual(c.logRotation, { rotateLength: 10000, maxRotatedFiles: 3 });
  assert.equal(c.logToStdout, false);
  assert.equal(c.metricsPort, 9101);
});

test('a tac that logs to stdout and passes a connection string', { skip }, () => {
  const dir = tmp();
  fs.writeFileSync(
    path.join(dir, 'buildbot.tac'),
    `import sys
from buildbot_worker.bot import Worker
from twisted.application import service
from twisted.python import log
application = service.Application('buildbot-worker')
application.setComponent(log.ILogObserver, log.FileLogObserver(sys.stdout).emit)
parts = ['tcp', 'host=m.example.org', 'port=9989']
Worker(None, None, 'w1', ''.join(reversed('drowssap')), '.', 300, connection_string=':'.join(parts)).setServiceParent(application)
`,
  );
  const c = loadTac(dir).config;
  assert.equal(c.connectionString, 'tcp:host=m.example.org:port=9989');
  assert.equal(c.password, 'password');
  assert.equal(c.basedir, dir);
  assert.equal(c.logToStdout, true);
});

test('an error inside the tac names its line; the reader error stays in the message', { skip }, () => {
  const dir = tmp();
  fs.writeFileSync(
    path.join(dir, 'buildbot.tac'),
    `from buildbot_worker.bot import Worker
from twisted.application import service
application = service.Application('buildbot-worker')
passwd = open('/nonexistent/worker-secret').read()
Worker('m', 9989, 'w', passwd, '.', 600).setServiceParent(application)
`,
  );
  assert.throws(
    () => loadTac(dir),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /buildbot\.tac:4: .*FileNotFoundError: .*\/nonexistent\/worker-secret/);
      return true;
    },
  );
});

test('values the worker cannot take are refused like in a plain tac (checked by the reader)', { skip }, () => {
  const dir = tmp();
  fs.writeFileSync(
    path.join(dir, 'buildbot.tac'),
    `from buildbot_worker.bot import Worker
from twisted.application import service
application = service.Application('buildbot-worker')
def proto(): return 'carrier-pigeon'
Worker('m', 9989, 'w', 'pw', '.', 600, protocol=proto()).setServiceParent(application)
`,
  );
  assert.throws(() => loadTac(dir), /Unknown protocol carrier-pigeon/);
});

test('without python3 on PATH the reader error naming the line stands', () => {
  const dir = tmp();
  fs.writeFileSync(
    path.join(dir, 'buildbot.tac'),
    `from buildbot_worker.bot import Worker
from twisted.application import service
application = service.Application('buildbot-worker')
passwd = open('/etc/worker/secret').read().strip()
s = Worker('m', 9989, 'w', passwd, '.', 600)
`,
  );
  assert.throws(
    () => loadTac(dir, { PATH: path.join(dir, 'no-bin') }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /buildbot\.tac:[45]: /);
      assert.ok(!err.message.includes('evaluated with'), err.message);
      return true;
    },
  );
});

test('a file that is not a worker tac is not handed to python3', { skip }, () => {
  const dir = tmp();
  const marker = path.join(dir, 'ran');
  fs.writeFileSync(path.join(dir, 'buildbot.tac'), `open(${JSON.stringify(marker)}, 'w').write('x')\n`);
  assert.throws(() => loadTac(dir), /unexpected content/);
  assert.ok(!fs.existsSync(marker));
});
