import type { MasterEvent } from '../events.js';
import type { TestMaster } from '../test-master.js';
import type { StartCommandOptions } from '../command-run.js';
import type { WorkerHandle } from '../worker-handle.js';
import type { EventBus } from './event-bus.js';
import { badRequest, notFound, unavailable } from './http-error.js';
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { Job, recordOutcome, stepJSON, type Step } from './job.js';
import { MAX_KEPT_UPLOAD_BYTES, type JobSpec, type StepSpec } from './job-spec.js';
import { DEFAULT_MAX_FINISHED_JOBS, DEFAULT_MAX_FINISHED_LOG_BYTES } from './job-retention.js';

export interface JobQueueOptions {
  master: TestMaster;
  bus: EventBus;
  /** The configured worker names (the ones that may connect). */
  workers: readonly string[];
  /** Most queued (not yet running) jobs per worker; more → 503. Default 100. */
  maxQueuedPerWorker?: number;
  /** Finished jobs kept; past it the oldest finished job is evicted. Default DEFAULT_MAX_FINISHED_JOBS. */
  maxFinishedJobs?: number;
  /** Bytes of log text finished jobs keep; past it the oldest are evicted (the newest always stays). Default DEFAULT_MAX_FINISHED_LOG_BYTES. */
  maxFinishedLogBytes?: number;
  /** Seconds a 503 tells the client to wait before retrying. Default 5. */
  retryAfterSeconds?: number;
  /** The directory downloadFile steps' `mastersrc` files are read from; without it `mastersrc` is refused. */
  transferDir?: string;
  log?: (line: string) => void;
}

export const DEFAULT_MAX_QUEUED_PER_WORKER = 100;

/** A step's logs whose text is also in the job's log (the same strings, held once). */
const STDIO_LOGS = new Set(['stdout', 'stderr', 'header', 'stdio']);

/**
 * Size of the log text a finished job holds: its job log (every step's stdio) and every
 * step's other logfiles, counted in string length (UTF-16 units, 1–2 bytes each in memory).
 * A step's stdout, stderr, header and stdio are concatenations of the same pieces as the job
 * log, so they are not counted again (counting them made the limit evict at a third of it).
 * Not `Buffer.byteLength`: that walks and flattens every concatenated log, seconds for a
 * 200 MB log at each job's end.
 */
function logBytes(job: Job): number {
  let n = job.log.length;
  for (const s of job.steps) {
    for (const [name, text] of Object.entries(s.run?.logs ?? {})) if (!STDIO_LOGS.has(name)) n += text.length;
    n += s.uploadData?.length ?? 0;
  }
  return n;
}

/** What happened to a job a client asked to stop. */
export type StopOutcome = 'cancelled' | 'interrupting';

/**
 * The self-serve job queue: one queue per worker, higher priority first (then submission
 * order). As in Buildbot, a builder runs one job at a time and different builders of a
 * worker run theirs at once (the worker has no `max_builds` limit, Buildbot's default);
 * a job waits only for its own builder, so the order is per builder (docs/test-master-queue.md).
 * Publishes on the bus:
 * `jobs/<id>/new|started|updated|finished`, `jobs/<id>/steps/<n>/started|finished`,
 * `jobs/<id>/logs` (`{job, step, log, text, offset}`), `workers/<name>/attached|detached`.
 */
export class JobQueue {
  private readonly jobs = new Map<number, Job>();
  private readonly queues = new Map<string, Job[]>();
  /** Per worker: the running job of each busy builder. */
  private readonly running = new Map<string, Map<string, Job>>();
  private nextId = 1;
  /** Finished jobs, oldest first, with the log bytes each holds. */
  private readonly finished: Array<{ job: Job; bytes: number }> = [];
  private finishedBytes = 0;
  private readonly maxFinished: number;
  private readonly maxFinishedBytes: number;
  private readonly maxQueued: number;
  private readonly retryAfter: number;
  private readonly onMasterEvent = (e: MasterEvent): void => this.masterEvent(e);

