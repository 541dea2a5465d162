import type { Logger } from 'pino';
import type { Clock } from '../util/clock.js';
import type { TransportOptions } from '../transport/connect.js';
import type { WorkerHandlers } from './handlers.js';

/** Everything a protocol session needs to log in and serve the master. */
export interface SessionOptions {
  transport: TransportOptions;
  workername: string;
  password: string;
  handlers: WorkerHandlers;
  clock: Clock;
  log: Logger;
  /** PB: seconds between `perspective.keepalive()` calls (0 disables); also the reply deadline base. */
  keepaliveSeconds: number;
  /** msgpack: WebSocket resource path (default "/"). */
  path?: string;
}

/** One live connection to the master, after login. */
export interface Session {
  /** Resolves when the connection has ended, with the reason (undefined for a clean close). */
  readonly closed: Promise<Error | undefined>;
  /** Ask the master to shut this worker down once idle; resolves false if the protocol cannot. */
  requestShutdown(): Promise<boolean>;
  /** Drop the connection. */
  close(reason?: Error): void;
}

/**
 * Connect, authenticate and start serving. Rejects with AuthError on a refused login,
 * ConnectionError/ProtocolError on anything else, so the reconnect loop can back off.
 */
export type SessionFactory = (opts: SessionOptions, signal?: AbortSignal) => Promise<Session>;
