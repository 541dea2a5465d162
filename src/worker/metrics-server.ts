import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../errors.js';
import { PROMETHEUS_CONTENT_TYPE, type ProcessSample, type WorkerMetrics } from './metrics.js';

/** Requests whose headers have not arrived after this long are dropped (a stuck scraper holds no socket). */
const HEADERS_TIMEOUT_MS = 5_000;

export interface MetricsServerOptions {
  metrics: WorkerMetrics;
  host: string;
  /** 0: any free port (see `port` of the result). */
  port: number;
  /** Process figures at scrape time; the real process by default. */
  sample?: () => ProcessSample;
}

export interface MetricsServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

const processSample = (): ProcessSample => ({ now: Date.now(), rss: process.memoryUsage.rss() });

/**
 * The health/metrics endpoint (node:http, no dependency): `GET /metrics` is the
 * Prometheus text, `GET /healthz` answers 200 `ok` while logged in to the master and 503
 * otherwise. Anything else is 404 (405 for other methods). Resolves once listening;
 * a port that cannot be bound rejects with a ConfigError.
 */
export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  const sample = o.sample ?? processSample;
  const server = http.createServer((req, res) => {
    const reply = (status: number, body: string, type = 'text/plain; charset=utf-8', extra: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const pathname = (req.url ?? '/').split('?')[0];
    if (pathname !== '/metrics' && pathname !== '/healthz') return reply(404, 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'method not allowed\n', undefined, { Allow: 'GET, HEAD' });
    if (pathname === '/healthz') return o.metrics.connected ? reply(200, 'ok\n') : reply(503, 'not connected to the master\n');
    reply(200, o.metrics.render(sample()), PROMETHEUS_CONTENT_TYPE);
  });
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = HEADERS_TIMEOUT_MS;
  // The endpoint never keeps the worker's process alive on its own.
  server.unref();
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new ConfigError(`cannot listen for metrics on ${o.host}:${o.port}: ${err.code ?? err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(o.port, o.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  return {
    host: o.host,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