  constructor(private readonly o: JobQueueOptions) {
    this.maxQueued = o.maxQueuedPerWorker ?? DEFAULT_MAX_QUEUED_PER_WORKER;
    this.retryAfter = o.retryAfterSeconds ?? 5;
    this.maxFinished = o.maxFinishedJobs ?? DEFAULT_MAX_FINISHED_JOBS;
    this.maxFinishedBytes = o.maxFinishedLogBytes ?? DEFAULT_MAX_FINISHED_LOG_BYTES;
    for (const w of o.workers) this.queues.set(w, []);
    o.master.on('event', this.onMasterEvent);
  }

  close(): void {
    this.o.master.off('event', this.onMasterEvent);
  }

  get workerNames(): readonly string[] {
    return this.o.workers;
  }

  isKnownWorker(name: string): boolean {
    return this.queues.has(name);
  }

  /** The worker's JSON view; throws 404 for a worker that is not configured. */
  workerJSON(name: string): Record<string, unknown> {
    if (!this.isKnownWorker(name)) throw notFound(`no such worker: ${name}`);
    const h = this.o.master.worker(name);
    return {
      name,
      connected: !!h?.attached,
      protocol: h?.protocol ?? null,
      info: h?.info ?? null,
      builders: h ? h.builders.map((b) => b.name) : [],
      queued: this.queued(name).map((j) => j.id),
      running: [...(this.running.get(name)?.values() ?? [])].map((j) => j.id).sort((a, b) => a - b),
    };
  }

  all(): Job[] {
    return [...this.jobs.values()];
  }

  get(id: number): Job {
    const job = this.jobs.get(id);
    if (job) return job;
    // Ids are never reused: a past id that is gone was evicted.
    if (Number.isSafeInteger(id) && id >= 1 && id < this.nextId) {
      throw notFound(`job ${id} was evicted: the test master keeps the newest ${this.maxFinished} finished jobs and ${this.maxFinishedBytes} bytes of their logs`);
    }
    throw notFound(`no such job: ${id}`);
  }

  /** Jobs waiting on a worker, in the order they will run. */
  queued(worker: string): Job[] {
    return [...(this.queues.get(worker) ?? [])];
  }

  /** Queue a job; throws 400 (unknown worker/builder) or 503 (worker not connected, queue full). */
  submit(spec: JobSpec, rebuildOf: number | null = null): Job {
    if (!this.isKnownWorker(spec.worker)) throw badRequest(`unknown worker: ${spec.worker}`);
    if (this.o.transferDir === undefined && spec.steps.some((s) => s.mastersrc !== undefined)) {
      throw badRequest('mastersrc needs a transfer directory on the server (test-master --transfer-dir DIR)');
    }
    const handle = this.o.master.worker(spec.worker);
    if (!handle?.attached) throw unavailable(`worker ${spec.worker} is not connected; retry later`, this.retryAfter);
    if (!handle.builders.some((b) => b.name === spec.builder)) {
      throw badRequest(`unknown builder ${spec.builder} for worker ${spec.worker} (has ${handle.builders.map((b) => b.name).join(', ')})`);
    }
    const queue = this.queues.get(spec.worker)!;
    if (queue.length >= this.maxQueued) throw unavailable(`the queue of worker ${spec.worker} is full (${this.maxQueued} jobs); retry later`, this.retryAfter);
    const job = new Job(this.nextId++, spec, spec.priority, rebuildOf);
    this.jobs.set(job.id, job);
    this.insert(queue, job);
    this.o.bus.publish(`jobs/${job.id}/new`, job.toJSON());
    this.drain(spec.worker);
    return job;
  }

  /** A new job with the same worker, builder and steps; the same priority unless one is given. */
  rebuild(id: number, priority?: number): Job {
    const old = this.get(id);
    return this.submit({ ...old.spec, priority: priority ?? old.priority }, old.id);
  }

