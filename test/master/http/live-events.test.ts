import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SseClient, WsClient, stdioOf } from './event-clients.js';
import { call, finished, jobWhen, shellStep, startFixture, type HttpFixture } from './fixture.js';

// Each step's output reaches the master when the step ends (or after the worker's buffer
// timeout), so a job of several short steps followed by a long one shows live log lines
// while the job is still running.
const LIVE_STEPS = [shellStep('echo line-1'), shellStep('echo line-2'), shellStep('echo line-3'), shellStep('echo waiting; sleep 60')];
const hasLines = (text: string) => /line-1\n[\s\S]*line-2\n[\s\S]*line-3\n/.test(text);

for (const protocol of ['msgpack', 'pb'] as const) {
  describe(`live events, ${protocol} worker`, () => {
    let fx: HttpFixture;
    before(async () => {
      fx = await startFixture({ protocol });
    });
    after(async () => {
      await fx?.close();
    });

    test("WebSocket: ping, wildcard subscription receives a running job's log lines in order", async () => {
      const ws = await WsClient.connect(fx.web.url, fx.web.token);
      try {
        assert.deepEqual(await ws.call('ping'), { _id: 1, code: 200, msg: 'pong' });
        assert.deepEqual(await ws.call('startConsuming', { path: 'jobs/*/logs' }), { _id: 2, code: 200, msg: 'OK' });
        assert.deepEqual(await ws.call('startConsuming', { path: 'jobs/*/steps/*/finished' }), { _id: 3, code: 200, msg: 'OK' });
        const r = await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, steps: LIVE_STEPS });
        const id = r.body.request_id as number;
        await ws.waitFor((ev) => hasLines(stdioOf(ev, id)) && ev.some((e) => e.k === `jobs/${id}/steps/2/finished`), 'three log lines and three steps finished');
        // Live: the job is still in its last step.
        const running = await call(fx.web, 'GET', `/api/v1/jobs/${id}`);
        assert.equal(running.body.state, 'running');
        const text = stdioOf(ws.events, id);
        assert.ok(text.indexOf('line-1') < text.indexOf('line-2') && text.indexOf('line-2') < text.indexOf('line-3'));
        const stepsDone = ws.events.filter((e) => e.k.startsWith(`jobs/${id}/steps/`)).map((e) => e.k);
        assert.deepEqual(
          stepsDone.slice(0, 3),
          [0, 1, 2].map((n) => `jobs/${id}/steps/${n}/finished`),
        );
        // Nothing outside the subscribed paths.
        assert.ok(ws.events.every((e) => /^jobs\/\d+\/(logs|steps\/\d+\/finished)$/.test(e.k)));

        await call(fx.web, 'DELETE', `/api/v1/jobs/${id}`);
        await jobWhen(fx.web, id, finished, 'finished');
        const log = await call(fx.web, 'GET', `/api/v1/jobs/${id}/log`);
        await ws.waitFor((ev) => stdioOf(ev, id).length === log.body.length, 'the whole log');
        assert.equal(stdioOf(ws.events, id), log.body);

        // Raw frames are Buildbot's: `{k, m}` with k the /-joined key.
        const frame = ws.events.find((e) => e.k === `jobs/${id}/logs`)!;
        assert.deepEqual(Object.keys(frame).sort(), ['k', 'm']);
        assert.deepEqual(await ws.call('stopConsuming', { path: 'jobs/*/logs' }), { _id: 4, code: 200, msg: 'OK' });
      } finally {
        ws.close();
      }
    });

    test('SSE: handshake uuid, wildcard listen, add/remove filters, log lines in order', async () => {
      const sse = await SseClient.connect(fx.web.url, fx.web.token, 'jobs/*/logs');
      try {
        assert.match(sse.uuid, /^[0-9a-f-]{36}$/);
        const add = await call(fx.web, 'GET', `/sse/add/${sse.uuid}/jobs/*/finished`);
        assert.equal(add.status, 200);
        assert.equal(add.body, 'ok');
        const r = await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, steps: LIVE_STEPS });
        const id = r.body.request_id as number;
        await sse.waitFor((ev) => hasLines(stdioOf(ev, id)), 'three log lines');
        assert.equal((await call(fx.web, 'GET', `/api/v1/jobs/${id}`)).body.state, 'running');

        const remove = await call(fx.web, 'GET', `/sse/remove/${sse.uuid}/jobs/*/logs`);
        assert.equal(remove.status, 200);
        assert.equal(remove.body, 'ok');
        // Buildbot's frame: {key: [segments], message}.
        const first = sse.raw.find((f) => f.key.join('/') === `jobs/${id}/logs`)!;
        assert.deepEqual(first.key, ['jobs', String(id), 'logs']);
        const textAtRemove = stdioOf(sse.events, id);
        await call(fx.web, 'DELETE', `/api/v1/jobs/${id}`);
        await sse.waitFor((ev) => ev.some((e) => e.k === `jobs/${id}/finished`), 'the finished event');
        const fin = sse.events.find((e) => e.k === `jobs/${id}/finished`)!;
        assert.equal(fin.m.result, 'CANCELLED');
        // A job run after the remove: its finished event arrives, its log lines do not.
        const next = (await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, command: 'echo after-remove' })).body.request_id as number;
        await sse.waitFor((ev) => ev.some((e) => e.k === `jobs/${next}/finished`), 'the next job finished');
        assert.match((await call(fx.web, 'GET', `/api/v1/jobs/${next}/log`)).body, /after-remove/);
        assert.equal(stdioOf(sse.events, next), '');
        assert.equal(stdioOf(sse.events, id), textAtRemove);

        const unknown = await call(fx.web, 'GET', `/sse/add/00000000-0000-0000-0000-000000000000/jobs/*/logs`);
        assert.equal(unknown.status, 400);
        assert.equal(unknown.body, 'unknown uuid');
        const bad = await call(fx.web, 'GET', `/sse/remove/${sse.uuid}/jobs/*/logs`);
        assert.equal(bad.status, 404);
        assert.equal(bad.body, 'consumer is not listening to this event');
      } finally {
        sse.close();
      }
    });
  });
}

