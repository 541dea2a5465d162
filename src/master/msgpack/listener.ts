import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { MAX_MSGPACK_MESSAGE_BYTES } from '../../protocol/msgpack.js';
import type { TimerHandle } from '../../util/clock.js';
import { MsgpackWorkerConnection } from './connection.js';
import { TrackedServer } from '../tracked-server.js';
import { passwordMatches } from '../credentials.js';
import type { ListenerContext } from '../listener-context.js';

/**
 * The msgpack port of the test master: a WebSocket server that authenticates the upgrade
 * request with HTTP Basic credentials like the 3.7 master (`docs/protocol/msgpack.md`
 * §1.1): no header → 401, malformed header → 400, unknown worker or wrong password → 401,
 * each as a bare status line, then the connection is closed.
 */

type Credentials = { ok: true; name: string; password: string } | { ok: false; status: 400 | 401 };

/** Autobahn's ConnectionDeny reply: a bare status line, no headers, no body (capture #1). */
const DENY: Record<400 | 401, string> = {
  400: 'HTTP/1.1 400 Bad request\r\n\r\n',
  401: 'HTTP/1.1 401 Unauthorized\r\n\r\n',
};

/** Parse `Authorization: Basic base64(name:password)` the way the master does. */
export function parseBasicAuth(header: string | undefined): Credentials {
  if (header === undefined) return { ok: false, status: 401 };
  if (header.slice(0, 5) !== 'Basic') return { ok: false, status: 400 };
  // Python's b64decode discards characters outside the alphabet but insists on padding.
  const b64 = header.slice(6).replace(/[^A-Za-z0-9+/=]/g, '');
  if (b64.length % 4 !== 0 || /=[^=]/.test(b64)) return { ok: false, status: 400 };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(b64, 'base64'));
  } catch {
    return { ok: false, status: 400 };
  }
  const colon = text.indexOf(':');
  if (colon < 0) return { ok: false, status: 400 };
  return { ok: true, name: text.slice(0, colon), password: text.slice(colon + 1) };
}

export class MsgpackListener {
  private readonly server: TrackedServer;
  private readonly wss: WebSocketServer;
  private readonly loginTimers = new WeakMap<Socket, TimerHandle>();

  private constructor(
    server: http.Server,
    private readonly ctx: ListenerContext,
  ) {
    this.server = new TrackedServer(server);
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_MSGPACK_MESSAGE_BYTES,
      perMessageDeflate: false,
      // Autobahn negotiates no subprotocol.
      handleProtocols: () => false,
    });
    server.on('connection', (socket: Socket) => this.startLoginDeadline(socket));
    server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    server.on('request', (_req, res) => {
      res.writeHead(426, { Connection: 'close' });
      res.end();
    });
  }

  /** Listen on `host:port` (0 = ephemeral). */
  static async listen(host: string, port: number, ctx: ListenerContext): Promise<MsgpackListener> {
    const listener = new MsgpackListener(http.createServer(), ctx);
    await listener.server.listen(host, port);
    return listener;
  }

  get port(): number {
    return this.server.port;
  }

  /** Stop listening and drop every connection. */
  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    await this.server.close();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  /** The login is the upgrade request: a connection that has not sent one in time is dropped. */
  private startLoginDeadline(socket: Socket): void {
    const ms = this.ctx.loginTimeoutMs;
    if (ms <= 0) return;
    const timer = this.ctx.clock.setTimeout(() => {
      this.ctx.emit({ type: 'violation', worker: null, protocol: 'msgpack', message: `no login within ${ms / 1000} s (connection dropped)` });
      socket.destroy();
    }, ms);
    this.loginTimers.set(socket, timer);
    socket.once('close', () => timer.cancel());
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    this.loginTimers.get(req.socket)?.cancel();
    const creds = parseBasicAuth(req.headers.authorization);
    const good = creds.ok && passwordMatches(this.ctx.password(creds.name), creds.password);
    if (!good) {
      const status = creds.ok ? 401 : creds.status;
      const name = creds.ok ? creds.name : null;
      this.ctx.emit({ type: 'authFailure', worker: name, protocol: 'msgpack', reason: `HTTP ${status}` });
      socket.end(DENY[status]);
      socket.once('end', () => socket.destroy());
      return;
    }
    this.accept(creds.name, req, socket, head);
  }

  private accept(name: string, req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    // Cork so the 101 head and the master's first message leave in one write (capture #3/#4).
    const net = socket as Socket;
    net.cork?.();
    try {
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const conn = new MsgpackWorkerConnection(ws, name, this.ctx);
        // Like the master's onOpen → initialize: the duplicate check runs after the 101.
        const admitted = this.ctx.admit(name);
        if (admitted === true) conn.begin();
        else void Promise.resolve(admitted).then((ok) => (ok ? conn.begin() : conn.refuse('rejecting duplicate worker')));
      });
    } finally {
      process.nextTick(() => net.uncork?.());
    }
  }
}
