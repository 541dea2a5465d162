import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import type { TransportOptions } from '../transport/connect.js';
import { parseEndpoint, type Endpoint } from './endpoint.js';
import { parseProxyAddress } from './proxy-address.js';

export { parseEndpoint, type Endpoint };

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
