import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { connectStream } from '../../src/transport/connect.js';
import { connectRequest } from '../../src/transport/http-connect.js';
import { ERR } from '../../src/errors.js';
import { selfSigned } from '../helpers/self-signed.js';

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

function readSome(stream: Duplex, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const on = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= n) {
        stream.off('data', on);
        resolve(got);
      }
    };
    stream.on('data', on);
    stream.once('error', reject);
    stream.resume();
  });
}

/** A server that sends a greeting then echoes. */
async function echoServer(): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((s) => {
    s.write('hello');
    s.pipe(s);
  });
  return { server, port: await listen(server) };
}

/**
 * A CONNECT proxy that answers one byte at a time, with the first tunnel bytes of the
 * target glued to the end of its response head — the shape that trips a parser that only
 * looks at the first chunk.
 */
async function splittingProxy(opts: { status?: number; seen?: string[] } = {}) {
  const server = net.createServer((client) => {
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      client.off('data', onData);
      opts.seen?.push(head);
      const [, target] = /^CONNECT (\S+) /.exec(head)!;
      const idx = target.lastIndexOf(':');
      if ((opts.status ?? 200) !== 200) {
        client.end(`HTTP/1.1 ${opts.status} Nope\r\n\r\n`);
        return;
      }
      const upstream = net.connect(Number(target.slice(idx + 1)), target.slice(0, idx));
      upstream.once('data', async (first: Buffer) => {
        const response = Buffer.concat([Buffer.from('HTTP/1.1 200 Connection established\r\nX-Proxy: test\r\n\r\n'), first]);
        for (const byte of response) {
          client.write(Buffer.from([byte]));
          await new Promise((r) => setImmediate(r));
        }
        upstream.pipe(client);
        client.pipe(upstream);
      });
    };
    client.on('data', onData);
  });
  return { server, port: await listen(server) };
}

test('plain TCP connect reaches the server', async () => {
  const { server, port } = await echoServer();
  const s = await connectStream({ host: '127.0.0.1', port });
  assert.equal((await readSome(s, 5)).toString(), 'hello');
  s.destroy();
  server.close();
});

test('connection refused is a ConnectionError', async () => {
  const { server, port } = await echoServer();
  await new Promise((r) => server.close(r));
  await assert.rejects(connectStream({ host: '127.0.0.1', port }), { code: ERR.CONNECT });
});

test('CONNECT request carries Host and proxy credentials', () => {
  const req = connectRequest({ host: 'master.example', port: 9989, username: 'u', password: 'p:w' });
  assert.equal(req, `CONNECT master.example:9989 HTTP/1.1\r\nHost: master.example:9989\r\nProxy-Authorization: Basic ${Buffer.from('u:p:w').toString('base64')}\r\n\r\n`);
  assert.match(connectRequest({ host: '::1', port: 1 }), /^CONNECT \[::1\]:1 HTTP\/1.1\r\nHost: \[::1\]:1\r\n\r\n$/);
});

test('HTTP CONNECT proxy: response split byte by byte, tunnel bytes after the head are kept', async () => {
  const { server, port } = await echoServer();
  const seen: string[] = [];
  const proxy = await splittingProxy({ seen });
  const s = await connectStream({ host: '127.0.0.1', port, proxy: { host: '127.0.0.1', port: proxy.port, username: 'me', password: 'pw' } });
  assert.equal((await readSome(s, 5)).toString(), 'hello');
  s.write('ping');
  assert.equal((await readSome(s, 4)).toString(), 'ping');
  assert.match(seen[0], /Proxy-Authorization: Basic bWU6cHc=/);
  s.destroy();
  proxy.server.close();
  server.close();
});

test('HTTP CONNECT proxy refusal is a ConnectionError naming the status', async () => {
  const proxy = await splittingProxy({ status: 407 });
  await assert.rejects(connectStream({ host: '127.0.0.1', port: 1, proxy: { host: '127.0.0.1', port: proxy.port } }), { code: ERR.PROXY, message: /407/ });
  proxy.server.close();
});

