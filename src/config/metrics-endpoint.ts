import { ConfigError } from '../errors.js';

/** The environment variables a container sets instead of passing `--metrics-port` / `--metrics-host`. */
export const METRICS_PORT_VARIABLE = 'WORKER_METRICS_PORT';
export const METRICS_HOST_VARIABLE = 'WORKER_METRICS_HOST';
/** Loopback unless asked otherwise: the endpoint has no authentication. */
export const DEFAULT_METRICS_HOST = '127.0.0.1';

export interface MetricsEndpoint {
  host: string;
  /** 0: any free port (logged when listening). */
  port: number;
}

/** A TCP port number 0–65535, else a ConfigError naming where it came from. */
export function parseMetricsPort(text: string, where: string): number {
  const t = text.trim();
  if (!/^[0-9]{1,5}$/.test(t) || Number(t) > 65535) throw new ConfigError(`${where} must be a port number (0 to 65535), not '${text.slice(0, 40)}'`);
  return Number(t);
}

/**
 * Where the health/metrics endpoint listens, or null when it is off (the default). The
 * port: `start --metrics-port`, else WORKER_METRICS_PORT, else buildbot.tac's
 * `metrics_port`; the host likewise (`--metrics-host`, WORKER_METRICS_HOST, `metrics_host`),
 * 127.0.0.1 by default. An empty flag or variable counts as absent.
 */
export function metricsEndpoint(
  flags: { port?: string; host?: string },
  env: Readonly<Record<string, string | undefined>>,
  tac: { metricsPort?: number; metricsHost?: string },
): MetricsEndpoint | null {
  const given = (s: string | undefined) => (s !== undefined && s.trim() !== '' ? s : undefined);
  let port: number | undefined = tac.metricsPort;
  if (given(flags.port) !== undefined) port = parseMetricsPort(flags.port!, '--metrics-port');
  else if (given(env[METRICS_PORT_VARIABLE]) !== undefined) port = parseMetricsPort(env[METRICS_PORT_VARIABLE]!, METRICS_PORT_VARIABLE);
  if (port === undefined) return null;
  const host = given(flags.host)?.trim() ?? given(env[METRICS_HOST_VARIABLE])?.trim() ?? tac.metricsHost ?? DEFAULT_METRICS_HOST;
  return { host, port };
}
