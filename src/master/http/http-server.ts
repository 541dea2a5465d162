import http, { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { ConfigError } from '../../errors.js';
import type { TestMaster } from '../test-master.js';
import { checkToken, cookieName, generateToken, isAuthorized, tokenCookie, tokenMatches } from './access-token.js';
import { API_PREFIX, registerApi } from './api-handlers.js';
import { EventBus } from './event-bus.js';
import { badRequest, HttpError } from './http-error.js';
import { JobQueue } from './job-queue.js';
import { CONTROL, dispatchJsonRpc, isJsonRpc, parseControlBody } from './json-rpc.js';
import { LogStreams } from './log-stream.js';
import { checkJsonType, parseBody, readBody } from './request-body.js';
import { Router, type Reply } from './router.js';
import { SseEndpoint } from './sse-endpoint.js';
import { isLoopbackAddress, RequestOrigin } from './request-origin.js';
import { registerSelfServe, SELF_SERVE_PREFIX } from './self-serve.js';
import { readStatic } from './static-files.js';
import { WsEndpoint } from './ws-endpoint.js';

/**
 * The test master's web surface: REST under /api/v1, live events on /ws and /sse, and the
 * status page at /. Plain node:http; `ws` for the WebSocket upgrade.
 *
 * The API runs commands on workers, so every request is checked before it is routed: the
 * Host must be one of this server's names (421 otherwise: DNS rebinding), API, /ws and /sse
 * requests must come from no page or a page of this server (403) and carry the access token
 * (401), and bodies must be JSON (415). See README, "the embedded test master".
 */

export interface MasterHttpOptions {
  master: TestMaster;
  /** The configured worker names. */
  workers: readonly string[];
  /** Default 127.0.0.1 (the API runs commands on workers: loopback unless asked otherwise). */
  host?: string;
  /** 0 = any free port. */
  port: number;
  /** Where downloadFile steps' `mastersrc` files are read from; without it `mastersrc` is refused. */
  transferDir?: string;
  /** Builder used when a job request names none. Default `builder`. */
  defaultBuilder?: string;
  maxQueuedPerWorker?: number;
  /** Finished jobs kept (oldest evicted first). Default DEFAULT_MAX_FINISHED_JOBS. */
  maxFinishedJobs?: number;
  /** Bytes of log text of finished jobs kept (oldest evicted first). Default DEFAULT_MAX_FINISHED_LOG_BYTES. */
  maxFinishedLogBytes?: number;
  /**
   * The access token. Default: a random one on a loopback host; a non-loopback host
   * without a token is refused (ConfigError), as anyone on the network could then guess-free
   * reach an API that runs commands.
   */
  token?: string;
  /** More names the server is reached under in `Host` (any port): e.g. a reverse proxy's name. */
  allowHosts?: readonly string[];
  /**
   * The public address of the page behind a reverse proxy, e.g. `https://ci.example.org/buildbot/`:
   * its host is allowed in `Host` and `Origin`, and its path prefix is accepted (and stripped)
   * on every request, whether or not the proxy strips it. The page uses relative URLs.
   */
  baseUrl?: string;
  log?: (line: string) => void;
}

export interface MasterHttpServer {
  readonly port: number;
  /** Base URL, no trailing slash. */
  readonly url: string;
  /** The access token every API, /ws and /sse request must carry. */
  readonly token: string;
  /** The page's cookie holding the token. */
  readonly cookieName: string;
  /** The address that opens the page with the token (sets the cookie). Contains the token: print, never log. */
  readonly pageUrl: string;
  readonly jobs: JobQueue;
  readonly bus: EventBus;
  close(): Promise<void>;
}

/** Methods a POST may stand in for through a `_method` field (HTML forms only send GET/POST). */
const OVERRIDABLE = new Set(['PUT', 'DELETE']);

export async function startMasterHttp(o: MasterHttpOptions): Promise<MasterHttpServer> {
  const host = o.host ?? '127.0.0.1';
  if (o.token === undefined && !isLoopbackAddress(host)) {
    throw new ConfigError(`the HTTP API on ${host} would be reachable from other machines: give it an access token (--token or the environment), or listen on 127.0.0.1`);
  }
  const token = o.token === undefined ? generateToken() : checkToken(o.token);
  const base = o.baseUrl === undefined ? undefined : parseBaseUrl(o.baseUrl);
  const bus = new EventBus();
  const jobs = new JobQueue({
    master: o.master,
    bus,
    workers: o.workers,
    maxQueuedPerWorker: o.maxQueuedPerWorker,
    maxFinishedJobs: o.maxFinishedJobs,
    maxFinishedLogBytes: o.maxFinishedLogBytes,
    transferDir: o.transferDir,
    log: o.log,
  });
  const router = new Router();
  const logStreams = new LogStreams(bus);
  registerApi(router, jobs, o.defaultBuilder ?? 'builder', logStreams);
  registerSelfServe(router, jobs);
  const sse = new SseEndpoint(bus);
  sse.register(router);
  const ws = new WsEndpoint(bus);

  // Known once the server listens (port 0 = any); no request arrives before.
  let guard!: Guard;
  const server = http.createServer((req, res) => {
    handle(router, guard, req, res).catch((err: unknown) => {
      // The path only: a query may hold the token.
      o.log?.(`http: ${req.method} ${pathOf(req)}: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) send(res, { status: 500, json: { error: 'internal error', status: 500 } });
      else res.destroy();
    });
  });
  server.on('upgrade', (req, socket, head) => {
    if (guard.localPath(pathOf(req)) !== '/ws') return void socket.destroy();
    const refusal = guard.refusal(req, true);
    if (refusal) return refuseUpgrade(socket, refusal);
    ws.handleUpgrade(req, socket, head);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  guard = new Guard(new RequestOrigin(port, host, [...(o.allowHosts ?? []), ...(base ? [base.hostname] : [])], base ? [base.origin] : []), port, token, base?.pathname ?? '/');
  // A wildcard address is reached through loopback from this machine.
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const url = `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
  return {
    port,
    url,
    token,
    cookieName: cookieName(port),
    pageUrl: `${base ? base.href : `${url}/`}?token=${encodeURIComponent(token)}`,
    jobs,
    bus,
    async close() {
      jobs.close();
      sse.close();
      logStreams.close();
      ws.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const pathOf = (req: IncomingMessage): string => new URL(req.url ?? '/', 'http://x').pathname;

/** Check a --base-url: an absolute http(s) URL; its path gets a trailing slash. */
function parseBaseUrl(raw: string): URL {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`the base URL must be an absolute http or https URL, got ${JSON.stringify(raw.slice(0, 100))}`);
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.search || u.hash || u.username) {
    throw new ConfigError(`the base URL must be a plain http or https URL (no query, fragment or credentials), got ${JSON.stringify(raw.slice(0, 100))}`);
  }
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  return u;
}

/** A refused request: status and reason. */
interface Refusal {
  status: 401 | 403 | 421;
  reason: string;
}

/** The checks every request passes before routing (see the module comment). */
class Guard {
  constructor(
    readonly origin: RequestOrigin,
    readonly port: number,
    readonly token: string,
    /** The base URL's path, ending in `/`. */
    readonly basePath: string,
  ) {}

  /** The path without the base URL's prefix (requests may come with or without it). */
  localPath(pathname: string): string {
    if (this.basePath === '/') return pathname;
    if (pathname === this.basePath.slice(0, -1)) return '/';
    return pathname.startsWith(this.basePath) ? pathname.slice(this.basePath.length - 1) : pathname;
  }

  /** Why the request is refused, or undefined. `api`: the API, /ws or /sse (not the page's static files). */
  refusal(req: IncomingMessage, api: boolean): Refusal | undefined {
    if (!this.origin.hostAllowed(req)) return { status: 421, reason: 'this server does not answer to that Host name' };
    if (!api) return undefined;
    if (!this.origin.sameOrigin(req)) return { status: 403, reason: 'requests from another origin are refused' };
    if (!isAuthorized(req, this.port, this.token)) {
      return { status: 401, reason: 'missing or wrong access token: send Authorization: Bearer TOKEN, or open the page at the address printed at start-up' };
    }
    return undefined;
  }
}

function refuseUpgrade(socket: Duplex, r: Refusal): void {
  const body = JSON.stringify({ error: r.reason, status: r.status });
  socket.end(`HTTP/1.1 ${r.status} ${STATUS_CODES[r.status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` + `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

const isApiPath = (p: string): boolean =>
  p === '/api' || p.startsWith('/api/') || p === '/sse' || p.startsWith('/sse/') || p === '/ws' || p === SELF_SERVE_PREFIX || p.startsWith(`${SELF_SERVE_PREFIX}/`);

/**
 * A job request (a change to the queue): its refusals answer as BuildAPI's do,
 * `{status: "FAILED", msg}`, with the code in `code` (and `error` as on every other error).
 */
const isJobRequest = (method: string, p: string): boolean =>
  method !== 'GET' && (p === `${API_PREFIX}/jobs` || p.startsWith(`${API_PREFIX}/jobs/`) || p === SELF_SERVE_PREFIX || p.startsWith(`${SELF_SERVE_PREFIX}/`));

async function handle(router: Router, guard: Guard, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  url.pathname = guard.localPath(url.pathname);
  let method = req.method ?? 'GET';
  let reply: Reply;
  try {
    const api = isApiPath(url.pathname);
    const refusal = guard.refusal(req, api);
    if (refusal) {
      throw new HttpError(refusal.status, refusal.reason, undefined, refusal.status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {});
    }
    if (!api && method === 'GET' && url.searchParams.has('token')) {
      send(res, pageLogin(guard, url));
      return;
    }
    if (url.searchParams.has('_method')) throw badRequest('_method is accepted only in a JSON body, not in the query string');
    let body: Record<string, unknown> = {};
    if (method === 'POST' && isControlResource(router, url.pathname)) {
      // A POST here is a control call (or a `_method` form override): its body errors are JSON-RPC's.
      const raw = await readBody(req);
      const parsed = parseControlBody(checkJsonType(req.headers['content-type'], raw));
      if ('reply' in parsed) return send(res, parsed.reply);
      body = parsed.body;
      if (!hasOverride(body)) {
        send(res, await dispatchJsonRpc(router, url.pathname, { req, res, params: {}, query: url.searchParams, body }));
        return;
      }
    } else if (method === 'POST' || method === 'PUT' || method === 'DELETE') {
      body = parseBody(method, req.headers['content-type'], await readBody(req));
    }
    if (method === 'POST' && isJsonRpc(body)) {
      send(res, await dispatchJsonRpc(router, url.pathname, { req, res, params: {}, query: url.searchParams, body }));
      return;
    }
    if (method === 'POST') {
      const override = body._method;
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
      // A resource with control actions takes them as POST (JSON-RPC).
      const allowed = [...new Set(match.allowed.map((m) => (m === CONTROL ? 'POST' : m)))];
      reply = { status: 405, json: { error: `method ${method} not allowed here`, status: 405 }, headers: { Allow: allowed.join(', ') } };
    } else if (method === 'GET' && !isApiPath(url.pathname)) {
      const file = await readStatic(url.pathname);
      reply = file ? { status: 200, text: file.body, contentType: file.type } : notFoundReply(url.pathname);
    } else {
      reply = notFoundReply(url.pathname);
    }
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    const json = isJobRequest(method, url.pathname) ? { status: 'FAILED', msg: err.message, error: err.message, code: err.status } : { error: err.message, status: err.status };
    reply = { status: err.status, json, headers: { ...err.headers } };
    if (err.retryAfter !== undefined) {
      reply.headers!['Retry-After'] = String(err.retryAfter);
      (reply.json as Record<string, unknown>).retry_after = err.retryAfter;
    }
  }
  if (reply) send(res, reply);
}

/** A resource that takes control calls and no plain POST: every POST to it is JSON-RPC. */
const isControlResource = (router: Router, p: string): boolean => router.match(CONTROL, p).kind === 'found' && router.match('POST', p).kind !== 'found';

const hasOverride = (body: Record<string, unknown>): boolean => body._method !== undefined && body._method !== null && !isJsonRpc(body);

/**
 * `GET /<page>?token=TOKEN`: the page's way in. The right token sets the cookie and
 * redirects to the same address without it (out of the address bar and history).
 */
function pageLogin(guard: Guard, url: URL): NonNullable<Reply> {
  const given = url.searchParams.get('token') ?? '';
  if (!tokenMatches(given, guard.token)) {
    return { status: 401, text: 'Wrong access token: open the address the test master printed at start-up.\n', headers: { 'WWW-Authenticate': 'Bearer' } };
  }
  url.searchParams.delete('token');
  // Relative, so it stays under whatever prefix a proxy put in front.
  const location = `./${url.pathname.split('/').pop() ?? ''}${url.searchParams.size ? `?${url.searchParams.toString()}` : ''}`;
  return { status: 303, text: '', headers: { Location: location, 'Set-Cookie': tokenCookie(guard.port, guard.token) } };
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
