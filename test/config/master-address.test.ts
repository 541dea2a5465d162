import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMasterArgument } from '../../src/config/master-address.js';
import { configFromEnvironment } from '../../src/config/env-config.js';
import { parseEndpoint, transportOptionsFor } from '../../src/config/connection-string.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

test('<master> forms accepted by Python', () => {
  assert.deepEqual(parseMasterArgument('bm'), { host: 'bm', port: 9989 });
  assert.deepEqual(parseMasterArgument('bm:1234'), { host: 'bm', port: 1234 });
  assert.deepEqual(parseMasterArgument('[::1]:4321'), { host: '::1', port: 4321 });
  assert.deepEqual(parseMasterArgument('[2001:db8::1]'), { host: '2001:db8::1', port: 9989 });
});

test("<master> errors carry Python's messages", () => {
  assert.throws(() => parseMasterArgument('http://bm'), { message: '<master> is not a URL - do not use URL' });
  assert.throws(() => parseMasterArgument('::1:99'), { message: "invalid <master> argument '::1:99', if it is an ipv6 address, it must be enclosed by []" });
  assert.throws(() => parseMasterArgument(':99'), { message: "invalid <master> argument ':99'" });
  assert.throws(() => parseMasterArgument('bm:x'), { message: "invalid master port 'x', needs to be a number" });
});

test('environment configuration follows the Docker tac contract', () => {
  const cfg = configFromEnvironment({ WORKERPASS: 'pw' }, '/work');
  assert.equal(cfg.basedir, '/work');
  assert.equal(cfg.host, 'localhost');
  assert.equal(cfg.port, 9989);
  assert.equal(cfg.protocol, 'pb');
  assert.equal(cfg.workername, 'docker');
  assert.equal(cfg.maxretries, 10);
  assert.equal(cfg.logToStdout, true);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'envcfg-'));
  fs.writeFileSync(path.join(dir, 'pw'), 'from-file\n');
  const c2 = configFromEnvironment(
    { BUILDMASTER: 'bm', BUILDMASTER_PORT: '1', BUILDMASTER_PROTOCOL: 'msgpack_experimental_v7', WORKERNAME: 'n', WORKERPASS_FILE: path.join(dir, 'pw'), BUILDBOT_BASEDIR: dir },
    '/',
  );
  assert.deepEqual([c2.host, c2.port, c2.protocol, c2.workername, c2.password, c2.basedir], ['bm', 1, 'msgpack_experimental_v7', 'n', 'from-file', dir]);
  assert.throws(() => configFromEnvironment({}), /WORKERPASS/);
  assert.throws(() => configFromEnvironment({ WORKERPASS: 'x', BUILDMASTER_PORT: 'abc' }), /BUILDMASTER_PORT/);
  assert.throws(() => configFromEnvironment({ WORKERPASS: 'x', BUILDMASTER_PROTOCOL: 'null' }), /Unknown protocol/);
});

test('Twisted endpoint strings become transport options', () => {
  assert.deepEqual(parseEndpoint('tcp:host=bm:port=9989'), { kind: 'tcp', host: 'bm', port: 9989 });
  assert.deepEqual(parseEndpoint('TLS:bm:9989'), { kind: 'tls', host: 'bm', port: 9989 });
  assert.deepEqual(parseEndpoint('tcp:host=fe80\\:\\:1:port=1'), { kind: 'tcp', host: 'fe80::1', port: 1 });
  assert.throws(() => parseEndpoint('unix:/x'), /only tcp: and tls:/);
  assert.throws(() => parseEndpoint('tcp:bm'), /no valid port/);
  assert.throws(() => parseEndpoint('tls:bm:1:certKey=x'), /not supported/);
  assert.deepEqual(transportOptionsFor({ host: 'bm', port: 1, connectionString: null, useTls: true, proxyConnectionString: 'tcp:proxy:3128' }), {
    host: 'bm',
    port: 1,
    tls: {},
    proxy: { host: 'proxy', port: 3128 },
  });
  assert.deepEqual(transportOptionsFor({ host: null, port: null, connectionString: 'tcp:m:2', useTls: false, proxyConnectionString: null }), { host: 'm', port: 2 });
});
