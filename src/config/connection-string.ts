import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import type { TransportOptions } from '../transport/connect.js';
import { parseProxyAddress } from './proxy-address.js';

/**
 * Twisted client endpoint strings as used in buildbot.tac `connection_string` and
 * `proxy_connection_string` (`docs/python-worker.md` §4): `tcp:host=H:port=P`, `tcp:H:P`,
 * `tls:H:P[:trustRoots=DIR]`, `TLS:...`; `\:` escapes a colon (IPv6). Only the parameters
 * the worker can honour are accepted; anything else is a ConfigError rather than ignored.
 */
export interface Endpoint {
  kind: 'tcp' | 'tls';
  host: string;
  port: number;
  /** Directory (or file) of PEM CA certificates to trust instead of the system store. */
  trustRoots?: string;
  timeoutSeconds?: number;
}

/** Split on unescaped ':' and unescape `\:` / `\\`. */
function splitEndpoint(text: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && i + 1 < text.length) {
      cur += text[++i];
    } else if (ch === ':') {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

export function parseEndpoint(text: string): Endpoint {
  const [type, ...rest] = splitEndpoint(text);
  const kind = type?.toLowerCase();
  if (kind !== 'tcp' && kind !== 'tls') throw new ConfigError(`unsupported connection string '${text}': only tcp: and tls: endpoints are supported`);
  const positional: string[] = [];
  const named: Record<string, string> = {};
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq > 0 && /^[A-Za-z_]+$/.test(p.slice(0, eq))) named[p.slice(0, eq)] = p.slice(eq + 1);
    else positional.push(p);
  }
  const host = named.host ?? positional[0];
  const portText = named.port ?? positional[1];
  if (!host) throw new ConfigError(`connection string '${text}' has no host`);
  if (!portText || !/^[0-9]+$/.test(portText) || Number(portText) > 65535) throw new ConfigError(`connection string '${text}' has no valid port`);
  const ep: Endpoint = { kind, host, port: Number(portText) };
  for (const [k, v] of Object.entries(named)) {
    if (k === 'host' || k === 'port') continue;
    if (k === 'timeout' && /^[0-9.]+$/.test(v)) ep.timeoutSeconds = Number(v);
    else if (k === 'trustRoots' && kind === 'tls') ep.trustRoots = v;
    else if (k === 'bindAddress') continue;
    else throw new ConfigError(`connection string '${text}': parameter '${k}' is not supported`);
  }
  return ep;
}

/** PEM certificates of a `trustRoots` directory (every file in it) or file. */
function loadTrustRoots(where: string): Buffer[] {
  try {
    const st = fs.statSync(where);
    if (st.isFile()) return [fs.readFileSync(where)];
    return fs
      .readdirSync(where)
      .sort()
      .map((f) => path.join(where, f))
      .filter((f) => fs.statSync(f).isFile())
      .map((f) => fs.readFileSync(f));
  } catch (err) {
    throw new ConfigError(`cannot read trustRoots '${where}': ${(err as Error).message}`, { cause: err });
  }
}

export interface TransportSettings {
  host: string | null;
  port: number | null;
  connectionString: string | null;
  useTls: boolean;
  proxyConnectionString: string | null;
}

/** Where to connect, from the tac settings. */
export function transportOptionsFor(cfg: TransportSettings): TransportOptions {
  let opts: TransportOptions;
  if (cfg.connectionString) {
    const ep = parseEndpoint(cfg.connectionString);
    opts = { host: ep.host, port: ep.port };
    if (ep.kind === 'tls') opts.tls = ep.trustRoots ? { ca: loadTrustRoots(ep.trustRoots) } : {};
    if (ep.timeoutSeconds) opts.connectTimeoutMs = ep.timeoutSeconds * 1000;
  } else {
    if (cfg.host === null || cfg.port === null) throw new ConfigError('no master host and port configured');
    opts = { host: cfg.host, port: cfg.port };
    if (cfg.useTls) opts.tls = {};
  }
  if (cfg.proxyConnectionString) {
    opts.proxy = parseProxyAddress(cfg.proxyConnectionString);
  }
  return opts;
}
