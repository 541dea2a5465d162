import { ProtocolError, type ErrorCode } from '../errors.js';

/**
 * What the protocol engines (`src/engine/pb`, `src/engine/msgpack`) do when the peer
 * breaks the protocol. The same engine serves the worker and the test master; they
 * differ in how forgiving they are (`docs/protocol/pb.md` §7.14, `docs/protocol/msgpack.md`
 * §2.1): the worker tolerates what harms nothing, the test master drops the connection
 * where the real master does, and records every mistake either way.
 */

/** Which end of the connection the engine runs. */
export type EngineRole = 'worker' | 'master';

/**
 * `tolerate`: a harmless mistake (an answer nobody waits for, a stray decref, an unknown
 * command) is reported and ignored. `drop`: it is reported and `receive` throws a
 * PeerMistakeError, after which the caller closes the connection.
 */
export type Strictness = 'tolerate' | 'drop';

export interface PeerMistake {
  /** Stable code, e.g. `ERR_PB_UNKNOWN_COMMAND`. */
  code: ErrorCode;
  /** One line, without secrets. */
  message: string;
  /** Whether the engine refused to go on (the caller must drop the connection). */
  fatal: boolean;
}

export type PeerMistakeHandler = (mistake: PeerMistake) => void;

/** Thrown by `receive` for a mistake the connection cannot survive; already reported through onPeerMistake. */
export class PeerMistakeError extends ProtocolError {
  constructor(readonly mistake: PeerMistake) {
    super(mistake.message, mistake.code);
  }
}

export type MistakeSeverity = 'tolerated' | 'droppable' | 'fatal';

export interface MistakePolicy {
  strictness: Strictness;
  onPeerMistake?: PeerMistakeHandler;
}

/**
 * Report one mistake. `severity` says what kind it is: `tolerated` (the engine goes on in
 * both modes, answering with an error where one is due), `droppable` (ignored when tolerating, fatal
 * when strict) or `fatal` (the conversation cannot go on). Throws PeerMistakeError when fatal.
 */
export function reportMistake(policy: MistakePolicy, code: ErrorCode, message: string, severity: MistakeSeverity): void {
  const fatal = severity === 'fatal' || (severity === 'droppable' && policy.strictness === 'drop');
  const mistake: PeerMistake = { code, message, fatal };
  policy.onPeerMistake?.(mistake);
  if (fatal) throw new PeerMistakeError(mistake);
}
