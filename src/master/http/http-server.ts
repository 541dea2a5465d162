import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestMaster } from '../test-master.js';
import { registerApi } from './api-handlers.js';
import { EventBus } from './event-bus.js';
import { HttpError } from './http-error.js';
import { JobQueue } from './job-queue.js';
import { parseBody, readBody } from './request-body.js';
import { Router, type Reply } from './router.js';
import { SseEndpoint } from './sse-endpoint.js';
import { readStatic } from './static-files.js';
import { WsEndpoint } from './ws-endpoint.js';

/**
 * The test master's web surface: REST under /api/v1, live events on /ws and /sse, and the
 * status page at /. Plain node:http; `ws` for the WebSocket upgrade.
 */

export interface MasterHttpOptions {
  master: TestMaster;
  /** The configured worker names. */
  workers: readonly string[];
  /** Default 127.0.0.1 (the API runs commands on workers: loopback unless asked otherwise). */
  host?: string;
  /** 0 = any free port. */
  port: number;
  /** Builder used when a job request names none. Default `builder`. */
  defaultBuilder?: string;
  maxQueuedPerWorker?: number;
  log?: (line: string) => void;
}

export interface MasterHttpServer {
  readonly port: number;
  readonly url: string;
  readonly jobs: JobQueue;
  readonly bus: EventBus;
  close(): Promise<void>;
}

/** Methods a POST may stand in for through a `_method` field (HTML forms only send GET/POST). */
const OVERRIDABLE = new Set(['PUT', 'DELETE']);

export async function startMasterHttp(o: MasterHttpOptions): Promise<MasterHttpServer> {
  const bus = new EventBus();
  const jobs = new JobQueue({ master: o.master, bus, workers: o.workers, maxQueuedPerWorker: o.maxQueuedPerWorker, log: o.log });
  const router = new Router();
  registerApi(router, jobs, o.defaultBuilder ?? 'builder');
  const sse = new SseEndpoint(bus);
  sse.register(router);
  const ws = new WsEndpoint(bus);

  const server = http.createServer((req, res) => {
    handle(router, req, res).catch((err: unknown) => {
      o.log?.(`http: ${req.method} ${req.url}: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) send(res, { status: 500, json: { error: 'internal error', status: 500 } });
      else res.destroy();
    });
  });
  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://x').pathname === '/ws') ws.handleUpgrade(req, socket, head);
    else socket.destroy();
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    jobs,
    bus,
    async close() {
      jobs.close();
      sse.close();
      ws.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function handle(router: Router, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  let method = req.method ?? 'GET';
  let reply: Reply;
  try {
    let body: Record<string, unknown> = {};
    if (method === 'POST' || method === 'PUT' || method === 'DELETE') {
      body = parseBody(req.headers['content-type'], await readBody(req));
    }
    if (method === 'POST') {
      const override = body._method ?? url.searchParams.get('_method');
      if (override !== undefined && override !== null) {
        const m = String(override).toUpperCase();
        if (!OVERRIDABLE.has(m)) throw new HttpError(400, `_method must be PUT or DELETE, got ${String(override).slice(0, 20)}`);
        method = m;
      }
    }
    const match = router.match(method, url.pathname);
    if (match.kind === 'found') {
      reply = await match.handler({ req, res, params: match.params, query: url.searchParams, body });
    } else if (match.kind === 'method') {
      reply = { status: 405, json: { error: `method ${method} not allowed here`, status: 405 }, headers: { Allow: match.allowed.join(', ') } };
    } else if (method === 'GET' && !url.pathname.startsWith('/api/') && !url.pathname.startsWith('/sse/')) {
      const file = await readStatic(url.pathname);
      reply = file ? { status: 200, text: file.body, contentType: file.type } : notFoundReply(url.pathname);
    } else {
      reply = notFoundReply(url.pathname);
    }
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    reply = { status: err.status, json: { error: err.message, status: err.status } };
    if (err.retryAfter !== undefined) {
      reply.headers = { 'Retry-After': String(err.retryAfter) };
      (reply.json as Record<string, unknown>).retry_after = err.retryAfter;
    }
  }
  if (reply) send(res, reply);
}

function notFoundReply(pathname: string): Reply {
  return { status: 404, json: { error: `no such resource: ${pathname.slice(0, 200)}`, status: 404 } };
}

function send(res: ServerResponse, reply: NonNullable<Reply>): void {
  const headers: Record<string, string> = { ...(reply.headers ?? {}), 'Cache-Control': 'no-store' };
  let payload: string | Buffer;
  if (reply.json !== undefined) {
    payload = JSON.stringify(reply.json, null, 1) + '\n';
    headers['Content-Type'] = 'application/json; charset=utf-8';
  } else {
    payload = reply.text ?? '';
    headers['Content-Type'] = reply.contentType ?? 'text/plain; charset=utf-8';
  }
  headers['Content-Length'] = String(Buffer.byteLength(payload));
  res.writeHead(reply.status, headers);
  res.end(payload);
}
