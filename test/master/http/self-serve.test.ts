import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authHeader, startFixture, waitUntil, type HttpFixture } from './fixture.js';

/**
 * A client written against Mozilla BuildAPI's self-serve table (paths, methods, parameters,
 * `{status, msg, request_id}` answers, `_method`, `format`/`Accept`), used unchanged against the
 * test master. Its only concession is the API's protection: the token and JSON bodies.
 */
class SelfServeClient {
  constructor(
    private readonly base: string,
    private readonly headers: Record<string, string>,
  ) {}

  async request(method: string, path: string, params?: Record<string, unknown>): Promise<{ status: number; body: any; headers: Headers }> {
    const init: RequestInit = { method, headers: { ...this.headers, Accept: 'application/json' } };
    if (params !== undefined) {
      init.body = JSON.stringify(params);
      (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
    }
    const r = await fetch(`${this.base}/self-serve${path}`, init);
    return { status: r.status, body: await r.json(), headers: r.headers };
  }
  branches = () => this.request('GET', '/branches');
  builders = (branch: string) => this.request('GET', `/${branch}/builders`);
  branch = (branch: string) => this.request('GET', `/${branch}`);
  jobStatus = (id: number) => this.request('GET', `/jobs/${id}`);
  build = (branch: string, id: number) => this.request('GET', `/${branch}/build/${id}`);
  request_ = (branch: string, id: number) => this.request('GET', `/${branch}/request/${id}`);
  revision = (branch: string, rev: string) => this.request('GET', `/${branch}/rev/${rev}`);
  isDone = (branch: string, rev: string) => this.request('GET', `/${branch}/rev/${rev}/is_done`);
  newBuildAtRev = (branch: string, rev: string, params?: Record<string, unknown>) => this.request('POST', `/${branch}/rev/${rev}`, params ?? {});
  rebuildBuild = (branch: string, buildId: number, priority?: number) => this.request('POST', `/${branch}/build`, { build_id: buildId, priority });
  rebuildRequest = (branch: string, requestId: number | string, priority?: number) => this.request('POST', `/${branch}/request`, { request_id: requestId, priority });
  reprioritize = (branch: string, requestId: number, priority: unknown) => this.request('PUT', `/${branch}/request/${requestId}`, { priority });
  /** DELETE faked through POST, as BuildAPI lets clients without DELETE do. */
  cancelRequest = (branch: string, requestId: number) => this.request('POST', `/${branch}/request/${requestId}`, { _method: 'DELETE' });
  cancelBuild = (branch: string, buildId: number) => this.request('DELETE', `/${branch}/build/${buildId}`);
  cancelRevision = (branch: string, rev: string) => this.request('DELETE', `/${branch}/rev/${rev}`);
}

describe('BuildAPI self-serve client against the test master', () => {
  let fx: HttpFixture;
  let ss: SelfServeClient;
  let branch: string;
  before(async () => {
    fx = await startFixture({ protocol: 'pb', extraWorkers: ['w-offline'] });
    ss = new SelfServeClient(fx.web.url, authHeader(fx.web));
    branch = fx.name;
  });
  after(async () => {
    await fx?.close();
  });

  const accepted = (r: { status: number; body: any }): number => {
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.status, 'OK');
    assert.equal(typeof r.body.msg, 'string');
    assert.equal(typeof r.body.request_id, 'number');
    return r.body.request_id as number;
  };
  const failedWith = (r: { status: number; body: any }, status: number, msg: RegExp): void => {
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal(r.body.status, 'FAILED');
    assert.match(r.body.msg, msg);
  };
  const done = (rev: string) =>
    waitUntil(
      () => ss.isDone(branch, rev),
      (r) => r.body.job_complete === true,
      `revision ${rev} done`,
    );

  test('informational requests: the table, branches (workers), builders', async () => {
    const root = await ss.request('GET', '');
    assert.equal(root.status, 200);
    const paths = (root.body as Array<{ method: string; path: string }>).map((r) => `${r.method} ${r.path}`);
    for (const p of [
      'GET /self-serve/branches',
      'GET /self-serve/jobs/{job_id}',
      'POST /self-serve/{branch}/build',
      'PUT /self-serve/{branch}/request/{request_id}',
      'GET /self-serve/{branch}/rev/{revision}/is_done',
    ]) {
      assert.ok(paths.includes(p), p);
    }
    assert.deepEqual((await ss.branches()).body, [branch, 'w-offline']);
    assert.deepEqual((await ss.builders(branch)).body, ['builder']);
  });

  test('a new build at a revision, its request, build, job status and is_done; rebuilds keep the revision and take a priority', async () => {
    const id = accepted(await ss.newBuildAtRev(branch, 'abc123', { command: 'echo built' }));
    assert.deepEqual((await done('abc123')).body, { job_complete: true, job_passed: true });
    const build = await ss.build(branch, id);
    assert.equal(build.status, 200);
    assert.equal(build.body.build_id, id);
    assert.equal(build.body.revision, 'abc123');
    assert.equal(build.body.buildername, 'builder');
    assert.equal(build.body.status, 0);
    assert.equal(typeof build.body.starttime, 'number');
    const req = await ss.request_(branch, id);
    assert.equal(req.body.complete, 1);
    assert.equal(req.body.request_id, id);
    const job = await ss.jobStatus(id);
    assert.equal(job.status, 200);
    assert.equal(job.body.request_id, id);
    assert.deepEqual(job.body.complete_data, { result: 'SUCCESS' });
    const rev = await ss.revision(branch, 'abc123');
    assert.deepEqual(
      rev.body.map((r: any) => r.request_id),
      [id],
    );

    const again = accepted(await ss.rebuildBuild(branch, id, 5));
    assert.notEqual(again, id);
    const r2 = await ss.request_(branch, again);
    assert.equal(r2.body.priority, 5);
    assert.equal(r2.body.revision, 'abc123');
    // No body: the steps of the newest job on the branch, at the new revision.
    const next = accepted(await ss.newBuildAtRev(branch, 'def456'));
    assert.equal((await done('def456')).body.job_passed, true);
    assert.equal((await ss.build(branch, next)).body.revision, 'def456');
    assert.ok((await ss.branch(branch)).body.some((r: any) => r.request_id === next));
  });

  test('requests queued behind a running build: reprioritize, cancel (through _method), cancel a revision', async () => {
    const running = accepted(await ss.newBuildAtRev(branch, 'slow1', { command: 'sleep 60' }));
    await waitUntil(
      () => ss.request_(branch, running),
      (r) => r.body.claimed_at > 0,
      'the slow build started',
    );
    const queued = accepted(await ss.rebuildRequest(branch, String(running)));
    assert.equal((await ss.request_(branch, queued)).body.build_id, null);
    failedWith(await ss.build(branch, queued), 404, /Build \d+ not found on branch/);
    accepted(await ss.reprioritize(branch, queued, 9));
    assert.equal((await ss.request_(branch, queued)).body.priority, 9);
    failedWith(await ss.reprioritize(branch, running, 1), 400, /already running/);
    failedWith(await ss.reprioritize(branch, queued, 'high'), 400, /Bad priority/);
    accepted(await ss.cancelRequest(branch, queued));
    const cancelled = await ss.request_(branch, queued);
    assert.equal(cancelled.body.complete, 1);
    assert.equal(cancelled.body.results, 6);
    failedWith(await ss.cancelRequest(branch, queued), 400, /already complete/);
    const c = await ss.cancelRevision(branch, 'slow1');
    accepted(c);
    assert.deepEqual(c.body.request_ids, [running]);
    assert.deepEqual((await done('slow1')).body, { job_complete: true, job_passed: false });
    failedWith(await ss.cancelBuild(branch, running), 400, /already complete/);
  });

  test('failures: 404 for unknown branches, builds and revisions, 400 for bad parameters, 503 for a worker that is not connected', async () => {
    failedWith(await ss.branch('nobody'), 404, /Branch nobody not found/);
    failedWith(await ss.build(branch, 9999), 404, /Build 9999 not found/);
    failedWith(await ss.jobStatus(9999), 404, /Job 9999 not found/);
    failedWith(await ss.revision(branch, 'never'), 404, /Revision never not found/);
    failedWith(await ss.isDone(branch, 'never'), 404, /Revision never not found/);
    failedWith(await ss.rebuildBuild(branch, 'x' as unknown as number), 400, /Bad build_id/);
    failedWith(await ss.request('POST', `/${branch}/request`, {}), 400, /Bad request_id/);
    const off = await ss.newBuildAtRev('w-offline', 'abc', { command: 'true' });
    failedWith(off, 503, /not connected/);
    assert.equal(off.headers.get('retry-after'), '5');
    // A form post (no JSON) is refused by the API's protection, still as a failed job request.
    const form = await fetch(`${fx.web.url}/self-serve/${branch}/build`, { method: 'POST', headers: authHeader(fx.web), body: new URLSearchParams({ build_id: '1' }) });
    assert.equal(form.status, 415);
    assert.equal(((await form.json()) as { status: string }).status, 'FAILED');
  });

  test('HTML unless JSON is asked for; the token is required', async () => {
    const html = await fetch(`${fx.web.url}/self-serve/branches`, { headers: authHeader(fx.web) });
    assert.equal(html.status, 200);
    assert.match(html.headers.get('content-type')!, /^text\/html/);
    assert.match(await html.text(), new RegExp(`<pre>[^]*${branch}[^]*</pre>`));
    const json = await fetch(`${fx.web.url}/self-serve/branches?format=json`, { headers: authHeader(fx.web) });
    assert.match(json.headers.get('content-type')!, /json/);
    const forcedHtml = await fetch(`${fx.web.url}/self-serve/nobody?format=html`, { headers: { ...authHeader(fx.web), Accept: 'application/json' } });
    assert.equal(forcedHtml.status, 404);
    assert.match(await forcedHtml.text(), /FAILED/);
    assert.equal((await fetch(`${fx.web.url}/self-serve/branches`)).status, 401);
  });
});
