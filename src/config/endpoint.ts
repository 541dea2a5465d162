import { ConfigError } from '../errors.js';

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
