import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { MasterHttpServer } from '../../../src/master/http/http-server.js';
import { authHeader, call, finished, jobWhen, shellStep, startFixture, waitUntil, type HttpFixture } from './fixture.js';

/** A job's live log over SSE: replay from an offset, live text, and an end event when the job ends. */

interface SseEvent {
  event: string;
  id?: string;
  data: any;
}

/** Open the stream; `events` fills as frames arrive, `ended` resolves when the server closes it. */
function openLog(web: MasterHttpServer, id: number, query = '', headers: Record<string, string> = {}) {
  const events: SseEvent[] = [];
  let status = 0;
  const ended = new Promise<void>((resolve, reject) => {
    const req = http.get(`${web.url}/api/v1/jobs/${id}/log/sse${query}`, { headers: { ...authHeader(web), ...headers } }, (res) => {
      status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (c: string) => {
        buf += c;
        let i: number;
        while ((i = buf.indexOf('\n\n')) !== -1) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(block)?.[1];
          events.push({ event: field('event') ?? 'message', id: field('id'), data: JSON.parse(field('data') ?? 'null') });
        }
      });
      res.on('end', () => resolve());
    });
    req.on('error', reject);
  });
  return { events, ended, status: () => status };
}

const textOf = (events: SseEvent[]): string => {
  let text = '';
  for (const e of events.filter((x) => x.event === 'log')) {
    assert.equal(e.data.offset, text.length, 'chunks follow each other');
    text += e.data.text;
    assert.equal(Number(e.id), text.length, 'the id is the offset after the chunk');
  }
  return text;
};

describe('live log over SSE', () => {
  let fx: HttpFixture;
  before(async () => {
    fx = await startFixture({ protocol: 'msgpack' });
  });
  after(async () => {
    await fx?.close();
  });

  test('replays what was printed before, follows the job, ends with it', async () => {
    const r = await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, steps: [shellStep('echo early-line'), shellStep('echo waiting; sleep 60')] });
    const id = r.body.request_id as number;
    await waitUntil(
      async () => (await call(fx.web, 'GET', `/api/v1/jobs/${id}/log`)).body as string,
      (t) => /early-line/.test(t),
      "the first step's output",
    );
    const stream = openLog(fx.web, id);
    await waitUntil(
      async () => textOf(stream.events),
      (t) => /early-line/.test(t),
      'the replay',
    );
    assert.equal(
      stream.events.some((e) => e.event === 'end'),
      false,
      'still open while the job runs',
    );
    await call(fx.web, 'DELETE', `/api/v1/jobs/${id}`);
    await stream.ended;
    const last = stream.events.at(-1)!;
    assert.equal(last.event, 'end');
    assert.equal(last.data.result, 'CANCELLED');
    const full = (await call(fx.web, 'GET', `/api/v1/jobs/${id}/log`)).body as string;
    assert.equal(textOf(stream.events), full);
    assert.equal(last.data.log_length, full.length);
  });

  test('a finished job: replay from an offset (query or Last-Event-ID), then the end at once', async () => {
    const id = (await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, command: 'echo finished-job' })).body.request_id as number;
    await jobWhen(fx.web, id, finished, 'finished');
    const full = (await call(fx.web, 'GET', `/api/v1/jobs/${id}/log`)).body as string;
    for (const [query, headers] of [
      ['?offset=10', {}],
      ['', { 'Last-Event-ID': '10' }],
    ] as const) {
      const s = openLog(fx.web, id, query, headers);
      await s.ended;
      assert.equal(s.status(), 200);
      const logs = s.events.filter((e) => e.event === 'log');
      assert.equal(logs[0]!.data.offset, 10);
      assert.equal(logs.map((e) => e.data.text).join(''), full.slice(10));
      assert.equal(s.events.at(-1)!.event, 'end');
      assert.equal(s.events.at(-1)!.data.result, 'SUCCESS');
    }
    const bad = await call(fx.web, 'GET', `/api/v1/jobs/${id}/log/sse?offset=-1`);
    assert.equal(bad.status, 400);
  });
});
