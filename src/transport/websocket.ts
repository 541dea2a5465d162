import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { requireCjs } from '../util/require-cjs.js';
import { AuthError, ConnectionError, ERR, ProtocolError } from '../errors.js';
import { MAX_MSGPACK_MESSAGE_BYTES } from '../protocol/msgpack.js';
import { connectStream, DEFAULT_CONNECT_TIMEOUT_MS, type TransportOptions } from './connect.js';

const { WebSocket: WebSocketClient } = requireCjs('ws') as typeof import('ws');

/**
 * The WebSocket client of `msgpack_experimental_v7` (`docs/protocol/msgpack.md` §1):
 * one upgrade request with HTTP Basic credentials, no subprotocol, no extensions, binary
 * frames only. The byte stream underneath comes from `connectStream`, so TLS and the
 * HTTP CONNECT proxy work here exactly as for PB (the URL stays `ws://`: TLS, when
 * configured, is already wrapped around the stream, like Twisted's endpoint does it).
 */

export interface WebSocketConnectOptions {
  transport: TransportOptions;
  /** Resource path of the upgrade request (default "/"). */
  path?: string;
  username: string;
  password: string;
  /** Largest message accepted from the master (default MAX_MSGPACK_MESSAGE_BYTES). */
  maxPayloadBytes?: number;
}

/** A server that never finishes the upgrade must not hold the worker forever. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = DEFAULT_CONNECT_TIMEOUT_MS;

/** `Authorization` header value (§1.1). The master splits on the first colon, so the name may not hold one. */
export function basicAuthorization(username: string, password: string): string {
  if (username.includes(':')) {
    throw new AuthError(`worker name ${JSON.stringify(username)} contains ':', which HTTP Basic authentication cannot carry`);
  }
  return 'Basic ' + Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
}

/** The `ws://` URL for the Host header and request line; IPv6 literals are bracketed. */
export function websocketUrl(host: string, port: number, path = '/'): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const p = path.startsWith('/') ? path : `/${path}`;
  return `ws://${h}:${port}${p}`;
}

/** Map a refused upgrade to the error the reconnect loop needs (§1.1: 401 = bad credentials). */
export function refusalError(status: number | undefined, username: string): Error {
  if (status === 401) {
    return new AuthError(`the master refused worker ${JSON.stringify(username)} (HTTP 401): unknown worker name or wrong password`);
  }
  if (status === 400) {
    return new ProtocolError('the master rejected the Authorization header (HTTP 400)', ERR.HTTP_STATUS);
  }
  return new ConnectionError(`the master answered the WebSocket upgrade with HTTP ${status ?? '?'}`, ERR.HTTP_STATUS);
}

/**
 * Connect and complete the WebSocket upgrade. Resolves with an open, **paused** WebSocket:
 * attach the listeners, then call `resume()`, so that the master's first message (sent at
 * once, §1.1) is not lost. Rejects with AuthError on 401, ConnectionError/ProtocolError
 * otherwise.
 */
export async function connectWebSocket(opts: WebSocketConnectOptions, signal?: AbortSignal): Promise<WebSocket> {
  const authorization = basicAuthorization(opts.username, opts.password);
  const stream = await connectStream(opts.transport, signal);
  return upgrade(stream, opts, authorization, signal);
}

function upgrade(stream: Duplex, opts: WebSocketConnectOptions, authorization: string, signal?: AbortSignal): Promise<WebSocket> {
  const url = websocketUrl(opts.transport.host, opts.transport.port, opts.path);
  return new Promise<WebSocket>((resolve, reject) => {
    let settled = false;
    const ws = new WebSocketClient(url, {
      createConnection: () => stream as never,
      headers: { Authorization: authorization },
      perMessageDeflate: false,
      followRedirects: false,
      maxPayload: opts.maxPayloadBytes ?? MAX_MSGPACK_MESSAGE_BYTES,
    });
    // The proxy tunnel hands its stream over paused; the HTTP client attaches its reader
    // on the next tick, so let the bytes flow after that.
    setImmediate(() => stream.resume());

    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      cleanup();
      ws.on('error', () => undefined);
      ws.terminate();
      stream.destroy();
      reject(err);
    };
    const onAbort = (): void => fail(new ConnectionError('connect aborted', ERR.ABORTED));
    const timeoutMs = opts.transport.connectTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    // Our own deadline: the HTTP client's request timeout does not cover a stream it did not open.
    const timer = setTimeout(() => fail(new ConnectionError(`the master did not complete the WebSocket upgrade within ${timeoutMs} ms`, ERR.WEBSOCKET_TIMEOUT)), timeoutMs);
    const onOpen = (): void => {
      if (settled) return;
      settled = true;
      cleanup();
      // The master's first message may sit right behind the 101 (§1.1) and would be
      // emitted before the caller's continuation runs: hold it until the caller resumes.
      ws.pause();
      resolve(ws);
    };
    const onError = (err: Error): void => {
      fail(new ConnectionError(`WebSocket upgrade to ${url} failed: ${err.message}`, ERR.WEBSOCKET, { cause: err }));
    };
    const onClose = (): void => fail(new ConnectionError(`the master closed the connection during the WebSocket upgrade`, ERR.WEBSOCKET));
    const onUnexpected = (_req: unknown, res: IncomingMessage): void => {
      res.resume();
      fail(refusalError(res.statusCode, opts.username));
    };
    function cleanup(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      ws.off('open', onOpen);
      ws.off('error', onError);
      ws.off('close', onClose);
      ws.off('unexpected-response', onUnexpected);
    }
    ws.once('open', onOpen);
    ws.on('error', onError);
    ws.once('close', onClose);
    ws.once('unexpected-response', onUnexpected);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}
