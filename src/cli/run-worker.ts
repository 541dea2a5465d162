import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRegistry } from '../commands/registry.js';
import { CommandRunner } from '../commands/runner.js';
import { transportOptionsFor } from '../config/connection-string.js';
import { configFromEnvironment } from '../config/env-config.js';
import { exitWhenIdleSeconds } from '../config/exit-when-idle.js';
import { metricsEndpoint, type MetricsEndpoint } from '../config/metrics-endpoint.js';
import { parseProxyAddress } from '../config/proxy-address.js';
import { readTacFile } from '../config/tac-reader.js';
import type { WorkerConfig } from '../config/worker-config.js';
import { ConfigError } from '../errors.js';
import { systemClock } from '../util/clock.js';
import { createWorkerLog } from '../util/log.js';
import { effectiveMaxDelay } from '../worker/backoff.js';
import { WorkerBot } from '../worker/bot.js';
import { WorkerMetrics } from '../worker/metrics.js';
import type { MetricsServer } from '../worker/metrics-server.js';
import { scrubEnvironment } from '../worker/environment.js';
import { WorkerService } from '../worker/service.js';
import { sessionFactoryFor } from '../worker/session-factories.js';
import { SHUTDOWN_FILE_NAME, ShutdownFileWatcher } from '../worker/shutdown-file.js';
import { WORKER_VERSION } from '../worker/version.js';
import type { Print } from './output.js';
import { claimPidFile, releasePidFile } from './pid-file.js';
import { pid1Warning } from './pid1.js';

/** A process that does not exit this long after the worker stopped is made to. */
const EXIT_SAFETY_NET_MS = 2_000;

/**
 * The configuration of `basedir`: its buildbot.tac, or — for containers, when there is no
 * tac and BUILDMASTER is set — the environment (`configFromEnvironment`).
 */
export function loadConfig(basedir: string, env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  if (!fs.existsSync(path.join(basedir, 'buildbot.tac')) && env.BUILDMASTER !== undefined) {
    return configFromEnvironment({ ...env, BUILDBOT_BASEDIR: env.BUILDBOT_BASEDIR ?? basedir }, basedir);
  }
  return readTacFile(basedir, env);
}

export interface RunWorkerOptions {
  /** Started by `start` as a daemon: log to twistd.log only. */
  daemonChild?: boolean;
  /** `--exit-when-idle SECONDS` as given; WORKER_EXIT_WHEN_IDLE when absent. */
  exitWhenIdle?: string;
  /** `--metrics-port` / `--metrics-host` as given; WORKER_METRICS_PORT/HOST, then the tac, when absent. */
  metricsPort?: string;
  metricsHost?: string;
}

const TWISTD_ALREADY_RUNNING = (pid: number) =>
  `Another twistd server is running, PID ${pid}\n\n` +
  'This could either be a previously started instance of your application or a\n' +
  'different application entirely. To start a new one, either run it in some other\n' +
  'directory, or use the --pidfile and --logfile parameters to avoid clashes.\n';

/**
 * Run the worker in this process until it stops (`start --nodaemon`, and the daemon child
 * of `start`). Writes twistd.pid (also in the foreground, unlike Python), twistd.hostname,
 * logs to twistd.log; SIGTERM/SIGINT stop gracefully, a second one forces; SIGHUP or a
 * touched shutdown.stamp ask the master for a shutdown when `allow_shutdown` says so.
 * Resolves with the exit code: 0 when stopped, 1 when it gave up (maxretries) or could not start.
 */
