import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, finished, jobWhen, startFixture, type HttpFixture } from './fixture.js';

/** Finished jobs and their logs do not pile up: past the limits the oldest go first. */

async function runJob(fx: HttpFixture, command: string): Promise<number> {
  const r = await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, command });
  assert.equal(r.status, 202);
  const id = r.body.request_id as number;
  await jobWhen(fx.web, id, finished, 'finished');
  return id;
}

const listed = async (fx: HttpFixture): Promise<number[]> => ((await call(fx.web, 'GET', '/api/v1/jobs')).body.jobs as Array<{ id: number }>).map((j) => j.id);

describe('finished jobs past the count limit', () => {
  let fx: HttpFixture;
  before(async () => {
    fx = await startFixture({ protocol: 'msgpack', maxFinishedJobs: 2 });
  });
  after(async () => {
    await fx?.close();
  });

  test('only the newest finished jobs stay; an evicted one answers 404 saying so', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) ids.push(await runJob(fx, `echo job-${i}`));
    assert.deepEqual(await listed(fx), ids.slice(2));
    const gone = await call(fx.web, 'GET', `/api/v1/jobs/${ids[0]}/log`);
    assert.equal(gone.status, 404);
    assert.match(gone.body.error, /evicted/);
    assert.match((await call(fx.web, 'GET', `/api/v1/jobs/${ids[3]}/log`)).body, /job-3/);
  });
});

describe('finished jobs past the log byte limit', () => {
  let fx: HttpFixture;
  before(async () => {
    fx = await startFixture({ protocol: 'msgpack', maxFinishedLogBytes: 250_000 });
  });
  after(async () => {
    await fx?.close();
  });

  test('jobs whose logs exceed the budget go, oldest first; the newest stays even alone over it', async () => {
    const ids: number[] = [];
    // Each job holds 100 000 x and its header lines (the worker's environment: a few kB),
    // counted once although both the job's log and its step's stdout show them: two jobs fit
    // the budget, three do not.
    for (let i = 0; i < 3; i++) ids.push(await runJob(fx, `head -c 100000 /dev/zero | tr '\\0' x`));
    assert.deepEqual(await listed(fx), ids.slice(1));
    const big = await runJob(fx, `head -c 400000 /dev/zero | tr '\\0' x`);
    assert.deepEqual(await listed(fx), [big]);
    assert.ok((((await call(fx.web, 'GET', `/api/v1/jobs/${big}/log`)).body as string).match(/x/g)?.length ?? 0) >= 400000);
  });
});
