import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, finished, jobWhen, shellStep, startFixture, type HttpFixture } from './fixture.js';

for (const protocol of ['pb', 'msgpack'] as const) {
  describe(`job lifecycle through REST, ${protocol} worker`, () => {
    let fx: HttpFixture;
    before(async () => {
      fx = await startFixture({ protocol });
    });
    after(async () => {
      await fx?.close();
    });

    test('the worker is listed as connected with its builders', async () => {
      const r = await call(fx.web, 'GET', `/api/v1/workers/${fx.name}`);
      assert.equal(r.status, 200);
      assert.equal(r.body.connected, true);
      assert.equal(r.body.protocol, protocol);
      assert.deepEqual(r.body.builders, ['builder']);
      assert.equal(typeof r.body.info.basedir, 'string');
    });

    test('submit → 202, runs, result, rc and logs', async () => {
      const r = await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, steps: [shellStep('echo hello; echo oops >&2; exit 0')] });
      assert.equal(r.status, 202);
      assert.equal(r.body.status, 'OK');
      assert.equal(typeof r.body.request_id, 'number');
      assert.match(r.body.msg, /queued/);
      const job = await jobWhen(fx.web, r.body.request_id, finished, 'finished');
      assert.equal(job.result, 'SUCCESS');
      const steps = job.steps as Array<Record<string, unknown>>;
      assert.equal(steps[0]!.rc, 0);
      assert.equal(steps[0]!.result, 'SUCCESS');
      const logs = await call(fx.web, 'GET', `/api/v1/jobs/${r.body.request_id}/steps/0/logs`);
      assert.equal(logs.body.logs.stdout, 'hello\n');
      assert.equal(logs.body.logs.stderr, 'oops\n');
      const log = await call(fx.web, 'GET', `/api/v1/jobs/${r.body.request_id}/log`);
      assert.equal(log.status, 200);
      assert.match(log.headers.get('content-type')!, /^text\/plain/);
      assert.match(log.body, /hello\n/);
      const tail = await call(fx.web, 'GET', `/api/v1/jobs/${r.body.request_id}/log?offset=${log.body.length - 5}`);
      assert.equal(tail.body, log.body.slice(-5));
    });

    test('a failing step stops the job; later steps are skipped', async () => {
      const r = await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, steps: [shellStep('exit 3'), shellStep('echo never')] });
      const job = await jobWhen(fx.web, r.body.request_id, finished, 'finished');
      assert.equal(job.result, 'FAILURE');
      const steps = job.steps as Array<Record<string, unknown>>;
      assert.equal(steps[0]!.rc, 3);
      assert.equal(steps[1]!.state, 'skipped');
    });

    test('transfers and file commands in one job (form-free JSON steps)', async () => {
      const r = await call(fx.web, 'POST', '/api/v1/jobs', {
        worker: fx.name,
        steps: [
          { command: 'mkdir', args: { dir: 'build/sub' } },
          { command: 'downloadFile', args: { workerdest: 'sub/in.txt', workdir: 'build' }, data: 'payload from the master\n' },
          { command: 'stat', args: { file: 'sub/in.txt', workdir: 'build' } },
          shellStep('cat sub/in.txt'),
          { command: 'uploadFile', args: { workersrc: 'sub/in.txt', workdir: 'build' } },
          { command: 'rmdir', args: { dir: 'build/sub' } },
        ],
      });
      assert.equal(r.status, 202);
      const job = await jobWhen(fx.web, r.body.request_id, finished, 'finished');
      assert.equal(job.result, 'SUCCESS', JSON.stringify(job));
      const logs = await call(fx.web, 'GET', `/api/v1/jobs/${r.body.request_id}/steps/3/logs`);
      assert.equal(logs.body.logs.stdout, 'payload from the master\n');
    });

    test('queue: reprioritize, cancel queued, interrupt running (with _method), rebuild', async () => {
      const blocker = await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, command: 'echo started; sleep 60' });
      const blockerId = blocker.body.request_id as number;
      await jobWhen(fx.web, blockerId, (j) => j.state === 'running', 'running');
      const a = (await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, command: 'echo A' })).body.request_id as number;
      const b = (await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, command: 'echo B' })).body.request_id as number;
      const c = (await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, command: 'echo C' })).body.request_id as number;
      let w = await call(fx.web, 'GET', `/api/v1/workers/${fx.name}`);
      assert.deepEqual(w.body.queued, [a, b, c]);
      assert.deepEqual(w.body.running, [blockerId]);

      const put = await call(fx.web, 'PUT', `/api/v1/jobs/${c}`, { priority: 5 });
      assert.equal(put.status, 202);
      assert.equal(put.body.request_id, c);
      w = await call(fx.web, 'GET', `/api/v1/workers/${fx.name}`);
      assert.deepEqual(w.body.queued, [c, a, b]);
      // The same through a POST with _method in its JSON body.
      const put2 = await call(fx.web, 'POST', `/api/v1/jobs/${b}`, { _method: 'PUT', priority: '1' });
      assert.equal(put2.status, 202);
      w = await call(fx.web, 'GET', `/api/v1/workers/${fx.name}`);
      assert.deepEqual(w.body.queued, [c, b, a]);

      const del = await call(fx.web, 'DELETE', `/api/v1/jobs/${a}`);
      assert.equal(del.status, 202);
      assert.match(del.body.msg, /cancelled/);
      const cancelled = await call(fx.web, 'GET', `/api/v1/jobs/${a}`);
      assert.equal(cancelled.body.state, 'finished');
      assert.equal(cancelled.body.result, 'CANCELLED');
      assert.equal(cancelled.body.started_at, null);

      const stop = await call(fx.web, 'POST', `/api/v1/jobs/${blockerId}`, { _method: 'DELETE' });
      assert.equal(stop.status, 202);
      assert.match(stop.body.msg, /interrupting/);
      const stopped = await jobWhen(fx.web, blockerId, finished, 'finished after the interrupt');
      assert.equal(stopped.result, 'CANCELLED');
      const stoppedStep = (stopped.steps as Array<Record<string, unknown>>)[0]!;
      assert.notEqual(stoppedStep.result, 'SUCCESS');
      assert.notEqual(stoppedStep.rc, 0);

      const jc = await jobWhen(fx.web, c, finished, 'finished');
      const jb = await jobWhen(fx.web, b, finished, 'finished');
      assert.equal(jc.result, 'SUCCESS');
      assert.equal(jb.result, 'SUCCESS');
      assert.ok((jc.finished_at as number) <= (jb.started_at as number), 'the higher priority job ran first');

      const again = await call(fx.web, 'DELETE', `/api/v1/jobs/${c}`);
      assert.equal(again.status, 400);
      assert.match(again.body.error, /already finished/);

      const rebuild = await call(fx.web, 'POST', `/api/v1/jobs/${c}/rebuild`);
      assert.equal(rebuild.status, 202);
      assert.notEqual(rebuild.body.request_id, c);
      const rebuilt = await jobWhen(fx.web, rebuild.body.request_id, finished, 'finished');
      assert.equal(rebuilt.rebuild_of, c);
      assert.equal(rebuilt.priority, 5);
      assert.equal(rebuilt.result, 'SUCCESS');
      const log = await call(fx.web, 'GET', `/api/v1/jobs/${rebuild.body.request_id}/steps/0/logs`);
      assert.equal(log.body.logs.stdout, 'C\n');
    });
  });
}
