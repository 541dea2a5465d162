import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLocalWorker, type LocalProtocol, type LocalWorker } from '../../../src/cli/local-worker.js';
import { startMasterHttp, type MasterHttpServer } from '../../../src/master/http/http-server.js';
import { startTestMaster, type TestMaster } from '../../../src/master/test-master.js';
import { eventually } from '../../helpers/eventually.js';

/** A test master with its HTTP API on ephemeral ports, and optionally a real worker process attached. */
export interface HttpFixture {
  master: TestMaster;
  web: MasterHttpServer;
  worker?: LocalWorker;
  /** Name of the attached worker (`w-<protocol>`). */
  name: string;
  close(): Promise<void>;
}

export const PASSWORD = 'pass-word';

export interface FixtureOptions {
  protocol?: LocalProtocol;
  maxQueuedPerWorker?: number;
  maxFinishedJobs?: number;
  maxFinishedLogBytes?: number;
  extraWorkers?: string[];
  baseUrl?: string;
  transferDir?: string;
  /** The master's builders (default: one, `builder`). */
  builders?: string[];
}

export async function startFixture(opts: FixtureOptions = {}): Promise<HttpFixture> {
  const name = `w-${opts.protocol ?? 'none'}`;
  const workers: Record<string, string> = { [name]: PASSWORD };
  for (const w of opts.extraWorkers ?? []) workers[w] = PASSWORD;
  const master = await startTestMaster({ workers, ...(opts.builders ? { builders: opts.builders.map((b) => ({ name: b, builddir: b })) } : {}) });
  const web = await startMasterHttp({
    master,
    workers: Object.keys(workers),
    port: 0,
    maxQueuedPerWorker: opts.maxQueuedPerWorker,
    maxFinishedJobs: opts.maxFinishedJobs,
    maxFinishedLogBytes: opts.maxFinishedLogBytes,
    baseUrl: opts.baseUrl,
    transferDir: opts.transferDir,
  });
  let worker: LocalWorker | undefined;
  let tmp: string | undefined;
  try {
    if (opts.protocol) {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'http-api-'));
      const port = opts.protocol === 'pb' ? master.pbPort : master.msgpackPort;
      worker = await startLocalWorker({ basedir: path.join(tmp, 'worker'), protocol: opts.protocol, port, name, password: PASSWORD });
      await master.waitForWorker(name, { timeoutMs: 30_000 }).catch((err: unknown) => {
        throw new Error(`worker did not attach: ${String(err)}\n${worker?.output()}`);
      });
    }
  } catch (err) {
    await worker?.stop();
    await web.close();
    await master.close();
    throw err;
  }
  return {
    master,
    web,
    worker,
    name,
    async close() {
      await worker?.stop();
      await web.close();
      await master.close();
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: any;
}

/** The header a client of the API sends to authenticate. */
export const authHeader = (web: MasterHttpServer): Record<string, string> => ({ Authorization: `Bearer ${web.token}` });

/**
 * One request with the server's token; JSON bodies are sent as JSON (also for POST without
 * a body, as the page does), URLSearchParams as a form, strings as they are.
 */
export async function call(web: MasterHttpServer, method: string, urlPath: string, body?: unknown): Promise<ApiResponse> {
  const headers: Record<string, string> = authHeader(web);
  const init: RequestInit = { method, headers };
  if (body instanceof URLSearchParams) init.body = body;
  else if (typeof body === 'string') init.body = body;
  else if (body !== undefined || method === 'POST') {
    init.body = JSON.stringify(body ?? {});
    headers['Content-Type'] = 'application/json';
  }
  const r = await fetch(web.url + urlPath, init);
  const text = await r.text();
  let parsed: unknown = text;
  if ((r.headers.get('content-type') ?? '').includes('json')) parsed = JSON.parse(text);
  return { status: r.status, headers: r.headers, body: parsed };
}

/** Poll `get` until `ok` holds (wall clock: waits for a real worker). */
export async function waitUntil<T>(get: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  let last: T | undefined;
  try {
    await eventually(async () => ok((last = await get())), what, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; last: ${JSON.stringify(last).slice(0, 500)}`);
  }
  return last as T;
}

export async function jobWhen(web: MasterHttpServer, id: number, ok: (job: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> {
  return waitUntil(async () => (await call(web, 'GET', `/api/v1/jobs/${id}`)).body as Record<string, unknown>, ok, `job ${id} ${what}`);
}

export const finished = (j: Record<string, unknown>): boolean => j.state === 'finished';

export const shellStep = (command: string) => ({ command: 'shell', args: { command } });
