import type { Duplex } from 'node:stream';
import { ConnectionError, ERR } from '../errors.js';

/** The proxy's response head may not exceed this (status line + headers). */
export const MAX_PROXY_RESPONSE_HEAD_BYTES = 16 * 1024;

export interface ProxyTarget {
  host: string;
  port: number;
  username?: string;
  password?: string;
}

/** Bracket IPv6 literals for the request target and Host header. */
function authority(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The CONNECT request for `target`, with a Host header and optional Basic proxy credentials. */
export function connectRequest(target: ProxyTarget): string {
  const where = authority(target.host, target.port);
  let head = `CONNECT ${where} HTTP/1.1\r\nHost: ${where}\r\n`;
  if (target.username !== undefined) {
    const token = Buffer.from(`${target.username}:${target.password ?? ''}`).toString('base64');
    head += `Proxy-Authorization: Basic ${token}\r\n`;
  }
  return head + '\r\n';
}

/**
 * Open an HTTP CONNECT tunnel over an established connection to the proxy. Unlike the
 * Python worker (which reads the status from the first chunk only), the response head may
 * arrive split across any number of reads; bytes after it belong to the tunnel and are
 * pushed back onto the stream.
 */
export function httpConnect(socket: Duplex, target: ProxyTarget, timeoutMs: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new ConnectionError('proxy did not answer the CONNECT request in time', ERR.PROXY)), timeoutMs);
    function cleanup() {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', fail);
      socket.off('end', onEnd);
    }
    function fail(err: Error) {
      cleanup();
      socket.destroy();
      reject(err instanceof ConnectionError ? err : new ConnectionError(`proxy connection failed: ${err.message}`, ERR.PROXY, { cause: err }));
    }
    function onEnd() {
      fail(new ConnectionError('proxy closed the connection during CONNECT', ERR.PROXY));
    }
    function onData(chunk: Buffer) {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_PROXY_RESPONSE_HEAD_BYTES) fail(new ConnectionError('proxy response head too large', ERR.PROXY));
        return;
      }
      const statusLine = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
      if (!match) return fail(new ConnectionError(`malformed proxy response: ${JSON.stringify(statusLine.slice(0, 100))}`, ERR.PROXY));
      if (match[1] !== '200') return fail(new ConnectionError(`proxy refused CONNECT: ${statusLine}`, ERR.PROXY));
      cleanup();
      socket.pause();
      const rest = head.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    }
    socket.on('data', onData);
    socket.once('error', fail);
    socket.once('end', onEnd);
    socket.write(connectRequest(target));
  });
}
