import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authHeader, call, shellStep, startFixture, type HttpFixture } from './fixture.js';

describe('bad requests (no worker attached)', () => {
  let fx: HttpFixture;
  before(async () => {
    fx = await startFixture();
  });
  after(async () => {
    await fx?.close();
  });

  const cases: Array<[string, unknown, RegExp]> = [
    ['no worker', { steps: [shellStep('true')] }, /missing parameter: worker/],
    ['no steps', { worker: 'w-none' }, /missing parameter: steps/],
    ['empty steps', { worker: 'w-none', steps: [] }, /non-empty list/],
    ['both steps and command', { worker: 'w-none', steps: [shellStep('true')], command: 'true' }, /either steps or command/],
    ['unknown command', { worker: 'w-none', steps: [{ command: 'reboot', args: {} }] }, /steps\[0\]\.command must be one of/],
    ['args not an object', { worker: 'w-none', steps: [{ command: 'shell', args: [] }] }, /steps\[0\]\.args must be an object/],
    ['shell without a command', { worker: 'w-none', steps: [{ command: 'shell', args: {} }] }, /args\.command must be/],
    ['data on a shell step', { worker: 'w-none', steps: [{ ...shellStep('true'), data: 'x' }] }, /only for downloadFile/],
    ['bad priority', { worker: 'w-none', command: 'true', priority: 'high' }, /priority must be an integer/],
    ['unknown worker', { worker: 'nobody', command: 'true' }, /unknown worker: nobody/],
  ];
  for (const [name, body, reason] of cases) {
    test(`POST /jobs, ${name} → 400 with the reason`, async () => {
      const r = await call(fx.web, 'POST', '/api/v1/jobs', body);
      assert.equal(r.status, 400);
      // A job request's refusal, as BuildAPI answers it.
      assert.equal(r.body.status, 'FAILED');
      assert.equal(r.body.code, 400);
      assert.match(r.body.msg, reason);
      assert.match(r.body.error, reason);
    });
  }

  test('malformed JSON and steps → 400', async () => {
    const r = await fetch(`${fx.web.url}/api/v1/jobs`, { method: 'POST', headers: { ...authHeader(fx.web), 'Content-Type': 'application/json' }, body: '{"worker":' });
    assert.equal(r.status, 400);
    assert.match(((await r.json()) as { error: string }).error, /not valid JSON/);
    const steps = await call(fx.web, 'POST', '/api/v1/jobs', { worker: 'w-none', steps: '[{' });
    assert.equal(steps.status, 400);
    assert.match(steps.body.error, /steps is not valid JSON/);
  });

  test('a configured worker that is not connected → 503 with a retry hint', async () => {
    const r = await call(fx.web, 'POST', '/api/v1/jobs', { worker: 'w-none', command: 'true' });
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '5');
    assert.equal(r.body.retry_after, 5);
    assert.equal(r.body.status, 'FAILED');
    assert.match(r.body.msg, /not connected/);
    assert.match(r.body.error, /not connected/);
  });

  test('unknown resources → 404 JSON', async () => {
    for (const path of ['/api/v1/jobs/42', '/api/v1/jobs/abc', '/api/v1/jobs/42/steps/0', '/api/v1/workers/nobody', '/api/v1/nothing', '/nothing.html']) {
      const r = await call(fx.web, 'GET', path);
      assert.equal(r.status, 404, path);
      assert.equal(typeof r.body.error, 'string', path);
    }
    assert.equal((await call(fx.web, 'DELETE', '/api/v1/jobs/42')).status, 404);
  });

  test('a bad _method → 400; a method the resource lacks → 405', async () => {
    const r = await call(fx.web, 'POST', '/api/v1/jobs/1', { _method: 'PATCH' });
    assert.equal(r.status, 400);
    assert.match(r.body.error, /_method must be PUT or DELETE/);
    const m = await call(fx.web, 'PUT', '/api/v1/workers');
    assert.equal(m.status, 405);
    assert.equal(m.headers.get('allow'), 'GET');
  });

  test('/api lists the API versions', async () => {
    const r = await call(fx.web, 'GET', '/api');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { versions: [{ name: 'v1', url: 'api/v1' }] });
  });

  test('bad query parameters → 400', async () => {
    const r = await call(fx.web, 'GET', '/api/v1/jobs?state=sleeping');
    assert.equal(r.status, 400);
    assert.match(r.body.error, /state must be/);
  });

  test('an oversized body → 413', async () => {
    const r = await call(fx.web, 'POST', '/api/v1/jobs', { worker: 'w-none', command: 'x'.repeat(1024 * 1024 + 10) });
    assert.equal(r.status, 413);
  });
});

describe('bad requests with a worker attached', () => {
  let fx: HttpFixture;
  before(async () => {
    fx = await startFixture({ protocol: 'msgpack', maxQueuedPerWorker: 1 });
  });
  after(async () => {
    await fx?.close();
  });

  test('unknown builder → 400; reprioritizing without or with a bad priority → 400; a full queue → 503', async () => {
    const b = await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, builder: 'nope', command: 'true' });
    assert.equal(b.status, 400);
    assert.match(b.body.error, /unknown builder nope/);

    const running = (await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, command: 'sleep 60' })).body.request_id as number;
    const queued = await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, command: 'true' });
    assert.equal(queued.status, 202);
    const full = await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, command: 'true' });
    assert.equal(full.status, 503);
    assert.match(full.body.error, /queue .* is full/);
    assert.equal(full.headers.get('retry-after'), '5');

    const noPriority = await call(fx.web, 'PUT', `/api/v1/jobs/${queued.body.request_id}`, {});
    assert.equal(noPriority.status, 400);
    assert.match(noPriority.body.error, /missing parameter: priority/);
    const badPriority = await call(fx.web, 'PUT', `/api/v1/jobs/${queued.body.request_id}`, { priority: 1.5 });
    assert.equal(badPriority.status, 400);

    // Only queued jobs have a place in the queue.
    const runningPut = await call(fx.web, 'PUT', `/api/v1/jobs/${running}`, { priority: 3 });
    assert.equal(runningPut.status, 400);
    assert.match(runningPut.body.error, /only a queued job/);

    await call(fx.web, 'DELETE', `/api/v1/jobs/${queued.body.request_id}`);
    await call(fx.web, 'DELETE', `/api/v1/jobs/${running}`);
  });
});