test('TLS verifies the master certificate: refused without the CA, accepted with it', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tls-'));
  const made = selfSigned(dir, 'localhost', 'DNS:localhost,IP:127.0.0.1');
  if (!made) {
    t.skip('openssl is not available to make a test certificate');
    return;
  }
  const { cert, key } = made;
  const server = tls.createServer({ key, cert }, (s) => s.end('secure'));
  server.on('tlsClientError', () => {});
  const port = await listen(server as unknown as net.Server);
  await assert.rejects(connectStream({ host: 'localhost', port, tls: {} }), { code: ERR.TLS });
  const s = await connectStream({ host: 'localhost', port, tls: { ca: cert } });
  assert.equal((await readSome(s, 6)).toString(), 'secure');
  s.destroy();
  server.close();
});

/** A CONNECT proxy that answers at once and then splices (TLS clients speak first). */
async function plainProxy(): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((client) => {
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.off('data', onData);
      const [, target] = /^CONNECT (\S+) /.exec(head)!;
      const idx = target.lastIndexOf(':');
      const upstream = net.connect(Number(target.slice(idx + 1)), target.slice(0, idx).replace(/^\[|\]$/g, ''), () => {
        client.write('HTTP/1.1 200 Connection established\r\n\r\n');
        const rest = Buffer.from(head.slice(end + 4), 'latin1');
        if (rest.length > 0) upstream.write(rest);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      const close = () => (client.destroy(), upstream.destroy());
      upstream.on('error', close);
      client.on('error', close);
    };
    client.on('data', onData);
  });
  return { server, port: await listen(server) };
}

test('TLS checks the certificate against the address given: an IP against IP SANs (no SNI), a name against DNS SANs, directly and through a proxy', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tls-id-'));
  const dnsOnly = selfSigned(dir, 'localhost', 'DNS:localhost');
  const ipOnly = selfSigned(dir, 'ip-only', 'IP:127.0.0.1');
  if (!dnsOnly || !ipOnly) {
    t.skip('openssl is not available to make test certificates');
    return;
  }
  const sni: Array<string | false | null> = [];
  const open = new Set<net.Socket>();
  const serve = async (pair: { key: Buffer; cert: Buffer }) => {
    const server = tls.createServer(pair, (s) => {
      sni.push(s.servername);
      s.end('secure');
    });
    server.on('tlsClientError', () => {});
    // Dropped in `finally`, so that a failed assertion cannot leave the test hanging on a socket.
    server.on('connection', (c: net.Socket) => (open.add(c), c.on('close', () => open.delete(c))));
    return { server, port: await listen(server as unknown as net.Server) };
  };
  const dnsServer = await serve(dnsOnly);
  const ipServer = await serve(ipOnly);
  const proxy = await plainProxy();
  const trust = { ca: [dnsOnly.cert, ipOnly.cert] };
  try {
    for (const via of [undefined, { host: '127.0.0.1', port: proxy.port }]) {
      const where = via ? 'through the proxy' : 'directly';
      // A certificate for DNS:localhost does not vouch for 127.0.0.1.
      await assert.rejects(connectStream({ host: '127.0.0.1', port: dnsServer.port, tls: trust, proxy: via }), { code: ERR.TLS, message: /IP: 127\.0\.0\.1/ }, where);
      // One with IP:127.0.0.1 does, and no SNI is sent for an address.
      sni.length = 0;
      const s = await connectStream({ host: '127.0.0.1', port: ipServer.port, tls: trust, proxy: via });
      assert.equal((await readSome(s, 6)).toString(), 'secure', where);
      s.destroy();
      assert.deepEqual(sni, [false], where);
      // A name: the DNS SAN must match and is the SNI.
      sni.length = 0;
      const n = await connectStream({ host: 'localhost', port: dnsServer.port, tls: trust, proxy: via });
      assert.equal((await readSome(n, 6)).toString(), 'secure', where);
      n.destroy();
      assert.deepEqual(sni, ['localhost'], where);
      await assert.rejects(connectStream({ host: 'localhost', port: ipServer.port, tls: trust, proxy: via }), { code: ERR.TLS }, where);
    }
  } finally {
    for (const c of open) c.destroy();
    dnsServer.server.close();
    ipServer.server.close();
    proxy.server.close();
  }
});
