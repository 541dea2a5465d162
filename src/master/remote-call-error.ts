import { WorkerError } from '../errors.js';

/**
 * The worker answered one of the master's calls with an error (msgpack response with
 * `is_exception`, PB `error` answer). `message` is the worker's error text.
 */
export class RemoteCallError extends WorkerError {
  constructor(
    message: string,
    /** PB: the failure's dotted type name (e.g. `twisted.spread.flavors.NoSuchMethod`). */
    readonly remoteType?: string,
  ) {
    super('ERR_REMOTE_CALL', message);
  }
}
