import { eventually } from './eventually.js';

/**
 * A client of the embedded test master's REST API (README, "Try it without Buildbot"), as a
 * user drives it: submit a job, wait for its end on the `/sse` event stream, read the job,
 * its steps' logs and an upload's bytes. Shared by the end-to-end tests and the benchmarks.
 */

export interface StepJSON {
  index: number;
  command: string;
  state: string;
  result: string | null;
  rc: number | null;
  failure?: string;
  start_error?: string;
  /** Non-log updates (`stat`, `files`, `rc`, ...) in arrival order. */
  updates?: Array<[string, unknown]>;
  transfer?: Record<string, unknown>;
  /** Characters received per log. */
  log_sizes?: Record<string, number>;
}

export interface JobJSON {
  id: number;
  builder: string;
  state: 'queued' | 'running' | 'finished';
  result: string | null;
  steps: StepJSON[];
}

export interface StepRequest {
  command: string;
  args: Record<string, unknown>;
  data?: string;
  mastersrc?: string;
  keep?: boolean;
}

export interface JobRequest {
  worker: string;
  builder?: string;
  priority?: number;
  steps: StepRequest[];
}

/** A finished step with its logs, shaped like the master's own command result. */
export interface StepOutcome {
  jobId: number;
  status: string;
  rc: number | null;
  logs: { stdio: string; stdout: string; stderr: string; header: string; [log: string]: string };
  updates: Array<[string, unknown]>;
  transfer?: Record<string, unknown>;
  logSizes: Record<string, number>;
  failure?: string;
  startError?: string;
}

export class MasterClientError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class MasterClient {
  constructor(
    /** Base URL of the HTTP API, no trailing slash. */
    readonly url: string,
    readonly token: string,
  ) {}

  static of(web: { url: string; token: string }): MasterClient {
    return new MasterClient(web.url, web.token);
  }

  private get auth(): Record<string, string> {
    return { Authorization: `Bearer ${this.token}` };
  }

  /** One request; the JSON answer, or MasterClientError with the server's reason for a status ≥ 400. */
  async request<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const init: RequestInit = { method, headers: this.auth };
    if (body !== undefined || method === 'POST') init.headers = { ...this.auth, 'Content-Type': 'application/json' };
    if (body !== undefined || method === 'POST') init.body = JSON.stringify(body ?? {});
    const r = await fetch(this.url + path, init);
    const text = await r.text();
    const json = (r.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text;
    if (r.status >= 400) throw new MasterClientError(r.status, `${method} ${path}: ${r.status} ${json?.error ?? text}`.slice(0, 2000));
    return json as T;
  }

  /** Queue a job; its id. */
  async submit(job: JobRequest): Promise<number> {
    return (await this.request<{ request_id: number }>('POST', '/api/v1/jobs', job)).request_id;
  }

  job(id: number): Promise<JobJSON> {
    return this.request<JobJSON>('GET', `/api/v1/jobs/${id}`);
  }

  /** Every job the master keeps for `worker`, read in one request. */
  async jobs(worker: string): Promise<JobJSON[]> {
    return (await this.request<{ jobs: JobJSON[] }>('GET', `/api/v1/jobs?worker=${encodeURIComponent(worker)}`)).jobs;
  }

  /** Cancel a queued job or interrupt a running one. */
  async stop(id: number): Promise<void> {
    await this.request('DELETE', `/api/v1/jobs/${id}`);
  }

  async stepLogs(id: number, step: number): Promise<Record<string, string>> {
    return (await this.request<{ logs: Record<string, string> }>('GET', `/api/v1/jobs/${id}/steps/${step}/logs`)).logs;
  }

  /** The bytes an upload step with `keep` sent. */
  async upload(id: number, step: number): Promise<Buffer> {
    const path = `/api/v1/jobs/${id}/steps/${step}/upload`;
    const r = await fetch(this.url + path, { headers: this.auth });
    if (r.status !== 200) throw new MasterClientError(r.status, `GET ${path}: ${r.status} ${await r.text()}`);
    return Buffer.from(await r.arrayBuffer());
  }

