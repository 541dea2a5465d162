import { ConfigError } from '../errors.js';
import { parseEndpoint } from './endpoint.js';

/** An HTTP CONNECT proxy: where it listens and, optionally, Basic credentials. */
export interface ProxyAddress {
  host: string;
  port: number;
  username?: string;
  password?: string;
}

/** Longest proxy setting accepted (it is configuration, not data). */
export const MAX_PROXY_ADDRESS_LENGTH = 4096;

/**
 * `proxy_connection_string` / `--proxy-connection-string` (`docs/python-worker.md` §4). Two forms:
 * the Python worker's Twisted endpoint `tcp:host=H:port=P` (`tcp:H:P`), and — because a
 * Twisted endpoint has no place for credentials — a URL `http://[user[:password]@]host:port`
 * (percent-encoded user and password, like the `http_proxy` variable). The credentials are
 * sent as `Proxy-Authorization: Basic`; the Python worker sends none.
 */
export function parseProxyAddress(text: string): ProxyAddress {
  if (text.length > MAX_PROXY_ADDRESS_LENGTH) throw new ConfigError(`proxy connection string is longer than ${MAX_PROXY_ADDRESS_LENGTH} characters`);
  if (!/^https?:\/\//i.test(text)) {
    const ep = parseEndpoint(text);
    if (ep.kind !== 'tcp') throw new ConfigError('the proxy connection string must be a tcp: endpoint or an http:// URL');
    return { host: ep.host, port: ep.port };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch (err) {
    throw new ConfigError(`proxy URL '${redactProxyPassword(text)}' is not valid`, { cause: err });
  }
  const shown = redactProxyPassword(text);
  // TLS to the proxy itself is not supported: the tunnel is plain HTTP, TLS to the master runs inside it.
  if (url.protocol !== 'http:') throw new ConfigError(`proxy URL '${shown}': only http:// proxies are supported`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) throw new ConfigError(`proxy URL '${shown}' must not have a path, query or fragment`);
  if (!url.port) throw new ConfigError(`proxy URL '${shown}' has no port`);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (!host) throw new ConfigError(`proxy URL '${shown}' has no host`);
  const out: ProxyAddress = { host, port: Number(url.port) };
  try {
    if (url.username || url.password) {
      out.username = decodeURIComponent(url.username);
      out.password = decodeURIComponent(url.password);
    }
  } catch (err) {
    throw new ConfigError(`proxy URL '${shown}': bad percent-encoding in the credentials`, { cause: err });
  }
  if (out.username?.includes(':')) throw new ConfigError(`proxy URL '${shown}': the user name may not contain ':'`);
  return out;
}

/** The proxy setting with its password replaced, for messages. */
export function redactProxyPassword(text: string): string {
  return text.replace(/^(https?:\/\/[^:@/]*:)[^@/]*@/i, '$1***@');
}
