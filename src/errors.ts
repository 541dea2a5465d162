/**
 * The error taxonomy of the worker. Every error the worker raises on purpose is a
 * WorkerError with a stable `code`, so logs, tests and the master-facing mapping can
 * match on the code instead of on message text.
 */
export class WorkerError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Malformed or out-of-bounds bytes from the peer: the connection cannot go on. */
export class ProtocolError extends WorkerError {
  constructor(message: string, code = 'ERR_PROTOCOL', options?: ErrorOptions) {
    super(code, message, options);
  }
}

/**
 * Bytes the banana decoder refuses (`docs/protocol/pb.md` §2.4); `code` is one of
 * BANANA_ERROR_CODES.
 */
export class BananaError extends ProtocolError {}

/** Error codes of BananaError. */
export const BANANA_ERROR_CODES = {
  /** A type byte outside 0x80..0x87. */
  typeByte: 'ERR_BANANA_TYPE_BYTE',
  /** A prefix of more than MAX_BANANA_PREFIX_DIGITS digits. */
  prefix: 'ERR_BANANA_PREFIX',
  /** A list longer than MAX_BANANA_LIST_LENGTH. */
  listLength: 'ERR_BANANA_LIST_LENGTH',
  /** A byte string longer than MAX_BANANA_STRING_BYTES. */
  stringLength: 'ERR_BANANA_STRING_LENGTH',
  /** VOCAB outside the pb dialect, or an index the vocabulary does not have. */
  vocab: 'ERR_BANANA_VOCAB',
  /** Lists nested deeper than MAX_BANANA_DEPTH. */
  depth: 'ERR_BANANA_DEPTH',
  /** One expression with more values or bytes than the decoder's budget allows. */
  budget: 'ERR_BANANA_BUDGET',
  /** An integer beyond ±(2^448 - 1) to encode. */
  intRange: 'ERR_BANANA_INT_RANGE',
  /** A value banana has no token for (text, boolean, object, ...). */
  unencodable: 'ERR_BANANA_UNENCODABLE',
  /** A failure of the decoder itself (a bug), wrapped so callers see one error type. */
  internal: 'ERR_BANANA',
} as const;

/** A msgpack message the decoder refuses (`docs/protocol/msgpack.md` §2); `code` is one of MSGPACK_ERROR_CODES. */
export class MsgpackError extends ProtocolError {}

/** Error codes of MsgpackError. */
export const MSGPACK_ERROR_CODES = {
  /** Not exactly one well-formed msgpack map. */
  malformed: 'ERR_MSGPACK',
  /** More bytes or values in one message than the decoder's budget allows. */
  budget: 'ERR_MSGPACK_BUDGET',
} as const;

/** The master refused our credentials. */
export class AuthError extends WorkerError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_AUTH', message, options);
  }
}

/** The connection was lost or could not be made. */
export class ConnectionError extends WorkerError {
  constructor(message: string, code = 'ERR_CONNECTION', options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** A call to the peer did not get its answer in time. */
export class TimeoutError extends WorkerError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_TIMEOUT', message, options);
  }
}

/**
 * A command cannot be started or failed in a way the master must hear about
 * (unknown command, missing argument, bad argument type).
 */
export class CommandError extends WorkerError {
  constructor(message: string, code = 'ERR_COMMAND', options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** The peer called a method that this side does not implement. */
export class NoSuchMethodError extends WorkerError {
  constructor(readonly method: string) {
    super('ERR_NO_SUCH_METHOD', `No such method: remote_${method}`);
  }
}

/** Bad configuration: command-line options, buildbot.tac, environment. */
export class ConfigError extends WorkerError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_CONFIG', message, options);
  }
}