export async function runWorker(basedir: string, opts: RunWorkerOptions, print: Print): Promise<number> {
  let cfg: WorkerConfig;
  let idleSeconds: number | null;
  let metricsAt: MetricsEndpoint | null;
  try {
    cfg = loadConfig(basedir);
    idleSeconds = exitWhenIdleSeconds(opts.exitWhenIdle, process.env);
    metricsAt = metricsEndpoint({ port: opts.metricsPort, host: opts.metricsHost }, process.env, cfg);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    print(`cannot start the worker: ${err.message}`);
    return 1;
  }
  // Neither builds nor getWorkerInfo may see the password variables (`docs/python-worker.md` §15).
  scrubEnvironment(process.env);
  const workerEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) workerEnv[k] = v;

  const claim = claimPidFile(cfg.basedir);
  if (!claim.ok) {
    print(TWISTD_ALREADY_RUNNING(claim.running));
    return 1;
  }
  const { log, close } = createWorkerLog({
    basedir: cfg.logToStdout ? undefined : cfg.basedir,
    rotation: cfg.logRotation,
    stdout: cfg.logToStdout || !opts.daemonChild,
    secrets: [cfg.password, ...proxyPassword(cfg.proxyConnectionString)],
  });
  const cleanups: Array<() => void> = [];
  try {
    log.info('Log opened.');
    if (claim.stale) log.info(`Removing stale pidfile ${path.join(cfg.basedir, 'twistd.pid')} (pid ${claim.stale})`);
    log.info(`Starting Worker -- version: ${WORKER_VERSION}`);
    const asInit = pid1Warning();
    if (asInit) log.warn(asInit);
    if (cfg.umask !== null) process.umask(cfg.umask);
    try {
      log.info('recording hostname in twistd.hostname');
      fs.writeFileSync(path.join(cfg.basedir, 'twistd.hostname'), `${os.hostname()}\n`);
    } catch {
      log.info('failed - ignoring');
    }
    let transport;
    try {
      transport = transportOptionsFor(cfg);
    } catch (err) {
      log.error(`cannot start the worker: ${(err as Error).message}`);
      return 1;
    }

    const metrics = metricsAt ? new WorkerMetrics(cfg.protocol, systemClock.now()) : undefined;
    if (metricsAt && metrics) {
      // Imported only when enabled: a worker without the endpoint never loads node:http for it.
      const { startMetricsServer } = await import('../worker/metrics-server.js');
      let server: MetricsServer;
      try {
        server = await startMetricsServer({ metrics, host: metricsAt.host, port: metricsAt.port });
      } catch (err) {
        log.error(`cannot start the worker: ${(err as Error).message}`);
        return 1;
      }
      cleanups.push(() => void server.close());
      const shown = server.host.includes(':') ? `[${server.host}]` : server.host;
      log.info(`metrics: serving http://${shown}:${server.port}/metrics and /healthz`);
    }

    const registry = createRegistry();
    const runner = new CommandRunner({ registry, clock: systemClock, log, workerEnv, metrics });
    const bot = new WorkerBot(cfg.basedir, runner, {
      log,
      commandVersions: registry.versions(),
      environ: workerEnv,
      numcpus: cfg.numcpus,
      deleteLeftoverDirs: cfg.deleteLeftoverDirs,
    });
    const service = new WorkerService({
      sessionFactory: sessionFactoryFor(cfg.protocol),
      transport,
      workername: cfg.workername,
      password: cfg.password,
      keepaliveSeconds: cfg.keepalive,
      path: cfg.path ?? undefined,
      bot,
      runner,
      clock: systemClock,
      log,
      maxRetries: cfg.maxretries,
      maxDelaySeconds: effectiveMaxDelay(cfg.maxdelay),
      exitWhenIdleMs: idleSeconds === null ? null : idleSeconds * 1000,
      metrics,
    });
    if (idleSeconds !== null) log.info(`exit when idle: the worker stops once no command has run for ${idleSeconds} seconds`);

    const onStop = (signal: NodeJS.Signals) => {
      if (service.draining) log.info(`Received ${signal} again, stopping now.`);
      else log.info(`Received ${signal}, shutting down.`);
      service.stop();
    };
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.on(sig, onStop);
      cleanups.push(() => process.off(sig, onStop));
    }
    if (cfg.allowShutdown === 'signal') {
      log.info('Setting up SIGHUP handler to initiate shutdown');
      const onHup = () => void service.gracefulShutdown();
      process.on('SIGHUP', onHup);
      cleanups.push(() => process.off('SIGHUP', onHup));
    } else if (cfg.allowShutdown === 'file') {
      const watcher = new ShutdownFileWatcher(path.join(cfg.basedir, SHUTDOWN_FILE_NAME), systemClock, log, () => void service.gracefulShutdown());
      watcher.start();
      cleanups.push(() => watcher.stop());
    }

    log.info(`connecting to ${transport.host}:${transport.port} as ${cfg.workername} (protocol ${cfg.protocol})`);
    const end = await service.run();
    if (end === 'idle') log.info('Worker stopped: idle (exit when idle)');
    log.info(end === 'gave-up' ? 'Worker stopped: no connection to the master (maxretries reached)' : 'Server Shut Down.');
    process.exitCode = end === 'gave-up' ? 1 : 0;
    return process.exitCode;
  } finally {
    for (const c of cleanups) c();
    // A stop signal that arrives while the process winds down ends it at once, with the
    // code it was going to exit with, instead of killing it by the signal.
    const exitNow = () => process.exit(process.exitCode ?? 1);
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, exitNow);
    releasePidFile(cfg.basedir);
    close();
    setTimeout(() => process.exit(), EXIT_SAFETY_NET_MS).unref();
  }
}

/** The proxy password of `proxy_connection_string`, to keep out of the log. */
function proxyPassword(text: string | null): string[] {
  if (!text) return [];
  try {
    const p = parseProxyAddress(text).password;
    return p ? [p] : [];
  } catch {
    return []; // reported when the transport is set up
  }
}
