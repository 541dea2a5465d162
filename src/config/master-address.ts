import { ConfigError } from '../errors.js';
import { DEFAULT_PORT } from './worker-config.js';

/**
 * The `<master>` positional of create-worker, parsed as Python's
 * `CreateWorkerOptions.validateMasterArgument` (`docs/python-worker.md` §2): `host`, `host:port`,
 * `[v6addr]` or `[v6addr]:port`, port 9989 by default. Errors carry Python's messages.
 */
export function parseMasterArgument(arg: string): { host: string; port: number } {
  if (arg.slice(0, 5) === 'http:') throw new ConfigError('<master> is not a URL - do not use URL');
  let host: string;
  let port: string | number;
  if (arg.startsWith('[') && arg.includes(']')) {
    const parts = arg.split(']');
    if (parts.length !== 2) throw new ConfigError(`invalid <master> argument '${arg}'`);
    host = parts[0]!.slice(1);
    const rest = parts[1]!;
    port = rest.includes(':') ? rest.split(':')[1]! : DEFAULT_PORT;
  } else if (!arg.includes(':')) {
    host = arg;
    port = DEFAULT_PORT;
  } else {
    const parts = arg.split(':');
    if (parts.length !== 2) {
      throw new ConfigError(`invalid <master> argument '${arg}', if it is an ipv6 address, it must be enclosed by []`);
    }
    [host, port] = parts as [string, string];
  }
  if (!host) throw new ConfigError(`invalid <master> argument '${arg}'`);
  if (typeof port === 'number') return { host, port };
  // Python int(): optional sign and surrounding whitespace, digits (underscores allowed between digits).
  const trimmed = port.trim();
  if (!/^[-+]?[0-9]+(_[0-9]+)*$/.test(trimmed)) throw new ConfigError(`invalid master port '${port}', needs to be a number`);
  const n = Number(trimmed.replace(/_/g, ''));
  // Python accepts any int here and fails only when connecting; a port outside 1-65535 can never work.
  if (!Number.isSafeInteger(n) || n < 1 || n > 65535) throw new ConfigError(`invalid master port '${port}', must be between 1 and 65535`);
  return { host, port: n };
}
