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
import { loadTac, type LoadedTac } from '../config/tac-python.js';
import type { WorkerConfig } from '../config/worker-config.js';
import { ConfigError } from '../errors.js';
import { systemClock } from '../util/clock.js';
import { LOG_FILE_NAME, MSGPACK_SYSTEM, PB_SYSTEM, createWorkerLog, type LogFormat, type LogLevel } from '../util/log.js';
import { effectiveMaxDelay } from '../worker/backoff.js';
import { WorkerBot } from '../worker/bot.js';
import { WorkerMetrics } from '../worker/metrics.js';
import type { MetricsServer } from '../worker/metrics-server.js';
import { scrubEnvironment } from '../worker/environment.js';
import { blankInitialEnvironment } from '../process/initial-environ.js';
import { WorkerService } from '../worker/service.js';
import { sessionFactoryFor } from '../worker/session-factories.js';
import { SHUTDOWN_FILE_NAME, ShutdownFileWatcher } from '../worker/shutdown-file.js';
import { WORKER_VERSION } from '../worker/version.js';
import { IdleMemoryRelease } from '../worker/idle-memory.js';
import { fullGarbageCollection } from '../util/full-gc.js';
import type { Print } from './output.js';
import { TWISTD_ALREADY_RUNNING, claimPidFile, releasePidFile } from './pid-file.js';
import { pid1Warning } from './pid1.js';

/** A process that does not exit this long after the worker stopped is made to. */
const EXIT_SAFETY_NET_MS = 2_000;

/**
 * The configuration of `basedir`: its buildbot.tac (read by the built-in reader, or evaluated
 * by python3 when the reader does not understand it), or — for containers, when there is no
 * tac and BUILDMASTER is set — the environment (`configFromEnvironment`).
 */
export function loadConfig(basedir: string, env: NodeJS.ProcessEnv = process.env): LoadedTac {
  let loaded: LoadedTac;
  if (!fs.existsSync(path.join(basedir, 'buildbot.tac')) && env.BUILDMASTER !== undefined) {
    loaded = { config: configFromEnvironment({ ...env, BUILDBOT_BASEDIR: env.BUILDBOT_BASEDIR ?? basedir }, basedir) };
  } else loaded = loadTac(basedir, env);
  const port = loaded.config.port;
  if (port !== null && (!Number.isInteger(port) || port < 1 || port > 65535)) {
    throw new ConfigError(`master port ${port} is not a port number: it must be between 1 and 65535`);
  }
  return loaded;
}

export interface RunWorkerOptions {
  /** Started by `start` as a daemon: log to twistd.log only. */
  daemonChild?: boolean;
  /** `--exit-when-idle SECONDS` as given; WORKER_EXIT_WHEN_IDLE when absent. */
  exitWhenIdle?: string;
  /** `--metrics-port` / `--metrics-host` as given; WORKER_METRICS_PORT/HOST, then the tac, when absent. */
  metricsPort?: string;
  metricsHost?: string;
  /** `--log-format`: Twisted's text lines (default) or pino's JSON lines. */
  logFormat?: LogFormat;
  /** `--log-level`: pino level; default info. */
  logLevel?: LogLevel;
  /** `buildbot-worker --verbose`: the log goes to stderr too. */
  verbose?: boolean;
}

/**
 * Run the worker in this process until it stops (`start --nodaemon`, and the daemon child
 * of `start`). Writes twistd.pid (also in the foreground, unlike Python), twistd.hostname,
 * logs to twistd.log; SIGTERM/SIGINT stop gracefully, a second one forces; SIGHUP or a
 * touched shutdown.stamp ask the master for a shutdown when `allow_shutdown` says so.
 * Resolves with the exit code: 0 when stopped, 1 when it gave up (maxretries) or could not start.
 */
