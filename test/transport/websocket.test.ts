import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { after, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { AuthError, ConnectionError, ERR, ProtocolError } from '../../src/errors.js';
import { basicAuthorization, connectWebSocket, websocketUrl } from '../../src/transport/websocket.js';
import { capturedConnection } from '../session/msgpack/capture.js';

const closers: Array<() => void> = [];
after(() => {
  for (const c of closers) c();
});

/** A raw TCP server: `onHead` gets the request head and the socket, and writes whatever it likes. */
async function rawServer(onHead: (head: string, socket: net.Socket) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    let buf = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0 && buf.length > 0) {
        const head = buf.subarray(0, end + 4).toString('latin1');
        buf = Buffer.alloc(0);
        onHead(head, socket);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closers.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as net.AddressInfo).port;
}

/** `p`, or a rejection after `ms` (a lost message must fail the test, not hang it). */
function within<T>(p: Promise<T>, ms = 2000): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`nothing within ${ms} ms`)), ms).unref())]);
}

function header(head: string, name: string): string | undefined {
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}

function acceptFor(head: string): string {
  return createHash('sha1')
    .update(header(head, 'Sec-WebSocket-Key') + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
    .digest('base64');
}

test('the Authorization header is the one of the captured handshakes', () => {
  const good = capturedConnection(2).heads.w2m;
  assert.equal(basicAuthorization('mpworker', 'mp-secret'), header(good, 'Authorization'));
  const refused = capturedConnection(1).heads.w2m;
  assert.equal(basicAuthorization('mpworker', 'wrong-password'), header(refused, 'Authorization'));
  assert.throws(() => basicAuthorization('a:b', 'x'), AuthError);
  assert.equal(websocketUrl('::1', 80), 'ws://[::1]:80/');
  assert.equal(websocketUrl('master', 9989, 'ws'), 'ws://master:9989/ws');
});

test('upgrade request: GET path, Basic credentials, no extensions, no subprotocol; a message sent with the 101 is kept', async () => {
  let seenHead = '';
  const port = await rawServer((head, socket) => {
    seenHead = head;
    // 101 and the first binary frame in one write, like Autobahn (capture #3/#4).
    const frame = Buffer.from('822783a26f70a57072696e74a76d657373616765a86174746163686564aa7365715f6e756d62657200', 'hex');
    socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(head)}\r\n\r\n`, 'latin1'), frame]));
  });
  const ws = await connectWebSocket({ transport: { host: '127.0.0.1', port }, path: '/custom', username: 'mpworker', password: 'mp-secret' });
  // Listeners attached only now, after the caller's continuation: the first message must still arrive.
  await new Promise((r) => setTimeout(r, 20));
  const first = new Promise<Buffer>((resolve) => ws.once('message', (d: Buffer) => resolve(d)));
  ws.resume();
  assert.equal((await within(first)).toString('hex'), '83a26f70a57072696e74a76d657373616765a86174746163686564aa7365715f6e756d62657200');
  assert.match(seenHead, /^GET \/custom HTTP\/1\.1\r\n/);
  assert.equal(header(seenHead, 'Authorization'), 'Basic bXB3b3JrZXI6bXAtc2VjcmV0');
  assert.equal(header(seenHead, 'Sec-WebSocket-Extensions'), undefined, 'permessage-deflate is off');
  assert.equal(header(seenHead, 'Sec-WebSocket-Protocol'), undefined);
  assert.equal(header(seenHead, 'Host'), `127.0.0.1:${port}`);
  ws.terminate();
});

test('refusals: the captured bare 401 is an AuthError, 400 a ProtocolError, anything else a ConnectionError', async () => {
  const refusal = capturedConnection(1).heads.m2w;
  assert.equal(refusal, 'HTTP/1.1 401 Unauthorized\r\n\r\n');
  const statuses: Record<string, string> = { a: refusal, b: 'HTTP/1.1 400 Bad request\r\n\r\n', c: 'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n' };
  const port = await rawServer((head, socket) => {
    const user = Buffer.from(header(head, 'Authorization')!.slice(6), 'base64').toString().split(':')[0];
    socket.end(statuses[user]);
  });
  const connect = (username: string) => connectWebSocket({ transport: { host: '127.0.0.1', port }, username, password: 'pw' });
  await assert.rejects(connect('a'), (err: unknown) => err instanceof AuthError && /HTTP 401/.test(err.message) && /unknown worker name or wrong password/.test(err.message));
  await assert.rejects(connect('b'), (err: unknown) => err instanceof ProtocolError && err.code === ERR.HTTP_STATUS);
  await assert.rejects(connect('c'), (err: unknown) => err instanceof ConnectionError && err.code === ERR.HTTP_STATUS && /503/.test(err.message));
});

test('a server that closes during the upgrade, or never answers, is a ConnectionError', async () => {
  const closing = await rawServer((_head, socket) => socket.destroy());
  await assert.rejects(connectWebSocket({ transport: { host: '127.0.0.1', port: closing }, username: 'w', password: 'p' }), ConnectionError);
  const silent = await rawServer(() => undefined);
  await assert.rejects(connectWebSocket({ transport: { host: '127.0.0.1', port: silent, connectTimeoutMs: 200 }, username: 'w', password: 'p' }), ConnectionError);
  const ac = new AbortController();
  const pending = connectWebSocket({ transport: { host: '127.0.0.1', port: silent }, username: 'w', password: 'p' }, ac.signal);
  setTimeout(() => ac.abort(), 20);
  await assert.rejects(pending, (err: unknown) => err instanceof ConnectionError && err.code === ERR.ABORTED);
});

test('through an HTTP CONNECT proxy', async () => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  closers.push(() => {
    for (const c of wss.clients) c.terminate();
    wss.close();
  });
  const target = (wss.address() as net.AddressInfo).port;
  wss.on('connection', (ws, req) => {
    ws.send(Buffer.from(String(req.headers.authorization)));
  });
  let connectLine = '';
  const proxyPort = await rawServer((head, socket) => {
    connectLine = head.split('\r\n')[0];
    const upstream = net.connect(target, '127.0.0.1', () => {
      socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
      socket.removeAllListeners('data');
      socket.pipe(upstream).pipe(socket);
    });
    upstream.on('error', () => socket.destroy());
    closers.push(() => upstream.destroy());
  });
  const ws = await connectWebSocket({
    transport: { host: '127.0.0.1', port: target, proxy: { host: '127.0.0.1', port: proxyPort } },
    username: 'w',
    password: 'p',
  });
  const first = new Promise<Buffer>((resolve) => ws.once('message', (d: Buffer) => resolve(d)));
  ws.resume();
  assert.equal((await within(first)).toString(), basicAuthorization('w', 'p'));
  assert.equal(connectLine, `CONNECT 127.0.0.1:${target} HTTP/1.1`);
  ws.terminate();
});
