import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CommandContext, CommandFactory, RemoteReader, RemoteWriter } from '../../src/commands/context.js';
import type { Registry } from '../../src/commands/registry.js';
import { CommandRunner } from '../../src/commands/runner.js';
import { metricsEndpoint } from '../../src/config/metrics-endpoint.js';
import { parseTac } from '../../src/config/tac-reader.js';
import { makeTac, type TacValues } from '../../src/config/tac-template.js';
import { ConfigError } from '../../src/errors.js';
import { ManualClock } from '../../src/util/clock.js';
import { formatLabels, WorkerMetrics } from '../../src/worker/metrics.js';
import { request, silentLog } from '../commands/fake-channel.js';

/** name{labels} → value, for every sample line; also checks every sample has HELP and TYPE before it. */
function samples(text: string): Map<string, number> {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const out = new Map<string, number>();
  const typed = new Map<string, string>();
  for (const line of text.slice(0, -1).split('\n')) {
    const t = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$/.exec(line);
    if (t) {
      typed.set(t[1]!, t[2]!);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* \S/.test(line)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    assert.ok(m, `a valid sample line: ${JSON.stringify(line)}`);
    assert.ok(typed.has(m[1]!), `${m[1]} has a TYPE line first`);
    if (typed.get(m[1]!) === 'counter') assert.match(m[1]!, /_total$/, 'counters end in _total');
    out.set(m[1]! + (m[2] ?? ''), Number(m[3]));
  }
  return out;
}

test('render: every metric with HELP/TYPE, values follow the events', () => {
  const m = new WorkerMetrics('pb', 1_000_000);
  let s = samples(m.render({ now: 1_000_000, rss: 12345 }));
  assert.equal(s.get('buildbot_worker_connected{protocol="pb"}'), 0);
  assert.equal(s.get('buildbot_worker_last_login_timestamp_seconds'), 0);
  assert.equal(s.get('buildbot_worker_uptime_seconds'), 0);
  assert.equal(s.get('process_resident_memory_bytes'), 12345);
  assert.equal(s.size, 12);

  m.reconnecting();
  m.loggedIn(1_002_500);
  m.commandStarted();
  m.commandStarted();
  m.commandStarted();
  m.commandEnded(false);
  m.commandEnded(true);
  m.addLogBytes(10);
  m.addLogBytes(5);
  m.addUploaded(7);
  m.addDownloaded(9);
  s = samples(m.render({ now: 1_004_000, rss: 1 }));
  assert.equal(m.connected, true);
  assert.equal(s.get('buildbot_worker_connected{protocol="pb"}'), 1);
  assert.equal(s.get('buildbot_worker_running_commands'), 1);
  assert.equal(s.get('buildbot_worker_commands_started_total'), 3);
  assert.equal(s.get('buildbot_worker_commands_completed_total'), 2);
  assert.equal(s.get('buildbot_worker_commands_failed_total'), 1);
  assert.equal(s.get('buildbot_worker_log_bytes_total'), 15);
  assert.equal(s.get('buildbot_worker_uploaded_bytes_total'), 7);
  assert.equal(s.get('buildbot_worker_downloaded_bytes_total'), 9);
  assert.equal(s.get('buildbot_worker_reconnects_total'), 1);
  assert.equal(s.get('buildbot_worker_last_login_timestamp_seconds'), 1002.5);
  assert.equal(s.get('buildbot_worker_uptime_seconds'), 4);

  m.connectionLost();
  assert.equal(m.connected, false);
  assert.equal(samples(m.render({ now: 1_004_000, rss: 1 })).get('buildbot_worker_connected{protocol="pb"}'), 0);
});

test('label values are escaped', () => {
  assert.equal(formatLabels({ protocol: 'a"b\\c\nd' }), '{protocol="a\\"b\\\\c\\nd"}');
});

function registryOf(factories: Record<string, CommandFactory>): Registry {
  return { get: (n) => factories[n], versions: () => ({}) };
}
const body =
  (fn: (ctx: CommandContext) => Promise<void>): CommandFactory =>
  () => ({ run: fn });

test('the runner counts commands, log bytes it sends, and transfer bytes through the master writer/reader', async () => {
  const metrics = new WorkerMetrics('msgpack_experimental_v7', 0);
  const runner = new CommandRunner({
    registry: registryOf({
      say: body(async (ctx) => {
        ctx.output('stdout', 'héllo\n'); // 7 UTF-8 bytes
        ctx.logfile('log', Buffer.from('ab\n'));
        ctx.status('rc', 0);
      }),
      rc1: body(async (ctx) => ctx.status('rc', 1)),
      raise: body(async () => {
        throw new Error('no');
      }),
      xfer: body(async (ctx) => {
        await ctx.writer().write(new Uint8Array(100));
        await ctx.writer().write(new Uint8Array(20));
        while ((await ctx.reader().read(4))?.length) {
          /* read to the end */
        }
        ctx.status('rc', 0);
      }),
    }),
    clock: new ManualClock(),
    log: silentLog,
    workerEnv: {},
    metrics,
  });
  const written: number[] = [];
  const writer: RemoteWriter = { write: async (d) => void written.push(d.length), close: async () => {}, utime: async () => {}, unpack: async () => {} };
  let left = 10;
  const reader: RemoteReader = {
    read: async (n) => {
      const k = Math.min(n, left);
      left -= k;
      return new Uint8Array(k);
    },
    close: async () => {},
  };
  const reqs = [request('say', {}, '1'), request('rc1', {}, '2'), request('raise', {}, '3'), request('xfer', {}, '4')];
  reqs[3]!.channel.writer = writer;
  reqs[3]!.channel.reader = reader;
  for (const r of reqs) runner.start(r);
  await Promise.all(reqs.map((r) => r.channel.done));
  await runner.whenIdle();
  const s = samples(metrics.render({ now: 0, rss: 0 }));
  assert.equal(s.get('buildbot_worker_commands_started_total'), 4);
  assert.equal(s.get('buildbot_worker_commands_completed_total'), 4);
  assert.equal(s.get('buildbot_worker_commands_failed_total'), 2, 'non-zero rc and a raised error');
  assert.equal(s.get('buildbot_worker_running_commands'), 0);
  assert.equal(s.get('buildbot_worker_log_bytes_total'), 10);
  assert.equal(s.get('buildbot_worker_uploaded_bytes_total'), 120);
  assert.deepEqual(written, [100, 20]);
  assert.equal(s.get('buildbot_worker_downloaded_bytes_total'), 10);
});

const tacBase: TacValues = {
  basedir: '/srv/w1',
  logSize: 10000000,
  logCount: '10',
  noLogrotate: false,
  host: 'm',
  port: 9989,
  connectionString: null,
  name: 'w1',
  passwd: 'pw',
  keepalive: 600,
  umask: 'None',
  maxdelay: 300,
  numcpus: 'None',
  allowShutdown: null,
  maxretries: 'None',
  useTls: false,
  deleteLeftoverDirs: false,
  proxyConnectionString: null,
  protocol: 'pb',
};

test('tac: metrics_port is a top-level assignment after Worker(...) and reads back; absent by default', () => {
  const plain = makeTac(tacBase);
  assert.ok(!plain.includes('metrics'));
  assert.equal(parseTac(plain, '/srv/w1/buildbot.tac', {}).metricsPort, undefined);
  assert.equal(makeTac({ ...tacBase, metricsPort: null }), plain);

  const tac = makeTac({ ...tacBase, metricsPort: 9101 });
  assert.match(tac, /\nmetrics_port = 9101\n/);
  const call = tac.slice(tac.indexOf('s = Worker('), tac.indexOf('s.setServiceParent'));
  assert.ok(!call.includes('metrics'), "Python's Worker(...) gets no metrics argument");
  assert.ok(tac.indexOf('metrics_port') > tac.indexOf('s.setServiceParent'));
  assert.equal(parseTac(tac, '/srv/w1/buildbot.tac', {}).metricsPort, 9101);

  const byEnv = tac.replace('metrics_port = 9101', "metrics_port = int(os.environ.get('MP', '0'))\nmetrics_host = '0.0.0.0'");
  const cfg = parseTac(byEnv, '/srv/w1/buildbot.tac', { MP: '9200' });
  assert.equal(cfg.metricsPort, 9200);
  assert.equal(cfg.metricsHost, '0.0.0.0');
  assert.throws(() => parseTac(tac.replace('9101', '70000'), '/srv/w1/buildbot.tac', {}), ConfigError);
  assert.throws(() => parseTac(tac.replace('9101', "'x'"), '/srv/w1/buildbot.tac', {}), ConfigError);
});

test('endpoint: off by default; flag over environment over tac; loopback unless a host is given', () => {
  assert.equal(metricsEndpoint({}, {}, {}), null);
  assert.equal(metricsEndpoint({ port: '' }, { WORKER_METRICS_PORT: ' ' }, {}), null);
  assert.deepEqual(metricsEndpoint({}, {}, { metricsPort: 1 }), { host: '127.0.0.1', port: 1 });
  assert.deepEqual(metricsEndpoint({}, { WORKER_METRICS_PORT: '2' }, { metricsPort: 1 }), { host: '127.0.0.1', port: 2 });
  assert.deepEqual(metricsEndpoint({ port: '3' }, { WORKER_METRICS_PORT: '2' }, { metricsPort: 1 }), { host: '127.0.0.1', port: 3 });
  assert.deepEqual(metricsEndpoint({ port: '3', host: '::1' }, { WORKER_METRICS_HOST: '0.0.0.0' }, { metricsHost: 'x' }), { host: '::1', port: 3 });
  assert.deepEqual(metricsEndpoint({ port: '3' }, { WORKER_METRICS_HOST: '0.0.0.0' }, { metricsHost: 'x' }), { host: '0.0.0.0', port: 3 });
  assert.throws(
    () => metricsEndpoint({ port: '65536' }, {}, {}),
    (e: ConfigError) => e instanceof ConfigError && /--metrics-port/.test(e.message),
  );
  assert.throws(
    () => metricsEndpoint({}, { WORKER_METRICS_PORT: 'http' }, {}),
    (e: ConfigError) => /WORKER_METRICS_PORT/.test(e.message),
  );
});
