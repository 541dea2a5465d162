import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authHeader, call, finished, jobWhen, startFixture, type HttpFixture } from './fixture.js';

/** Control calls as a Buildbot www client sends them: JSON-RPC 2.0 POSTed to the resource. */

const rpc = (method: string, params: Record<string, unknown> = {}, id: number | string | null = 1) => ({ jsonrpc: '2.0', method, params, id });

describe('JSON-RPC control on /api/v1 jobs', () => {
  let fx: HttpFixture;
  before(async () => {
    fx = await startFixture({ protocol: 'msgpack' });
  });
  after(async () => {
    await fx?.close();
  });

  test('reprioritize, rebuild with a priority, stop: Buildbot-shaped answers', async () => {
    const running = (await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, command: 'sleep 60' })).body.request_id as number;
    const queued = (await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, command: 'echo queued' })).body.request_id as number;

    const re = await call(fx.web, 'POST', `/api/v1/jobs/${queued}`, rpc('reprioritize', { priority: 7 }, 'a'));
    assert.equal(re.status, 200);
    assert.deepEqual(re.body, { jsonrpc: '2.0', id: 'a', result: { request_id: queued, priority: 7 } });
    assert.equal((await call(fx.web, 'GET', `/api/v1/jobs/${queued}`)).body.priority, 7);

    const rb = await call(fx.web, 'POST', `/api/v1/jobs/${queued}`, rpc('rebuild', { priority: 3 }, 2));
    assert.equal(rb.status, 200);
    assert.equal(rb.body.id, 2);
    const copy = rb.body.result.request_id as number;
    const copyJob = (await call(fx.web, 'GET', `/api/v1/jobs/${copy}`)).body;
    assert.equal(copyJob.priority, 3);
    assert.equal(copyJob.rebuild_of, queued);

    const stop = await call(fx.web, 'POST', `/api/v1/jobs/${running}`, rpc('stop', { reason: 'enough' }, 3));
    assert.deepEqual(stop.body, { jsonrpc: '2.0', id: 3, result: { request_id: running, outcome: 'interrupting' } });
    assert.equal((await jobWhen(fx.web, running, finished, 'finished')).result, 'CANCELLED');
    await jobWhen(fx.web, copy, finished, 'finished');

    // The REST rebuild takes a priority too.
    const rest = await call(fx.web, 'POST', `/api/v1/jobs/${queued}/rebuild`, { priority: 9 });
    assert.equal(rest.status, 202);
    assert.equal((await call(fx.web, 'GET', `/api/v1/jobs/${rest.body.request_id}`)).body.priority, 9);
    await jobWhen(fx.web, rest.body.request_id, finished, 'finished');
  });

  test('errors: codes and statuses as Buildbot answers them', async () => {
    const cases: Array<[string, Record<string, unknown>, number, number, RegExp]> = [
      ['/api/v1/jobs/1', rpc('explode'), 501, -32601, /not supported/],
      ['/api/v1/jobs/1', { jsonrpc: '2.0', method: 'stop', id: 1 }, 400, -32600, /missing key 'params'/],
      ['/api/v1/jobs/1', { jsonrpc: '1.0', method: 'stop', params: {}, id: 1 }, 400, -32600, /only JSONRPC 2.0/],
      ['/api/v1/jobs/1', { jsonrpc: '2.0', method: 7, params: {}, id: 1 }, 400, -32600, /'method' must be a string/],
      ['/api/v1/jobs/999', rpc('stop'), 404, -32600, /no such job/],
      ['/api/v1/jobs/1', rpc('reprioritize', {}), 400, -32602, /job 1 is finished|missing parameter: priority/],
      ['/api/v1/workers', rpc('stop'), 501, -32601, /no control actions/],
      ['/api/v1/nothing', rpc('stop'), 404, -32600, /no such resource/],
    ];
    for (const [path, body, status, code, message] of cases) {
      const r = await call(fx.web, 'POST', path, body);
      assert.equal(r.status, status, `${path} ${JSON.stringify(body)}`);
      assert.equal(r.body.jsonrpc, '2.0');
      assert.equal(r.body.error.code, code, JSON.stringify(r.body));
      assert.match(r.body.error.message, message);
    }
  });

  test('a body that is not JSON-RPC: parse error, invalid request, per JSON-RPC 2.0', async () => {
    const post = async (path: string, raw: string) => {
      const r = await fetch(fx.web.url + path, { method: 'POST', headers: { ...authHeader(fx.web), 'Content-Type': 'application/json' }, body: raw });
      return { status: r.status, body: JSON.parse(await r.text()) };
    };
    for (const raw of ['{"jsonrpc": "2.0", "method": "stop"', 'not json', '{"a": 1,}']) {
      const r = await post('/api/v1/jobs/1', raw);
      assert.equal(r.status, 400, raw);
      assert.deepEqual(r.body, { jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null }, raw);
    }
    const batch = await post('/api/v1/jobs/1', JSON.stringify([rpc('stop')]));
    assert.equal(batch.status, 400);
    assert.deepEqual(batch.body, { jsonrpc: '2.0', error: { code: -32600, message: 'JSONRPC batch requests are not supported' }, id: null });
    const scalar = await post('/api/v1/jobs/1', '42');
    assert.equal(scalar.body.error.code, -32600);
    assert.equal(scalar.body.id, null);
    // An object without the envelope is an invalid request, not a REST call the resource lacks.
    const bare = await post('/api/v1/jobs/1', JSON.stringify({ method: 'stop', params: {}, id: 5 }));
    assert.equal(bare.status, 400);
    assert.equal(bare.body.error.code, -32600);
    assert.match(bare.body.error.message, /missing key 'jsonrpc'/);
    // Bad params of a known method: -32602, the call's id kept.
    const badParams = await post('/api/v1/jobs/1', JSON.stringify(rpc('rebuild', { priority: 'high' }, 'p')));
    assert.equal(badParams.status, 400);
    assert.equal(badParams.body.id, 'p');
    assert.equal(badParams.body.error.code, -32602);
    assert.match(badParams.body.error.message, /priority must be an integer/);
    // A job submission (plain REST, not a control resource) keeps its REST error for bad JSON.
    const submit = await post('/api/v1/jobs', 'not json');
    assert.equal(submit.status, 400);
    assert.match(submit.body.error, /not valid JSON/);
  });
});
