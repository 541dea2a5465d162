import { badRequest, notFound } from './http-error.js';
import type { JobQueue } from './job-queue.js';
import { parseJobSpec, parsePriority } from './job-spec.js';
import { CONTROL, noSuchControl, type ControlContext } from './json-rpc.js';
import { stepJSON, type Job } from './job.js';
import type { LogStreams } from './log-stream.js';
import type { Reply, RouteContext, Router } from './router.js';

/**
 * The REST API under /api/v1: workers, jobs, steps, logs, and the self-serve job requests
 * (Mozilla BuildAPI style answers: 202 `{status, msg, request_id}`).
 */

export const API_PREFIX = '/api/v1';

const ok = (json: unknown): Reply => ({ status: 200, json });
const accepted = (msg: string, requestId: number): Reply => ({ status: 202, json: { status: 'OK', msg, request_id: requestId } });

function jobOf(jobs: JobQueue, ctx: RouteContext): Job {
  const raw = ctx.params.id ?? '';
  if (!/^\d{1,12}$/.test(raw)) throw notFound(`no such job: ${raw.slice(0, 40)}`);
  return jobs.get(Number(raw));
}

function stepOf(job: Job, ctx: RouteContext) {
  const raw = ctx.params.step ?? '';
  const step = /^\d{1,6}$/.test(raw) ? job.steps[Number(raw)] : undefined;
  if (!step) throw notFound(`job ${job.id} has no step ${raw.slice(0, 40)}`);
  return step;
}

export function registerApi(router: Router, jobs: JobQueue, defaultBuilder: string, logStreams: LogStreams): void {
  const p = API_PREFIX;
  router
    // Discovery of the versioned roots, as Buildbot's /api lists its versions.
    .add('GET', '/api', () => ok({ versions: [{ name: 'v1', url: 'api/v1' }] }))
    .add('GET', p, () =>
      ok({
        endpoints: [
          'GET workers',
          'GET workers/:name',
          'GET jobs[?worker=&state=]',
          'POST jobs {worker, builder?, priority?, steps:[{command, args, data?|mastersrc?, keep?}] | command}',
          'GET|PUT|DELETE jobs/:id',
          'POST jobs/:id/rebuild',
          'POST jobs/:id {"jsonrpc": "2.0", "method": "stop"|"cancel"|"rebuild"|"reprioritize", "params": {...}, "id"}',
          'GET jobs/:id/steps[/:n[/logs]]',
          'GET jobs/:id/steps/:n/upload (the bytes an upload step with keep sent)',
          'GET jobs/:id/log[?offset=]',
          'GET jobs/:id/log/sse[?offset=] (SSE: replay, live text, end)',
        ],
      }),
    )
    .add('GET', `${p}/workers`, () => ok({ workers: jobs.workerNames.map((w) => jobs.workerJSON(w)) }))
    .add('GET', `${p}/workers/:name`, (ctx) => ok(jobs.workerJSON(ctx.params.name!)))
    .add('GET', `${p}/jobs`, (ctx) => {
      const worker = ctx.query.get('worker');
      const state = ctx.query.get('state');
      if (state !== null && !['queued', 'running', 'finished'].includes(state)) throw badRequest('state must be queued, running or finished');
      const list = jobs.all().filter((j) => (worker === null || j.worker === worker) && (state === null || j.state === state));
      return ok({ jobs: list.map((j) => j.toJSON()) });
    })
    .add('POST', `${p}/jobs`, (ctx) => {
      const job = jobs.submit(parseJobSpec(ctx.body, 'builder'));
      return accepted(`job ${job.id} queued on ${job.worker}`, job.id);
    })
    .add('GET', `${p}/jobs/:id`, (ctx) => ok(jobOf(jobs, ctx).toJSON()))
    .add('PUT', `${p}/jobs/:id`, (ctx) => {
      const job = jobOf(jobs, ctx);
      const priority = parsePriority(ctx.body.priority);
      if (priority === undefined) throw badRequest('missing parameter: priority');
      jobs.reprioritize(job.id, priority);
      return accepted(`job ${job.id} priority set to ${priority}`, job.id);
    })
    .add('DELETE', `${p}/jobs/:id`, (ctx) => {
      const job = jobOf(jobs, ctx);
      const outcome = jobs.stop(job.id);
      return accepted(outcome === 'cancelled' ? `job ${job.id} cancelled` : `job ${job.id} interrupting`, job.id);
    })
    .add('POST', `${p}/jobs/:id/rebuild`, (ctx) => {
      const old = jobOf(jobs, ctx);
      const job = jobs.rebuild(old.id, parsePriority(ctx.body.priority));
      return accepted(`job ${job.id} queued on ${job.worker} (rebuild of ${old.id})`, job.id);
    })
    .add(CONTROL, `${p}/jobs/:id`, (ctx) => {
      const { method, params } = (ctx as ControlContext).rpc;
      const job = jobOf(jobs, ctx);
      switch (method) {
        case 'stop':
        case 'cancel': {
          const outcome = jobs.stop(job.id, typeof params.reason === 'string' ? params.reason.slice(0, 500) : undefined);
          return ok({ request_id: job.id, outcome });
        }
        case 'rebuild': {
          const priority = parsePriority(params.priority);
          const next = jobs.rebuild(job.id, priority);
          return ok({ request_id: next.id, rebuild_of: job.id });
        }
        case 'reprioritize': {
          const priority = parsePriority(params.priority);
          if (priority === undefined) throw badRequest('missing parameter: priority');
          jobs.reprioritize(job.id, priority);
          return ok({ request_id: job.id, priority });
        }
        default:
          return noSuchControl(method, ['stop', 'cancel', 'rebuild', 'reprioritize']);
      }
    })
    .add('GET', `${p}/jobs/:id/steps`, (ctx) => ok({ steps: jobOf(jobs, ctx).steps.map(stepJSON) }))
    .add('GET', `${p}/jobs/:id/steps/:step`, (ctx) => ok(stepJSON(stepOf(jobOf(jobs, ctx), ctx))))
    .add('GET', `${p}/jobs/:id/steps/:step/logs`, (ctx) => {
      const step = stepOf(jobOf(jobs, ctx), ctx);
      return ok({ logs: step.run ? { ...step.run.logs } : {} });
    })
    .add('GET', `${p}/jobs/:id/steps/:step/upload`, (ctx) => {
      const job = jobOf(jobs, ctx);
      const step = stepOf(job, ctx);
      if (!step.uploadData) {
        const why =
          step.spec.command !== 'uploadFile' && step.spec.command !== 'uploadDirectory' ? 'is not an upload' : step.spec.keep ? 'has not finished' : 'did not ask to keep its bytes ("keep": true)';
        throw notFound(`step ${step.index} of job ${job.id} ${why}`);
      }
      return { status: 200, text: step.uploadData, contentType: 'application/octet-stream' };
    })
    .add('GET', `${p}/jobs/:id/log/sse`, (ctx) => {
      const lastEventId = ctx.req.headers['last-event-id'];
      const offset = ctx.query.get('offset') ?? (typeof lastEventId === 'string' ? lastEventId : null);
      return logStreams.stream(jobOf(jobs, ctx), offset, ctx.res);
    })
    .add('GET', `${p}/jobs/:id/log`, (ctx) => {
      const job = jobOf(jobs, ctx);
      const raw = ctx.query.get('offset') ?? '0';
      if (!/^\d{1,12}$/.test(raw)) throw badRequest('offset must be a non-negative integer');
      return { status: 200, text: job.log.slice(Number(raw)), contentType: 'text/plain; charset=utf-8', headers: { 'X-Job-State': job.state } };
    });
}
