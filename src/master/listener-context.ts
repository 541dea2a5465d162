import type { MasterContext } from './worker-connection.js';

/** Master context plus the duplicate-connection decision the PB and msgpack listeners share. */
export interface ListenerContext extends MasterContext {
  /** Whether a new connection for `name` may attach (false: an older connection is still alive). */
  admit(name: string): boolean | Promise<boolean>;
  /** A connection that has not logged in this long after accept is closed (0: never). */
  loginTimeoutMs: number;
}