  /** Change a queued job's priority and its place in the queue. */
  reprioritize(id: number, priority: number): Job {
    const job = this.get(id);
    if (job.state !== 'queued') throw badRequest(`job ${id} is ${job.state}; only a queued job can be reprioritized`);
    const queue = this.queues.get(job.worker)!;
    queue.splice(queue.indexOf(job), 1);
    job.priority = priority;
    this.insert(queue, job);
    this.o.bus.publish(`jobs/${job.id}/updated`, job.toJSON());
    return job;
  }

  /** Cancel a queued job or interrupt a running one; 400 for a finished job. */
  stop(id: number, why: string = 'interrupted by request'): StopOutcome {
    const job = this.get(id);
    if (job.state === 'finished') throw badRequest(`job ${id} already finished (${job.result})`);
    job.cancelled = true;
    if (job.state === 'queued') {
      const queue = this.queues.get(job.worker)!;
      queue.splice(queue.indexOf(job), 1);
      for (const s of job.steps) s.state = 'skipped';
      this.finish(job, 'CANCELLED');
      return 'cancelled';
    }
    const current = job.steps.find((s) => s.state === 'running');
    void current?.run?.interrupt(why).catch((err: unknown) => this.o.log?.(`job ${id}: interrupt failed: ${String(err)}`));
    return 'interrupting';
  }

  /** Resolve once the job finished. */
  whenFinished(id: number): Promise<Job> {
    const job = this.get(id);
    if (job.state === 'finished') return Promise.resolve(job);
    return new Promise((resolve) => {
      const c = this.o.bus.consumer(() => {
        c.close();
        resolve(this.get(id));
      });
      c.add(`jobs/${id}/finished`);
    });
  }

  // ---- internals -------------------------------------------------------------------

  /** Higher priority first; equal priorities keep submission order. */
  private insert(queue: Job[], job: Job): void {
    let i = queue.findIndex((q) => q.priority < job.priority || (q.priority === job.priority && q.id > job.id));
    if (i === -1) i = queue.length;
    queue.splice(i, 0, job);
  }

  /** Start the first queued job of every idle builder of the worker. */
  private drain(worker: string): void {
    const handle = this.o.master.worker(worker);
    const queue = this.queues.get(worker);
    if (!handle?.attached || !queue) return;
    let busy = this.running.get(worker);
    if (!busy) this.running.set(worker, (busy = new Map()));
    for (let i = 0; i < queue.length;) {
      const job = queue[i]!;
      if (busy.has(job.spec.builder)) {
        i++;
        continue;
      }
      queue.splice(i, 1);
      this.start(job, handle, busy);
    }
  }

  private start(job: Job, handle: WorkerHandle, busy: Map<string, Job>): void {
    const builder = job.spec.builder;
    busy.set(builder, job);
    job.state = 'running';
    job.startedAt = Date.now();
    this.o.bus.publish(`jobs/${job.id}/started`, job.toJSON());
    void this.run(job, handle).finally(() => {
      busy.delete(builder);
      this.drain(job.worker);
    });
  }

  private async run(job: Job, handle: WorkerHandle): Promise<void> {
    let result: Job['result'] = 'SUCCESS';
    for (const step of job.steps) {
      if (job.cancelled || result !== 'SUCCESS') {
        step.state = 'skipped';
        continue;
      }
      step.state = 'running';
      job.stepLogStart[step.index] = job.log.length;
      this.o.bus.publish(`jobs/${job.id}/steps/${step.index}/started`, stepJSON(step));
      try {
        step.run = handle.startCommand(job.spec.builder, step.spec.command, step.spec.args, {
          ...(await this.commandOptions(step.spec)),
          onLog: (log, text) => this.publishLog(job, step, log, text),
        });
      } catch (err) {
        step.startError = err instanceof Error ? err.message : String(err);
        step.result = handle.attached ? 'EXCEPTION' : 'RETRY';
        step.state = 'finished';
        result = step.result;
        this.o.bus.publish(`jobs/${job.id}/steps/${step.index}/finished`, stepJSON(step));
        continue;
      }
      step.commandId = step.run.commandId;
      const r = await step.run.done;
      step.state = 'finished';
      step.result = r.status;
      step.rc = r.rc;
      if (r.elapsed !== undefined) step.elapsed = r.elapsed;
      if (r.failure !== undefined) step.failure = r.failure;
      if (r.startError !== undefined) step.startError = r.startError;
      if (r.status !== 'SUCCESS') result = r.status;
      recordOutcome(step, r);
      this.o.bus.publish(`jobs/${job.id}/steps/${step.index}/finished`, stepJSON(step));
    }
    this.finish(job, job.cancelled ? 'CANCELLED' : result);
  }

