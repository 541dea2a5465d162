import type { IncomingMessage } from 'node:http';
import type { HttpErrorStatus } from '../../errors.js';
import { HttpError } from './http-error.js';
import type { JobQueue } from './job-queue.js';
import { parseJobSpec, parsePriority, parseRevision, type JobSpec } from './job-spec.js';
import type { Job } from './job.js';
import type { Reply, RouteContext, Router } from './router.js';

/**
 * Mozilla BuildAPI's self-serve interface (buildapi/controllers/selfserve.py) over the job
 * queue: a branch is a worker (its pool of builders), a build and a request are both a job
 * (one id; a queued job is a request without a build yet), a revision is a property of a job.
 *
 * Answers are HTML unless `format=json` or an `Accept` naming application/json asks for JSON.
 * Job requests (POST, PUT, DELETE, also PUT/DELETE through `_method` in the JSON body) answer
 * 202 `{status: "OK", msg, request_id}`; failures `{status: "FAILED", msg}` with 400 (bad or
 * missing parameter), 404 (no such branch, build, request or revision) or 503 (worker not
 * connected, queue full: retry later). The table is in README, "the embedded test master".
 */

export const SELF_SERVE_PREFIX = '/self-serve';

/** Buildbot's result codes (buildbot.process.results), as BuildAPI reports them. */
const RESULT_CODES: Record<string, number> = { SUCCESS: 0, WARNINGS: 1, FAILURE: 2, SKIPPED: 3, EXCEPTION: 4, RETRY: 5, CANCELLED: 6 };

type Format = 'json' | 'html';

