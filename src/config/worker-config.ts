/**
 * The worker's configuration: what `create-worker` writes into buildbot.tac and what the
 * worker reads back (from a tac or the environment). Names follow the tac variables
 * (`docs/python-worker.md` §2–3).
 */

export type Protocol = 'pb' | 'msgpack_experimental_v7';
export const PROTOCOLS: readonly Protocol[] = ['pb', 'msgpack_experimental_v7'];

export type AllowShutdown = 'signal' | 'file';

export interface LogRotation {
  /** Bytes at which twistd.log is rotated (tac `rotateLength`). */
  rotateLength: number;
  /** Old files kept (`maxRotatedFiles`); null keeps every one. */
  maxRotatedFiles: number | null;
}

export interface WorkerConfig {
  /** Absolute base directory. */
  basedir: string;
  /** Master host and port; both null when `connectionString` is used. */
  host: string | null;
  port: number | null;
  /** Twisted client endpoint string (`tcp:host=...:port=...`, `tls:...`), overrides host/port. */
  connectionString: string | null;
  workername: string;
  password: string;
  /** Seconds between PB keepalives; 0 disables. */
  keepalive: number;
  /** File creation mask applied at start, or null to keep the inherited one. */
  umask: number | null;
  /** Seconds; caps the reconnect backoff (the Python worker ignores it). */
  maxdelay: number;
  numcpus: number | null;
  allowShutdown: AllowShutdown | null;
  /** Give up after this many failed attempts in a row; null retries forever. */
  maxretries: number | null;
  useTls: boolean;
  deleteLeftoverDirs: boolean;
  /** Twisted endpoint of an HTTP proxy to tunnel through. */
  proxyConnectionString: string | null;
  protocol: Protocol;
  /** msgpack WebSocket resource path (`Worker(path=...)`, 4.2+). */
  path: string | null;
  /** twistd.log rotation; null means twistd's default (1 MB, unlimited files). */
  logRotation: LogRotation | null;
  /** Log to stdout instead of twistd.log (the Docker tac's observer). */
  logToStdout: boolean;
  /**
   * Health/metrics endpoint port (tac `metrics_port`, a top-level assignment the Python
   * worker ignores); absent when the tac has none.
   */
  metricsPort?: number;
  /** Its interface (tac `metrics_host`); absent: 127.0.0.1. */
  metricsHost?: string;
}

export const DEFAULT_PORT = 9989;
export const DEFAULT_KEEPALIVE = 600;
export const DEFAULT_MAXDELAY = 300;
export const DEFAULT_LOG_SIZE = 10_000_000;
export const DEFAULT_LOG_COUNT = 10;
/** twistd's own LogFile when the tac sets up none (`--no-logrotate`). */
export const TWISTD_DEFAULT_ROTATION: Readonly<LogRotation> = Object.freeze({ rotateLength: 1_000_000, maxRotatedFiles: null });

export function defaultConfig(basedir: string): WorkerConfig {
  return {
    basedir,
    host: 'localhost',
    port: DEFAULT_PORT,
    connectionString: null,
    workername: '',
    password: '',
    keepalive: DEFAULT_KEEPALIVE,
    umask: null,
    maxdelay: DEFAULT_MAXDELAY,
    numcpus: null,
    allowShutdown: null,
    maxretries: null,
    useTls: false,
    deleteLeftoverDirs: false,
    proxyConnectionString: null,
    protocol: 'pb',
    path: null,
    logRotation: { rotateLength: DEFAULT_LOG_SIZE, maxRotatedFiles: DEFAULT_LOG_COUNT },
    logToStdout: false,
  };
}
