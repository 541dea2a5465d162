import { ConfigError } from '../errors.js';

/** The environment variable a container sets instead of passing `--exit-when-idle`. */
export const EXIT_WHEN_IDLE_VARIABLE = 'WORKER_EXIT_WHEN_IDLE';
/** Larger idle times are refused (a typo, not a plan: that is more than 115 days). */
export const MAX_EXIT_WHEN_IDLE_SECONDS = 10_000_000;

/**
 * The exit-when-idle time in seconds: `start --exit-when-idle SECONDS` wins over
 * WORKER_EXIT_WHEN_IDLE; unset or empty → null (run until stopped). A number ≥ 0 with an
 * optional fraction, else a ConfigError naming where it came from.
 */
export function exitWhenIdleSeconds(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): number | null {
  const [text, where] = flag !== undefined ? [flag, '--exit-when-idle'] : [env[EXIT_WHEN_IDLE_VARIABLE], EXIT_WHEN_IDLE_VARIABLE];
  if (text === undefined || text.trim() === '') return null;
  const t = text.trim();
  if (!/^[0-9]+(\.[0-9]+)?$/.test(t) || Number(t) > MAX_EXIT_WHEN_IDLE_SECONDS) {
    throw new ConfigError(`${where} must be a number of seconds (0 to ${MAX_EXIT_WHEN_IDLE_SECONDS}), not '${text.slice(0, 40)}'`);
  }
  return Number(t);
}
