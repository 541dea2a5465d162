import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { startTestMaster, type TestMaster } from '../../src/master/test-master.js';
import { cli, cliAsync, tempdir } from '../cli/cli-helpers.js';

/**
 * TLS and the HTTP CONNECT proxy end to end, for both protocols: the real CLI
 * (create-worker, start --nodaemon) against the embedded master behind a TLS terminator
 * and/or a proxy written here, with a CA made here by openssl.
 */

type Proto = 'pb' | 'msgpack';
const WIRE: Record<Proto, string> = { pb: 'pb', msgpack: 'msgpack_experimental_v7' };
const PASSWORD = 'tls-proxy-secret';

const haveOpenssl = !spawnSync('openssl', ['version']).error;

interface Pki {
  dir: string;
  caFile: string;
  /** A directory holding only the CA (`trustRoots=`). */
  trustDir: string;
  key: Buffer;
  cert: Buffer;
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A CA and a server certificate for localhost / 127.0.0.1 signed by it. */
function makePki(): Pki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pki-'));
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=Worker Test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'], dir);
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf'], dir);
  const trustDir = path.join(dir, 'trust');
  fs.mkdirSync(trustDir);
  fs.copyFileSync(path.join(dir, 'ca.pem'), path.join(trustDir, 'ca.pem'));
  return { dir, caFile: path.join(dir, 'ca.pem'), trustDir, key: fs.readFileSync(path.join(dir, 'server.key')), cert: fs.readFileSync(path.join(dir, 'server.pem')) };
}

/** Pipe two sockets together; either side's end or error ends both. */
function splice(a: net.Socket, b: net.Socket): void {
  a.pipe(b).pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', end).on('close', end);
  b.on('error', end).on('close', end);
}

