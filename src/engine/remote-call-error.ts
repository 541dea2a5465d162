import { ERR, WorkerError } from '../errors.js';

/**
 * The peer answered one of our calls with an error: a PB `error` answer (a
 * CopyableFailure, `docs/protocol/pb.md` §3.5) or a msgpack response with
 * `is_exception` (a text, `docs/protocol/msgpack.md` §2.1). One class for both
 * protocols and both ends.
 */

/** The failure as received. Over msgpack only `value` is known (`type` is empty). */
export interface RemoteFailure {
  /** Dotted Python type, e.g. `twisted.spread.flavors.NoSuchMethod`; '' when unknown. */
  readonly type: string;
  /** `str(exception)`. */
  readonly value: string;
  readonly traceback: string;
  readonly parents: readonly string[];
}

export class RemoteCallError extends WorkerError {
  constructor(
    /** The PB method or msgpack op that was called. */
    readonly method: string,
    readonly failure: RemoteFailure,
  ) {
    super(ERR.REMOTE_CALL, failure.type === '' ? failure.value : `${failure.type}: ${failure.value}`);
  }

  /** A msgpack error answer: only its text is known. */
  static fromText(method: string, text: string): RemoteCallError {
    return new RemoteCallError(method, { type: '', value: text, traceback: '', parents: [] });
  }

  /** The failure's Python type, when the protocol says it. */
  get remoteType(): string | undefined {
    return this.failure.type === '' ? undefined : this.failure.type;
  }

  /** Whether the failure is (a subclass of) the Python type `type`, like Twisted's `Failure.check`. */
  isA(type: string): boolean {
    return this.failure.type === type || this.failure.parents.includes(type);
  }
}
