import net from 'node:net';
import type tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { ConnectionError, ERR } from '../errors.js';
import { httpConnect } from './http-connect.js';

/** Where and how to reach the master. */
export interface TransportOptions {
  host: string;
  port: number;
  /** Wrap the connection in TLS (`--use-tls`, `tls:` connection strings). */
  tls?: { ca?: string | Buffer | Array<string | Buffer>; servername?: string; rejectUnauthorized?: boolean };
  /** Reach the master through an HTTP CONNECT proxy. */
  proxy?: { host: string; port: number; username?: string; password?: string };
  /** Give up on a connect that takes longer (milliseconds). */
  connectTimeoutMs?: number;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

/**
 * Open a byte stream to the master: TCP, optionally through a proxy, optionally TLS.
 * The sessions run their protocol over the returned stream and never import `net`.
 * The stream is returned paused (no byte can be lost before the session listens): attach
 * the 'data' listener, then call `resume()`.
 */
export async function connectStream(opts: TransportOptions, signal?: AbortSignal): Promise<Duplex> {
  const timeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  let stream: Duplex = await tcpConnect(opts.proxy ?? opts, timeoutMs, signal);
  if (opts.proxy) {
    stream = await httpConnect(stream, { host: opts.host, port: opts.port, username: opts.proxy.username, password: opts.proxy.password }, timeoutMs);
  }
  if (opts.tls) stream = await tlsWrap(stream, opts, timeoutMs);
  return stream.pause();
}

function tcpConnect(target: { host: string; port: number }, timeoutMs: number, signal?: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new ConnectionError('connect aborted', ERR.ABORTED));
    const socket = net.connect({ host: target.host, port: target.port });
    const timer = setTimeout(() => fail(new ConnectionError(`connect to ${target.host}:${target.port} timed out`, ERR.CONNECT_TIMEOUT)), timeoutMs);
    const onAbort = () => fail(new ConnectionError('connect aborted', ERR.ABORTED));
    signal?.addEventListener('abort', onAbort, { once: true });
    function cleanup() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', fail);
      socket.off('connect', ok);
    }
    function fail(err: Error) {
      cleanup();
      socket.destroy();
      reject(err instanceof ConnectionError ? err : new ConnectionError(`cannot connect to ${target.host}:${target.port}: ${err.message}`, ERR.CONNECT, { cause: err }));
    }
    function ok() {
      cleanup();
      socket.setNoDelay(true);
      // SO_KEEPALIVE, as the Python worker sets; the sessions' own keepalive deadlines are the real guard.
      socket.setKeepAlive(true);
      resolve(socket);
    }
    socket.once('error', fail);
    socket.once('connect', ok);
  });
}

/**
 * What the certificate is checked against: the master's address as the user gave it,
 * whether the stream is direct or a proxy tunnel. Without `host`, Node checks a wrapped
 * socket's certificate against "localhost" — a `DNS:localhost` certificate passed for
 * 127.0.0.1 and an `IP:127.0.0.1` one failed. An IP address is matched against the
 * certificate's IP SANs and sent as no SNI (RFC 6066 forbids address literals there); a
 * name is both the SNI and what the certificate must name.
 */
export function tlsIdentity(host: string, servername?: string): { host: string; servername?: string } {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (servername !== undefined) return { host: bare, servername };
  return net.isIP(bare) ? { host: bare } : { host: bare, servername: bare };
}

async function tlsWrap(socket: Duplex, opts: TransportOptions, timeoutMs: number): Promise<tls.TLSSocket> {
  // Loaded only for a TLS master: the module costs a plain worker ~7 ms of start-up (bench/README.md).
  const { connect } = await import('node:tls');
  return new Promise((resolve, reject) => {
    const t = opts.tls!;
    const secure = connect({
      socket,
      ...tlsIdentity(opts.host, t.servername),
      ca: t.ca,
      rejectUnauthorized: t.rejectUnauthorized ?? true,
    });
    const timer = setTimeout(() => {
      secure.destroy();
      reject(new ConnectionError('TLS handshake timed out', ERR.TLS));
    }, timeoutMs);
    secure.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(secure);
    });
    secure.once('error', (err) => {
      clearTimeout(timer);
      secure.destroy();
      reject(new ConnectionError(`TLS to ${opts.host}:${opts.port} failed: ${err.message}`, ERR.TLS, { cause: err }));
    });
  });
}