/** A TLS terminator in front of a plain TCP port. */
async function tlsTerminator(pki: Pki, targetPort: number): Promise<{ port: number; handshakes: () => number; close: () => void }> {
  let handshakes = 0;
  const server = tls.createServer({ key: pki.key, cert: pki.cert }, (secure) => {
    handshakes++;
    splice(secure, net.connect(targetPort, '127.0.0.1'));
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, handshakes: () => handshakes, close: () => server.close() };
}

interface ProxyRecord {
  target: string;
  authorization?: string;
  host?: string;
}

/**
 * An HTTP CONNECT proxy requiring Basic credentials. It answers in pieces (status line,
 * a pause, then the headers), which the Python worker's tunnel mis-parses.
 */
async function connectProxy(user: string, password: string) {
  const requests: ProxyRecord[] = [];
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const server = net.createServer((client) => {
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.off('data', onData);
      client.pause();
      const lines = head.subarray(0, end).toString('latin1').split('\r\n');
      const [method, target] = lines[0]!.split(' ');
      const headers = Object.fromEntries(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      requests.push({ target: target!, authorization: headers['proxy-authorization'], host: headers.host });
      if (method !== 'CONNECT') return void client.end('HTTP/1.1 405 Method Not Allowed\r\n\r\n');
      if (headers['proxy-authorization'] !== expected) return void client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n');
      const i = target!.lastIndexOf(':');
      const upstream = net.connect(Number(target!.slice(i + 1)), target!.slice(0, i).replace(/^\[|\]$/g, ''));
      upstream.once('connect', () => {
        client.write('HTTP/1.1 200 Conn');
        setTimeout(() => {
          client.write('ection established\r\nProxy-Agent: test-proxy\r\n');
          setTimeout(() => {
            client.write('\r\n');
            const rest = head.subarray(end + 4);
            if (rest.length) upstream.write(rest);
            splice(client, upstream);
            client.resume();
          }, 30);
        }, 30);
      });
      upstream.once('error', () => client.destroy());
    };
    client.on('data', onData);
    client.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, requests, close: () => server.close() };
}

let pki: Pki;
let master: TestMaster;
const portOf = (p: Proto) => (p === 'pb' ? master.pbPort : master.msgpackPort);

before(async () => {
  if (haveOpenssl) pki = makePki();
  master = await startTestMaster({ workers: { tw: PASSWORD } });
});
after(async () => {
  await master.close();
});

/** create-worker with `args`, start it in the foreground, wait for attach, run a command, stop it. */
async function attachAndRun(protocol: Proto, masterAddress: string, createArgs: string[], env: NodeJS.ProcessEnv = process.env) {
  const m = master;
  const dir = path.join(tempdir('tls-proxy-'), 'w');
  const created = cli(['create-worker', '-q', '--protocol', WIRE[protocol], ...createArgs, dir, masterAddress, 'tw', PASSWORD]);
  assert.equal(created.code, 0, created.stdout + created.stderr);
  const attached = m.waitForWorker('tw', { timeoutMs: 20_000 });
  const run = cliAsync(['start', '--nodaemon', dir], { env });
  try {
    const handle = await attached.catch((err: Error) => assert.fail(`${err.message}\n${run.output()}`));
    assert.equal(handle.protocol, protocol);
    const r = await handle.startCommand('builder', 'shell', { command: ['sh', '-c', 'echo through-the-tunnel'], workdir: 'build' }).done;
    assert.equal(r.status, 'SUCCESS');
    assert.equal(r.logs.stdout, 'through-the-tunnel\n');
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0);
    await m.worker('tw')?.detached;
    return { dir, log: fs.readFileSync(path.join(dir, 'twistd.log'), 'utf8') };
  } finally {
    run.child.kill('SIGKILL');
  }
}
for (const protocol of ['pb', 'msgpack'] as const) {
  test(`TLS (${protocol}): tls: connection string with trustRoots, through a TLS terminator`, { skip: !haveOpenssl && 'openssl is not installed' }, async () => {
    const term = await tlsTerminator(pki, portOf(protocol));
    try {
      await attachAndRun(protocol, 'unused', ['--connection-string', `tls:host=localhost:port=${term.port}:trustRoots=${pki.trustDir}`]);
      assert.ok(term.handshakes() >= 1);
    } finally {
      term.close();
    }
  });

  test(`TLS (${protocol}): --use-tls with the CA from NODE_EXTRA_CA_CERTS; an untrusted certificate is refused`, { skip: !haveOpenssl && 'openssl is not installed' }, async () => {
    const term = await tlsTerminator(pki, portOf(protocol));
    try {
      await attachAndRun(protocol, `localhost:${term.port}`, ['--use-tls'], { ...process.env, NODE_EXTRA_CA_CERTS: pki.caFile });
      const dir = path.join(tempdir('tls-untrusted-'), 'w');
      assert.equal(cli(['create-worker', '-q', '--use-tls', '--maxretries', '1', '--protocol', WIRE[protocol], dir, `localhost:${term.port}`, 'tw', PASSWORD]).code, 0);
      const env = { ...process.env };
      delete env.NODE_EXTRA_CA_CERTS;
      const run = cliAsync(['start', '--nodaemon', dir], { env });
      assert.equal(await run.exited, 1, run.output());
      assert.match(fs.readFileSync(path.join(dir, 'twistd.log'), 'utf8'), /TLS to localhost:\d+ failed: .*(self[- ]signed|unable to (get|verify))/i);
    } finally {
      term.close();
    }
  });

  test(`HTTP CONNECT proxy (${protocol}) with credentials, answering in pieces; wrong credentials are refused`, async () => {
    const proxy = await connectProxy('builder', 'p@ss:word');
    try {
      const { log } = await attachAndRun(protocol, `127.0.0.1:${portOf(protocol)}`, ['--proxy-connection-string', `http://builder:p%40ss%3Aword@127.0.0.1:${proxy.port}`]);
      const ok = proxy.requests.find((r) => r.authorization?.startsWith('Basic'));
      assert.ok(ok, JSON.stringify(proxy.requests));
      assert.equal(ok.target, `127.0.0.1:${portOf(protocol)}`);
      assert.equal(ok.host, ok.target);
      assert.ok(!log.includes('p@ss:word') && !log.includes('p%40ss%3Aword') && !log.includes(PASSWORD));

      const dir = path.join(tempdir('proxy-bad-'), 'w');
      assert.equal(
        cli([
          'create-worker',
          '-q',
          '--maxretries',
          '1',
          '--protocol',
          WIRE[protocol],
          '--proxy-connection-string',
          `http://builder:wrong@127.0.0.1:${proxy.port}`,
          dir,
          `127.0.0.1:${portOf(protocol)}`,
          'tw',
          PASSWORD,
        ]).code,
        0,
      );
      const run = cliAsync(['start', '--nodaemon', dir]);
      assert.equal(await run.exited, 1);
      assert.match(fs.readFileSync(path.join(dir, 'twistd.log'), 'utf8'), /proxy refused CONNECT: HTTP\/1\.1 407 Proxy Authentication Required/);
    } finally {
      proxy.close();
    }
  });

  test(`TLS through the HTTP CONNECT proxy (${protocol}): --use-tls with --proxy-connection-string`, { skip: !haveOpenssl && 'openssl is not installed' }, async () => {
    const term = await tlsTerminator(pki, portOf(protocol));
    const proxy = await connectProxy('u', 'v');
    try {
      await attachAndRun(protocol, `localhost:${term.port}`, ['--use-tls', '--proxy-connection-string', `http://u:v@127.0.0.1:${proxy.port}`], { ...process.env, NODE_EXTRA_CA_CERTS: pki.caFile });
      assert.ok(proxy.requests.some((r) => r.target === `localhost:${term.port}`));
      assert.ok(term.handshakes() >= 1, 'TLS runs inside the tunnel, to the master');
    } finally {
      term.close();
      proxy.close();
    }
  });
}