  /**
   * Resolve with the job once it finished: listens for `jobs/<id>/finished` on `/sse`, and
   * reads the job once the stream is open (it may have finished before). Should the stream
   * end early, it polls.
   */
  async waitForJob(id: number, timeoutMs = 120_000): Promise<JobJSON> {
    const check = async (): Promise<JobJSON | undefined> => {
      const job = await this.job(id);
      return job.state === 'finished' ? job : undefined;
    };
    return this.onFinished(`jobs/${id}/finished`, check, `job ${id} to finish`, timeoutMs);
  }

  /**
   * The worker's jobs, read right when the first of `ids` is seen finished: after each
   * `jobs/<id>/finished` event on `/sse` the jobs are read in one request, so running jobs'
   * `log_sizes` show how far they got at that moment. `opened` is called once the stream is
   * open, so the jobs can be submitted after it (and `ids` given then) without a finish
   * being missed.
   */
  async whenFirstFinished(worker: string, ids: Promise<readonly number[]>, opened: () => void, timeoutMs = 120_000): Promise<JobJSON[]> {
    const check = async (): Promise<JobJSON[] | undefined> => {
      const wanted = await ids;
      const jobs = (await this.jobs(worker)).filter((j) => wanted.includes(j.id));
      return jobs.some((j) => j.state === 'finished') ? jobs : undefined;
    };
    return this.onFinished('jobs/*/finished', check, `a job of ${worker} to finish`, timeoutMs, opened);
  }

  /**
   * `check` once the `/sse` stream on `topic` is open (so no finish can be missed) and after
   * each event on it, until it gives a value. Should the stream end early, it polls.
   */
  private async onFinished<T>(topic: string, check: () => Promise<T | undefined>, what: string, timeoutMs: number, opened?: () => void): Promise<T> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    try {
      const r = await fetch(`${this.url}/sse/listen/${topic}`, { headers: this.auth, signal: ac.signal });
      if (r.status !== 200 || !r.body) throw new MasterClientError(r.status, `GET /sse/listen/${topic}: ${r.status} ${await r.text()}`);
      const events = sseEvents(r.body);
      // The handshake: from here on the finish cannot be missed.
      if ((await events.next()).value !== 'handshake') throw new Error(`/sse did not start with a handshake`);
      opened?.();
      let found = await check();
      if (found !== undefined) return found;
      for await (const name of events) if (name === 'event' && (found = await check()) !== undefined) return found;
    } catch (err) {
      if (ac.signal.aborted) throw new Error(`waited ${timeoutMs} ms for ${what}`);
      throw err;
    } finally {
      clearTimeout(timer);
      ac.abort();
      opened?.();
    }
    let found: T | undefined;
    await eventually(async () => (found = await check()) !== undefined, what, timeoutMs);
    return found!;
  }

  /** Submit a job, wait for its end, and give each step with its logs (`withLogs: false`: without fetching them). */
  async run(job: JobRequest, opts: { withLogs?: boolean; timeoutMs?: number } = {}): Promise<StepOutcome[]> {
    const id = await this.submit(job);
    const done = await this.waitForJob(id, opts.timeoutMs);
    const out: StepOutcome[] = [];
    for (const s of done.steps) {
      const logs = opts.withLogs === false || s.state === 'skipped' ? {} : await this.stepLogs(id, s.index);
      const outcome: StepOutcome = {
        jobId: id,
        status: s.result ?? s.state,
        rc: s.rc,
        logs: { stdio: '', stdout: '', stderr: '', header: '', ...logs },
        updates: s.updates ?? [],
        transfer: s.transfer,
        logSizes: s.log_sizes ?? {},
      };
      if (s.failure !== undefined) outcome.failure = s.failure;
      if (s.start_error !== undefined) outcome.startError = s.start_error;
      out.push(outcome);
    }
    return out;
  }

  /** One command as a one-step job on `builder` (default `builder`). */
  async runStep(worker: string, step: StepRequest, opts: { builder?: string; withLogs?: boolean; timeoutMs?: number } = {}): Promise<StepOutcome> {
    const [outcome] = await this.run({ worker, builder: opts.builder ?? 'builder', steps: [step] }, opts);
    return outcome!;
  }
}

/** The event names of a Server-Sent Events body, in order. */
async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of body) {
    buffered += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffered.indexOf('\n\n')) !== -1) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const name = /^event: (.*)$/m.exec(block)?.[1];
      if (name !== undefined) yield name;
    }
  }
}
