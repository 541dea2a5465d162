import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import os from 'node:os';

/**
 * Where a request comes from, as far as a browser tells: the `Host` it was sent to (a DNS
 * rebinding page reaches this server under a foreign name) and the `Origin` /
 * `Sec-Fetch-Site` of the page that sent it (a foreign page sends its own). Requests that
 * no browser made (curl, scripts) carry no Origin and pass on the token alone.
 */

/** Names of the loopback interface, accepted in `Host` (with the server's port). */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/** Whether a listen address only accepts connections from this machine. */
export function isLoopbackAddress(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

const isWildcard = (host: string): boolean => ['0.0.0.0', '::', '[::]', ''].includes(host);

/** `[v6]` for IPv6 literals, lower case, no trailing dot: the form a Host header uses. */
function hostForm(name: string): string {
  const bare = name
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
  return isIP(bare) === 6 ? `[${bare}]` : bare;
}

/** Split a Host header into name and port (undefined when absent); undefined for a malformed one. */
function parseHostHeader(value: string): { name: string; port: number | undefined } | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(value.trim());
  if (!m) return undefined;
  return { name: hostForm(m[1]!), port: m[2] === undefined ? undefined : Number(m[2]) };
}

export class RequestOrigin {
  /** Names accepted with this server's port (or none, on port 80). */
  private readonly ownNames = new Set<string>();
  /** Names accepted with any port: the server is reached through a proxy under them. */
  private readonly proxyNames = new Set<string>();

  /**
   * @param port the port the server listens on
   * @param listenHost the configured listen address; a wildcard adds this machine's name and addresses
   * @param extraHosts further names the server is reached under (`--http-allow-host`, e.g. behind a proxy)
   * @param extraOrigins origins of pages served through a proxy (`--base-url`): the proxy may pass its own Host
   */
  constructor(
    private readonly port: number,
    listenHost: string,
    extraHosts: readonly string[] = [],
    private readonly extraOrigins: readonly string[] = [],
  ) {
    for (const n of LOOPBACK_NAMES) this.ownNames.add(n);
    if (isWildcard(listenHost)) {
      this.ownNames.add(hostForm(os.hostname()));
      for (const addrs of Object.values(os.networkInterfaces())) for (const a of addrs ?? []) this.ownNames.add(hostForm(a.address));
    } else {
      this.ownNames.add(hostForm(listenHost));
    }
    for (const h of extraHosts) this.proxyNames.add(hostForm(h));
  }

  /** Whether the request was addressed to this server under one of its names. */
  hostAllowed(req: IncomingMessage): boolean {
    const parsed = parseHostHeader(req.headers.host ?? '');
    if (!parsed) return false;
    if (this.proxyNames.has(parsed.name)) return true;
    const port = parsed.port ?? 80;
    return port === this.port && this.ownNames.has(parsed.name);
  }

  /**
   * Whether the request comes from a page of this server or from no page at all: no Origin,
   * or an Origin naming the same host as the (already allowed) Host header; and no
   * `Sec-Fetch-Site` saying another site or another origin of this site sent it.
   */
  sameOrigin(req: IncomingMessage): boolean {
    const site = req.headers['sec-fetch-site'];
    if (site === 'cross-site' || site === 'same-site') return false;
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false; // includes `null`: sandboxed frames, file: pages, redirects across origins
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
    if (this.extraOrigins.includes(url.origin)) return true;
    const host = parseHostHeader(req.headers.host ?? '');
    const from = parseHostHeader(url.host);
    if (!host || !from) return false;
    const defaultPort = url.protocol === 'https:' ? 443 : 80;
    return host.name === from.name && (host.port ?? defaultPort) === (from.port ?? defaultPort);
  }
}