/** `format=json|html` first, then `Accept`; HTML by default, as BuildAPI does. */
export function selfServeFormat(query: URLSearchParams, req: IncomingMessage): Format {
  const f = query.get('format');
  if (f === 'json' || f === 'html') return f;
  return /application\/json/i.test(req.headers.accept ?? '') ? 'json' : 'html';
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function render(fmt: Format, status: number, obj: unknown, title: string, headers?: Record<string, string>): NonNullable<Reply> {
  if (fmt === 'json') return { status, json: obj, headers };
  const html =
    `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>\n` +
    `<body><h1>${escapeHtml(title)}</h1>\n<pre>${escapeHtml(JSON.stringify(obj, null, 2))}</pre></body></html>\n`;
  return { status, text: html, contentType: 'text/html; charset=utf-8', headers };
}

/** A failed self-serve call: BuildAPI's `{status: "FAILED", msg}` with the status code. */
class Failed extends HttpError {}
const failed = (status: HttpErrorStatus, msg: string): Failed => new Failed(status, msg);

const secs = (ms: number | null): number | null => (ms === null ? null : Math.floor(ms / 1000));

/** A job as a BuildAPI build (started jobs only). */
function buildView(job: Job): Record<string, unknown> {
  return {
    build_id: job.id,
    request_id: job.id,
    branch: job.worker,
    buildername: job.spec.builder,
    revision: job.spec.revision ?? null,
    starttime: secs(job.startedAt),
    endtime: secs(job.finishedAt),
    status: job.result === null ? null : (RESULT_CODES[job.result] ?? null),
    result: job.result,
    complete: job.state === 'finished',
    properties: { revision: job.spec.revision ?? null, priority: job.priority, rebuild_of: job.rebuildOf },
  };
}

/** A job as a BuildAPI build request. */
function requestView(job: Job): Record<string, unknown> {
  return {
    request_id: job.id,
    branch: job.worker,
    buildername: job.spec.builder,
    revision: job.spec.revision ?? null,
    priority: job.priority,
    submittedat: secs(job.submittedAt),
    claimed_at: secs(job.startedAt) ?? 0,
    complete: job.state === 'finished' ? 1 : 0,
    complete_at: secs(job.finishedAt),
    results: job.result === null ? null : (RESULT_CODES[job.result] ?? null),
    build_id: job.state === 'queued' ? null : job.id,
  };
}

/** A job as BuildAPI's job-request status (`/self-serve/jobs/{id}`). */
function jobStatusView(job: Job): Record<string, unknown> {
  return {
    ...requestView(job),
    action: job.rebuildOf === null ? 'new_build' : 'rebuild',
    what: { worker: job.worker, builder: job.spec.builder, revision: job.spec.revision ?? null, rebuild_of: job.rebuildOf },
    when: secs(job.submittedAt),
    completed_at: secs(job.finishedAt),
    complete_data: job.state === 'finished' ? { result: job.result } : null,
  };
}

/** An id parameter: a positive integer, number or decimal string. */
function parseId(value: unknown, name: string): number {
  const s = typeof value === 'number' ? String(value) : value;
  if (typeof s !== 'string' || !/^\d{1,12}$/.test(s.trim()) || Number(s) < 1) throw failed(400, `Bad ${name}`);
  return Number(s);
}

function priorityOf(value: unknown, fallback?: number): number | undefined {
  try {
    return parsePriority(value) ?? fallback;
  } catch {
    throw failed(400, 'Bad priority');
  }
}

interface Route {
  method: string;
  path: string;
  doc: string;
  run: (ctx: RouteContext) => { status: number; obj: unknown; title: string };
}

export function registerSelfServe(router: Router, jobs: JobQueue): void {
  const branchOf = (ctx: RouteContext): string => {
    const b = ctx.params.branch ?? '';
    if (!jobs.isKnownWorker(b)) throw failed(404, `Branch ${b.slice(0, 100)} not found`);
    return b;
  };
  const onBranch = (branch: string): Job[] => jobs.all().filter((j) => j.worker === branch);
  const lookup = (branch: string, raw: unknown, what: 'Build' | 'Request', name: string): Job => {
    const id = parseId(raw, name);
    let job: Job | undefined;
    try {
      job = jobs.get(id);
    } catch {
      job = undefined;
    }
    // A queued job is a request that has no build yet.
    if (!job || job.worker !== branch || (what === 'Build' && job.state === 'queued')) throw failed(404, `${what} ${id} not found on branch ${branch}`);
    return job;
  };
  const atRevision = (branch: string, ctx: RouteContext): { revision: string; list: Job[] } => {
    let revision: string;
    try {
      revision = parseRevision(ctx.params.revision) ?? '';
    } catch {
      throw failed(400, 'Bad revision');
    }
    return { revision, list: onBranch(branch).filter((j) => j.spec.revision === revision) };
  };
  const accepted = (msg: string, requestId: number | null, extra: Record<string, unknown> = {}) => ({
    status: 202,
    obj: { status: 'OK', msg, request_id: requestId, ...extra },
    title: msg,
  });
  /**
   * A new job at a revision: the body's steps (or command), else the steps of the newest job on
   * the branch (and builder), so a BuildAPI client that sends no body works unchanged.
   */
  const newBuild = (ctx: RouteContext, branch: string, revision: string, builder?: string) => {
    const body = ctx.body;
    let spec: JobSpec;
    if (body.steps !== undefined || body.command !== undefined) {
      spec = parseJobSpec({ ...body, worker: branch, builder: builder ?? body.builder, revision }, 'builder');
    } else {
      const template = onBranch(branch)
        .filter((j) => builder === undefined || j.spec.builder === builder)
        .at(-1);
      if (!template) throw failed(400, `no steps given and no earlier job on branch ${branch}${builder ? ` builder ${builder}` : ''} to take them from`);
      spec = { ...template.spec, revision, priority: priorityOf(body.priority, 0)! };
    }
    const job = jobs.submit(spec);
    return accepted(`build of ${spec.builder} at ${revision} queued on ${branch}`, job.id);
  };

  const routes: Route[] = [
    { method: 'GET', path: '', doc: 'Root of the API: this table', run: () => ({ status: 200, obj: table(), title: 'self-serve' }) },
    { method: 'GET', path: '/branches', doc: 'Return a list of all the branches (the workers)', run: () => ({ status: 200, obj: [...jobs.workerNames], title: 'branches' }) },
    { method: 'GET', path: '/jobs', doc: 'Return the job requests', run: () => ({ status: 200, obj: jobs.all().map(jobStatusView), title: 'jobs' }) },
    {
      method: 'GET',
      path: '/jobs/:job_id',
      doc: 'Return information about a job request',
      run: (ctx) => {
        const id = parseId(ctx.params.job_id, 'job_id');
        let job: Job;
        try {
          job = jobs.get(id);
        } catch {
          throw failed(404, `Job ${id} not found`);
        }
        return { status: 200, obj: jobStatusView(job), title: `job ${id}` };
      },
    },
    {
      method: 'GET',
      path: '/:branch',
      doc: 'Return a list of builds on this branch (date=YYYY-MM-DD: submitted that day, UTC)',
      run: (ctx) => {
        const branch = branchOf(ctx);
        const date = ctx.query.get('date');
        if (date !== null && !/^\d{4}-\d{2}-\d{2}$/.test(date)) throw failed(400, 'Bad date');
        const list = onBranch(branch).filter((j) => date === null || new Date(j.submittedAt).toISOString().startsWith(date));
        return { status: 200, obj: list.map(requestView), title: `branch ${branch}` };
      },
    },
    {
      method: 'GET',
      path: '/:branch/builders',
      doc: 'Return a list of valid builders for this branch',
      run: (ctx) => ({ status: 200, obj: jobs.workerJSON(branchOf(ctx)).builders, title: 'builders' }),
    },
    {
      method: 'GET',
      path: '/:branch/builders/:builder',
      doc: 'Return a list of builds for this builder',
      run: (ctx) => {
        const branch = branchOf(ctx);
        const list = onBranch(branch).filter((j) => j.spec.builder === ctx.params.builder);
        return { status: 200, obj: list.map(requestView), title: `builder ${ctx.params.builder}` };
      },
    },
    {
      method: 'POST',
      path: '/:branch/builders/:builder/:revision',
      doc: 'Create a new build on this builder at this revision (steps or command in the body, else those of the newest job on the builder)',
      run: (ctx) => {
        const branch = branchOf(ctx);
        return newBuild(ctx, branch, atRevision(branch, ctx).revision, ctx.params.builder);
      },
    },
    {
      method: 'POST',
      path: '/:branch/build',
      doc: 'Rebuild `build_id` (required); `priority` is optional (default 0)',
      run: (ctx) => {
        const branch = branchOf(ctx);
        const old = lookup(branch, ctx.body.build_id, 'Build', 'build_id');
        const job = jobs.rebuild(old.id, priorityOf(ctx.body.priority, 0));
        return accepted(`rebuild of build ${old.id} queued on ${branch}`, job.id);
      },
    },
    {
      method: 'GET',
      path: '/:branch/build/:build_id',
      doc: 'Return information about a build',
      run: (ctx) => {
        const branch = branchOf(ctx);
        return { status: 200, obj: buildView(lookup(branch, ctx.params.build_id, 'Build', 'build_id')), title: `build ${ctx.params.build_id}` };
      },
    },
    {
      method: 'DELETE',
      path: '/:branch/build/:build_id',
      doc: 'Cancel the given build',
      run: (ctx) => {
        const branch = branchOf(ctx);
        const job = lookup(branch, ctx.params.build_id, 'Build', 'build_id');
        if (job.state === 'finished') throw failed(400, 'Build already complete');
        jobs.stop(job.id, 'cancelled by self-serve request');
        return accepted(`cancelling build ${job.id}`, job.id);
      },
    },
    {
      method: 'POST',
      path: '/:branch/request',
      doc: 'Rebuild `request_id` (required); `priority` is optional (default 0)',
      run: (ctx) => {
        const branch = branchOf(ctx);
        const old = lookup(branch, ctx.body.request_id, 'Request', 'request_id');
        const job = jobs.rebuild(old.id, priorityOf(ctx.body.priority, 0));
        return accepted(`rebuild of request ${old.id} queued on ${branch}`, job.id);
      },
    },
    {
      method: 'GET',
      path: '/:branch/request/:request_id',
      doc: 'Return information about a request',
      run: (ctx) => {
        const branch = branchOf(ctx);
        return { status: 200, obj: requestView(lookup(branch, ctx.params.request_id, 'Request', 'request_id')), title: `request ${ctx.params.request_id}` };
      },
    },
    {
      method: 'PUT',
      path: '/:branch/request/:request_id',
      doc: 'Reprioritize the given request; requires `priority` (higher first, default 0)',
      run: (ctx) => {
        const branch = branchOf(ctx);
        const priority = priorityOf(ctx.body.priority);
        if (priority === undefined) throw failed(400, 'Bad priority');
        const job = lookup(branch, ctx.params.request_id, 'Request', 'request_id');
        if (job.state === 'finished') throw failed(400, 'Request already complete');
        if (job.state === 'running') throw failed(400, 'Request is already running');
        jobs.reprioritize(job.id, priority);
        return accepted(`request ${job.id} priority set to ${priority}`, job.id);
      },
    },
    {
      method: 'DELETE',
      path: '/:branch/request/:request_id',
      doc: 'Cancel the given request',
      run: (ctx) => {
        const branch = branchOf(ctx);
        const job = lookup(branch, ctx.params.request_id, 'Request', 'request_id');
        if (job.state === 'finished') throw failed(400, 'Request already complete');
        jobs.stop(job.id, 'cancelled by self-serve request');
        return accepted(`cancelling request ${job.id}`, job.id);
      },
    },
    {
      method: 'GET',
      path: '/:branch/rev/:revision',
      doc: 'Return a list of builds for this revision',
      run: (ctx) => {
        const branch = branchOf(ctx);
        const { revision, list } = atRevision(branch, ctx);
        if (!list.length) throw failed(404, `Revision ${revision} not found on branch ${branch}`);
        return { status: 200, obj: list.map(requestView), title: `revision ${revision}` };
      },
    },
    {
      method: 'POST',
      path: '/:branch/rev/:revision',
      doc: 'Create a new build at this revision (steps or command in the body, else those of the newest job on the branch)',
      run: (ctx) => {
        const branch = branchOf(ctx);
        return newBuild(ctx, branch, atRevision(branch, ctx).revision);
      },
    },
    {
      method: 'DELETE',
      path: '/:branch/rev/:revision',
      doc: 'Cancel all running or pending builds at this revision',
      run: (ctx) => {
        const branch = branchOf(ctx);
        const { revision, list } = atRevision(branch, ctx);
        if (!list.length) throw failed(404, `Revision ${revision} not found on branch ${branch}`);
        const live = list.filter((j) => j.state !== 'finished');
        for (const j of live) jobs.stop(j.id, 'cancelled by self-serve request');
        return accepted(`cancelling ${live.length} build(s) at ${revision}`, live[0]?.id ?? null, { request_ids: live.map((j) => j.id) });
      },
    },
    {
      method: 'GET',
      path: '/:branch/rev/:revision/is_done',
      doc: 'Whether every build at this revision is complete, and whether all passed',
      run: (ctx) => {
        const branch = branchOf(ctx);
        const { revision, list } = atRevision(branch, ctx);
        if (!list.length) throw failed(404, `Revision ${revision} not found on branch ${branch}`);
        const complete = list.every((j) => j.state === 'finished');
        return { status: 200, obj: { job_complete: complete, job_passed: complete && list.every((j) => j.result === 'SUCCESS') }, title: `is_done ${revision}` };
      },
    },
  ];

  function table() {
    return routes.map((r) => ({ method: r.method, path: `${SELF_SERVE_PREFIX}${r.path}`.replace(/:(\w+)/g, '{$1}'), doc: r.doc }));
  }

  for (const r of routes) {
    router.add(r.method, `${SELF_SERVE_PREFIX}${r.path}`, (ctx) => {
      const fmt = selfServeFormat(ctx.query, ctx.req);
      try {
        const out = r.run(ctx);
        return render(fmt, out.status, out.obj, out.title);
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        // Errors of the queue (unknown builder 400, worker gone or queue full 503) too.
        const headers: Record<string, string> = { ...err.headers };
        if (err.retryAfter !== undefined) headers['Retry-After'] = String(err.retryAfter);
        return render(fmt, err.status, { status: 'FAILED', msg: err.message }, `FAILED: ${err.message}`, headers);
      }
    });
  }
}