describe('WebSocket command errors', () => {
  let fx: HttpFixture;
  before(async () => {
    fx = await startFixture();
  });
  after(async () => {
    await fx?.close();
  });

  test('unknown command, bad path, missing path, not JSON, unsubscribed path', async () => {
    const ws = await WsClient.connect(fx.web.url, fx.web.token);
    try {
      const unknown = await ws.call('frobnicate');
      assert.equal(unknown.code, 404);
      assert.match(unknown.error, /no such command type 'frobnicate'/);
      const badPath = await ws.call('startConsuming', { path: 'jobs//logs' });
      assert.equal(badPath.code, 400);
      const globstarInside = await ws.call('startConsuming', { path: '**/logs' });
      assert.equal(globstarInside.code, 400);
      const missing = await ws.call('startConsuming');
      assert.equal(missing.code, 400);
      assert.match(missing.error, /missing path/);
      const notJson = await ws.raw('{nope');
      assert.deepEqual(notJson, { _id: null, code: 400, error: 'message is not JSON' });
      const notSubscribed = await ws.call('stopConsuming', { path: 'jobs/*/logs' });
      assert.equal(notSubscribed.code, 400);
      assert.match(notSubscribed.error, /path was not consumed/);
      // Buildbot's answers to frames without _id or cmd, and to a repeated startConsuming.
      assert.deepEqual(await ws.raw('{"cmd": "ping"}'), { _id: null, code: 400, error: "no '_id' in websocket frame" });
      assert.deepEqual(await ws.raw('{"_id": 7}'), { _id: null, code: 400, error: "no 'cmd' in websocket frame" });
      assert.deepEqual(await ws.call('startConsuming', { path: 'jobs/*/new' }), { _id: 6, code: 200, msg: 'OK' });
      assert.deepEqual(await ws.call('startConsuming', { path: 'jobs/*/new' }), { _id: 7, code: 200, msg: 'OK' });
      // The connection still works after the errors.
      assert.equal((await ws.call('ping')).code, 200);
    } finally {
      ws.close();
    }
  });
});
