import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { startLocalWorker, type LocalProtocol, type LocalWorker } from '../../src/cli/local-worker.js';
import { startTestMaster, type TestMaster } from '../../src/master/test-master.js';
import { WorkerMetrics } from '../../src/worker/metrics.js';
import { startMetricsServer } from '../../src/worker/metrics-server.js';
import { eventually } from '../helpers/eventually.js';

/** Poll `check` until it returns true or `timeoutMs` passes. */

/** name{labels} → value of every sample line. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

test('the server: content types, 404/405, healthz follows the connection, bad ports are a ConfigError', async () => {
  const metrics = new WorkerMetrics('pb', 0);
  const server = await startMetricsServer({ metrics, host: '127.0.0.1', port: 0, sample: () => ({ now: 5000, rss: 42 }) });
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const m = await fetch(`${base}/metrics`);
    assert.equal(m.status, 200);
    assert.equal(m.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const s = parse(await m.text());
    assert.equal(s.get('process_resident_memory_bytes'), 42);
    assert.equal(s.get('buildbot_worker_uptime_seconds'), 5);
    const down = await fetch(`${base}/healthz`);
    assert.equal(down.status, 503);
    await down.text();
    metrics.loggedIn(1000);
    const up = await fetch(`${base}/healthz`);
    assert.equal(up.status, 200);
    assert.equal(await up.text(), 'ok\n');
    const nf = await fetch(`${base}/other`);
    assert.equal(nf.status, 404);
    await nf.text();
    const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    await post.text();
    await assert.rejects(startMetricsServer({ metrics, host: '127.0.0.1', port: server.port }), (e: Error) => e.name === 'ConfigError' && /cannot listen/.test(e.message));
  } finally {
    await server.close();
  }
});

const PASSWORD = 'metrics-pw';

for (const protocol of ['pb', 'msgpack'] as LocalProtocol[]) {
  describe(`metrics endpoint of the CLI worker over ${protocol}`, () => {
    let master: TestMaster | undefined;
    let worker: LocalWorker | undefined;
    after(async () => {
      await worker?.stop();
      await master?.close();
    });

    test('counters move with a shell step and transfers; /healthz turns 503 when the master goes away', async () => {
      const name = `metrics-${protocol}`;
      master = await startTestMaster({ workers: { [name]: PASSWORD }, builders: [{ name: 'builder', builddir: 'builder' }] });
      const attached = master.waitForWorker(name, { timeoutMs: 20_000 });
      // PB: create-worker writes metrics_port into buildbot.tac; msgpack: the environment variable.
      worker = await startLocalWorker({
        basedir: mkdtempSync(path.join(os.tmpdir(), `metrics-${protocol}-`)),
        protocol,
        port: protocol === 'pb' ? master.pbPort : master.msgpackPort,
        name,
        password: PASSWORD,
        ...(protocol === 'pb' ? { createArgs: ['--metrics-port', '0'] } : { env: { WORKER_METRICS_PORT: '0' } }),
      });
      const w = worker;
      const handle = await attached;
      let port = 0;
      await eventually(() => {
        const m = /metrics: serving http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(w.output());
        if (m) port = Number(m[1]);
        return port > 0;
      }, 'the metrics address in the log');
      const get = async (p: string) => {
        const r = await fetch(`http://127.0.0.1:${port}${p}`);
        return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
      };
      const metrics = async () => parse((await get('/metrics')).text);

      await eventually(async () => (await get('/healthz')).status === 200, '/healthz 200');
      // Baseline after attaching: the master may already have run commands (e.g. directory setup).
      const before = await metrics();
      const wire = protocol === 'pb' ? 'pb' : 'msgpack_experimental_v7';
      assert.equal(before.get(`buildbot_worker_connected{protocol="${wire}"}`), 1);
      assert.ok(before.get('buildbot_worker_last_login_timestamp_seconds')! > Date.now() / 1000 - 60);
      assert.ok(before.get('process_resident_memory_bytes')! > 1_000_000);
      assert.ok(before.get('buildbot_worker_uptime_seconds')! >= 0);

      const builddir = path.join(w.basedir, 'builder', 'build');
      mkdirSync(builddir, { recursive: true });
      const ok = await handle.startCommand('builder', 'shell', { command: ['sh', '-c', 'printf "%s\\n" hello-metrics'], workdir: 'build' }).done;
      assert.equal(ok.rc, 0);
      const bad = await handle.startCommand('builder', 'shell', { command: 'exit 4', workdir: 'build' }).done;
      assert.equal(bad.rc, 4);
      writeFileSync(path.join(builddir, 'up.bin'), Buffer.alloc(5000, 1));
      const up = await handle.startCommand('builder', 'uploadFile', { workersrc: 'up.bin', workdir: 'build' }, { upload: { collect: true } }).done;
      assert.equal(up.upload!.data.length, 5000);
      const down = await handle.startCommand('builder', 'downloadFile', { workerdest: 'down.bin', workdir: 'build' }, { download: { data: Buffer.alloc(3000, 2), faithfulReadBug: false } }).done;
      assert.equal(down.status, 'SUCCESS');

      // The master sees `complete` a moment before the worker's runner has finished the command.
      await eventually(async () => (await metrics()).get('buildbot_worker_running_commands') === 0, 'no running command');
      const r = await get('/metrics');
      assert.equal(r.type, 'text/plain; version=0.0.4; charset=utf-8');
      const s = parse(r.text);
      assert.equal(s.get('buildbot_worker_commands_started_total')! - before.get('buildbot_worker_commands_started_total')!, 4);
      assert.equal(s.get('buildbot_worker_commands_completed_total')! - before.get('buildbot_worker_commands_completed_total')!, 4);
      assert.equal(s.get('buildbot_worker_commands_failed_total')! - before.get('buildbot_worker_commands_failed_total')!, 1);
      assert.equal(s.get('buildbot_worker_running_commands'), 0);
      // The headers and "hello-metrics\n" at least.
      assert.ok(s.get('buildbot_worker_log_bytes_total')! - before.get('buildbot_worker_log_bytes_total')! > 'hello-metrics\n'.length, r.text);
      assert.equal(s.get('buildbot_worker_uploaded_bytes_total')! - before.get('buildbot_worker_uploaded_bytes_total')!, 5000);
      assert.equal(s.get('buildbot_worker_downloaded_bytes_total')! - before.get('buildbot_worker_downloaded_bytes_total')!, 3000);
      assert.equal(s.get('buildbot_worker_reconnects_total'), 0);

      await master.close();
      master = undefined;
      await eventually(async () => (await get('/healthz')).status === 503, '/healthz 503 after the master closed');
      const gone = await metrics();
      assert.equal(gone.get(`buildbot_worker_connected{protocol="${wire}"}`), 0);
      await eventually(async () => (await metrics()).get('buildbot_worker_reconnects_total')! >= 1, 'a reconnect attempt counted');
    });
  });
}