  /**
   * How the master serves a step, like the real master's steps do (not the 3.7 master's
   * msgpack utime/read bugs): a download's bytes, an upload's writer keeping the bytes or not.
   */
  private async commandOptions(spec: StepSpec): Promise<StartCommandOptions> {
    const opts: StartCommandOptions = { faithfulUtimeBug: false };
    if (spec.data !== undefined) opts.download = { data: spec.data, faithfulReadBug: false };
    if (spec.mastersrc !== undefined) opts.download = { data: await this.readMasterSrc(spec.mastersrc), faithfulReadBug: false };
    if (spec.keep) opts.upload = { collect: true, maxCollectBytes: MAX_KEPT_UPLOAD_BYTES };
    return opts;
  }

  /** A file inside the transfer directory (symlinks resolved: it must stay inside). */
  private async readMasterSrc(src: string): Promise<Buffer> {
    const root = await realpath(this.o.transferDir!);
    let file: string;
    try {
      file = await realpath(path.join(root, src));
    } catch {
      throw new Error(`mastersrc ${src} not available at master`);
    }
    if (!file.startsWith(root + path.sep)) throw new Error(`mastersrc ${src} is outside the transfer directory`);
    return readFile(file);
  }

  private finish(job: Job, result: NonNullable<Job['result']>): void {
    job.state = 'finished';
    job.result = result;
    job.finishedAt = Date.now();
    this.o.bus.publish(`jobs/${job.id}/finished`, job.toJSON());
    this.retain(job);
  }

  /** Keep a finished job; evict the oldest finished ones past the limits (the newest stays). */
  private retain(job: Job): void {
    const bytes = logBytes(job);
    this.finished.push({ job, bytes });
    this.finishedBytes += bytes;
    while (this.finished.length > this.maxFinished || (this.finished.length > 1 && this.finishedBytes > this.maxFinishedBytes)) {
      const old = this.finished.shift()!;
      this.finishedBytes -= old.bytes;
      this.jobs.delete(old.job.id);
    }
  }

  private masterEvent(e: MasterEvent): void {
    if (e.type === 'attach' && this.isKnownWorker(e.worker)) {
      this.o.bus.publish(`workers/${e.worker}/attached`, this.workerJSON(e.worker));
      this.drain(e.worker);
    } else if (e.type === 'detach' && this.isKnownWorker(e.worker)) {
      this.o.bus.publish(`workers/${e.worker}/detached`, { ...this.workerJSON(e.worker), reason: e.reason });
    }
  }

  /**
   * Publish a piece of a step's log text as it arrives (each piece once; never re-reading the
   * run's whole log, which would cost time quadratic in its length). stdio text
   * (header/stdout/stderr) also goes into the job's log; its `offset` is the position there,
   * so a client that fetched the log can drop what it already has. Other logfiles carry
   * their offset within that logfile.
   */
  private publishLog(job: Job, step: Step, log: string, text: string): void {
    if (text === '') return;
    if (log === 'stdout' || log === 'stderr' || log === 'header') {
      const offset = job.log.length;
      job.log += text;
      this.o.bus.publish(`jobs/${job.id}/logs`, { job: job.id, step: step.index, log: 'stdio', text, offset });
    } else {
      const offset = step.published.get(log) ?? 0;
      step.published.set(log, offset + text.length);
      this.o.bus.publish(`jobs/${job.id}/logs`, { job: job.id, step: step.index, log, text, offset });
    }
  }
}