export async function runWorker(basedir: string, opts: RunWorkerOptions, print: Print): Promise<number> {
  let cfg: WorkerConfig;
  let loaded: LoadedTac;
  let idleSeconds: number | null;
  let metricsAt: MetricsEndpoint | null;
  try {
    loaded = loadConfig(basedir);
    cfg = loaded.config;
    idleSeconds = exitWhenIdleSeconds(opts.exitWhenIdle, process.env);
    metricsAt = metricsEndpoint({ port: opts.metricsPort, host: opts.metricsHost }, process.env, cfg);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    print(`cannot start the worker: ${err.message}`);
    return 1;
  }
  // Neither builds nor getWorkerInfo may see the password variables (`docs/python-worker.md` §15),
  const scrubbed = scrubEnvironment(process.env);
  // nor other processes of this user through /proc/<pid>/environ (README, "Docker and latent workers").
  const blanked = blankInitialEnvironment(scrubbed);
  const workerEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) workerEnv[k] = v;

  // twistd daemonizes with umask 077 unless told otherwise; the tac's `umask` applies after
  // (Worker.startService), so twistd.pid is 0600 either way. In the foreground the inherited
  // umask stays, as with `twistd --nodaemon`. See README "twistd.pid, umask and twistd.log".
  if (opts.daemonChild) process.umask(DAEMON_UMASK);
  const claim = claimPidFile(cfg.basedir);
  if (!claim.ok) {
    print(TWISTD_ALREADY_RUNNING(claim.running));
    // The daemon child has no terminal: `start` follows twistd.log and shows it from there.
    if (opts.daemonChild) appendQuietly(path.join(cfg.basedir, LOG_FILE_NAME), TWISTD_ALREADY_RUNNING(claim.running));
    return 1;
  }
  const { log, close } = createWorkerLog({
    basedir: cfg.logToStdout ? undefined : cfg.basedir,
    rotation: cfg.logRotation,
    stdout: cfg.logToStdout || !opts.daemonChild,
    secrets: [cfg.password, ...proxyPassword(cfg.proxyConnectionString)],
    format: opts.logFormat,
    level: opts.logLevel,
    stderr: opts.verbose,
  });
  // What the connection does is logged under the Python worker's Twisted system of its client (docs/logging.md).
  const sessionLog = log.child({ system: cfg.protocol === 'pb' ? PB_SYSTEM : MSGPACK_SYSTEM });
  const cleanups: Array<() => void> = [];
  try {
    // twistd's start-up lines (the tac was read before the log could be opened).
    log.info('Loading buildbot.tac...');
    if (loaded.evaluatedBy) log.info(`buildbot.tac evaluated with ${loaded.evaluatedBy.python}; the built-in reader said: ${loaded.evaluatedBy.readerError}`);
    log.info('Loaded.');
    log.info(`buildbot-worker-ts ${WORKER_VERSION} (${process.execPath} ${process.versions.node}) starting up.`);
    if (claim.stale) log.info(`Removing stale pidfile ${path.join(cfg.basedir, 'twistd.pid')} (pid ${claim.stale})`);
    log.info(`Starting Worker -- version: ${WORKER_VERSION}`);
    if (scrubbed.includes('WORKERPASS') && !blanked.includes('WORKERPASS')) {
      log.warn(`WORKERPASS stays readable in /proc/${process.pid}/environ on this system; use WORKERPASS_FILE to keep the password out of the environment`);
    }
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
    const memory = new IdleMemoryRelease({ clock: systemClock, busy: () => runner.running > 0, collect: fullGarbageCollection });
    cleanups.push(() => memory.stop());
    const runner = new CommandRunner({ registry, clock: systemClock, log: sessionLog, workerEnv, metrics, onIdle: () => memory.idle() });
    const bot = new WorkerBot(cfg.basedir, runner, {
      log: sessionLog,
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
      log: sessionLog,
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
    if (end === 'gave-up') log.info('Worker stopped: no connection to the master (maxretries reached)');
    else {
      log.info('Main loop terminated.');
      log.info('Server Shut Down.');
    }
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

/** twistd's umask for a daemon (`twisted.scripts._twistd_unix.daemonize`). */
export const DAEMON_UMASK = 0o077;

function appendQuietly(file: string, text: string): void {
  try {
    fs.appendFileSync(file, text);
  } catch {
    /* nowhere else to say it */
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
