import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SseClient, type EventFrame } from './event-clients.js';
import { call, finished, jobWhen, startFixture, type HttpFixture } from './fixture.js';

/**
 * The queue runs one job per builder at a time and the builders of one worker at once, as
 * Buildbot does (README, "Try it without Buildbot"). Each job blocks until the test creates its
 * release file, so what runs together is seen through the API, never through timing.
 */

const started = (ev: EventFrame[], id: number): boolean => ev.some((e) => e.k === `jobs/${id}/started`);
const index = (ev: EventFrame[], key: string): number => ev.findIndex((e) => e.k === key);

for (const protocol of ['pb', 'msgpack'] as const) {
  describe(`one job per builder, builders concurrently, ${protocol} worker`, () => {
    let fx: HttpFixture;
    let tmp: string;
    before(async () => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'builder-queue-'));
      fx = await startFixture({ protocol, builders: ['b1', 'b2'] });
    });
    after(async () => {
      await fx?.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    /**
     * A job on `builder` that says it started, then waits for `release` to exist (or for the
     * test's directory to be gone: a failed test leaves no command behind).
     */
    const blockingJob = async (builder: string, release: string): Promise<number> => {
      const r = await call(fx.web, 'POST', '/api/v1/jobs', {
        worker: fx.name,
        builder,
        command: `echo started; while [ -d '${tmp}' ] && [ ! -e '${release}' ]; do sleep 0.05; done; echo released`,
      });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      return r.body.request_id as number;
    };

    /** An /sse client of every job's `started` and `finished` events. */
    const startsAndFinishes = async (): Promise<SseClient> => {
      const sse = await SseClient.connect(fx.web.url, fx.web.token, 'jobs/*/started');
      assert.equal((await call(fx.web, 'GET', `/sse/add/${sse.uuid}/jobs/*/finished`)).status, 200);
      return sse;
    };

    test('jobs on two builders of one worker run at the same time', async () => {
      const release = path.join(tmp, 'release-both');
      const sse = await startsAndFinishes();
      try {
        const a = await blockingJob('b1', release);
        const b = await blockingJob('b2', release);
        // Neither can finish before the release file exists: both started means both run at once.
        await sse.waitFor((ev) => started(ev, a) && started(ev, b), 'both jobs started');
        assert.equal(index(sse.events, `jobs/${a}/finished`), -1);
        const w = await call(fx.web, 'GET', `/api/v1/workers/${fx.name}`);
        assert.deepEqual(w.body.running, [a, b]);
        assert.deepEqual(w.body.queued, []);
        for (const id of [a, b]) assert.equal((await call(fx.web, 'GET', `/api/v1/jobs/${id}`)).body.state, 'running');
        fs.writeFileSync(release, '');
        for (const id of [a, b]) assert.equal((await jobWhen(fx.web, id, finished, 'finished')).result, 'SUCCESS');
      } finally {
        sse.close();
      }
    });

    test('two jobs on one builder run one after the other; the other builder is not held up', async () => {
      const releaseFirst = path.join(tmp, 'release-first');
      const releaseRest = path.join(tmp, 'release-rest');
      const sse = await startsAndFinishes();
      try {
        const first = await blockingJob('b1', releaseFirst);
        const second = await blockingJob('b1', releaseRest);
        const other = await blockingJob('b2', releaseRest);
        await sse.waitFor((ev) => started(ev, first) && started(ev, other), 'the first job on b1 and the job on b2 started');
        const w = await call(fx.web, 'GET', `/api/v1/workers/${fx.name}`);
        assert.deepEqual(w.body.running, [first, other]);
        assert.deepEqual(w.body.queued, [second]);
        assert.equal((await call(fx.web, 'GET', `/api/v1/jobs/${second}`)).body.state, 'queued');
        fs.writeFileSync(releaseFirst, '');
        await sse.waitFor((ev) => started(ev, second), 'the second job on b1 started');
        // The bus publishes in order: b1's first job finished before its second started.
        const firstDone = index(sse.events, `jobs/${first}/finished`);
        assert.ok(firstDone !== -1 && firstDone < index(sse.events, `jobs/${second}/started`), sse.events.map((e) => e.k).join(' '));
        assert.equal(index(sse.events, `jobs/${other}/finished`), -1, 'the job on b2 still runs');
        fs.writeFileSync(releaseRest, '');
        for (const id of [first, second, other]) assert.equal((await jobWhen(fx.web, id, finished, 'finished')).result, 'SUCCESS');
      } finally {
        sse.close();
      }
    });
  });
}
