import { ERR, type ErrorCode } from './error-codes.js';

export { ERR, HTTP_ERROR_CODES, type ErrorCode, type HttpErrorStatus } from './error-codes.js';

/**
 * The error taxonomy of the worker. Every error the worker raises on purpose is a
 * WorkerError with a stable `code`, so logs, tests and the master-facing mapping can
 * match on the code instead of on message text.
 */
export class WorkerError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Malformed or out-of-bounds bytes from the peer: the connection cannot go on. */
export class ProtocolError extends WorkerError {
  constructor(message: string, code: ErrorCode = ERR.PROTOCOL, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/**
 * Bytes the banana decoder refuses (`docs/protocol/pb.md` §2.4); `code` is one of
 * BANANA_ERROR_CODES.
 */
export class BananaError extends ProtocolError {}

/** Error codes of BananaError (a view onto ERR). */
export const BANANA_ERROR_CODES = {
  typeByte: ERR.BANANA_TYPE_BYTE,
  prefix: ERR.BANANA_PREFIX,
  listLength: ERR.BANANA_LIST_LENGTH,
  stringLength: ERR.BANANA_STRING_LENGTH,
  vocab: ERR.BANANA_VOCAB,
  depth: ERR.BANANA_DEPTH,
  budget: ERR.BANANA_BUDGET,
  intRange: ERR.BANANA_INT_RANGE,
  unencodable: ERR.BANANA_UNENCODABLE,
  internal: ERR.BANANA,
} as const;

/** A msgpack message the decoder refuses (`docs/protocol/msgpack.md` §2); `code` is one of MSGPACK_ERROR_CODES. */
export class MsgpackError extends ProtocolError {}

/** Error codes of MsgpackError (a view onto ERR). */
export const MSGPACK_ERROR_CODES = {
  malformed: ERR.MSGPACK,
  budget: ERR.MSGPACK_BUDGET,
} as const;

/** The master refused our credentials. */
export class AuthError extends WorkerError {
  constructor(message: string, options?: ErrorOptions) {
    super(ERR.AUTH, message, options);
  }
}

/** The connection was lost or could not be made. */
export class ConnectionError extends WorkerError {
  constructor(message: string, code: ErrorCode = ERR.CONNECTION, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** A call to the peer did not get its answer in time. */
export class TimeoutError extends WorkerError {
  constructor(message: string, options?: ErrorOptions) {
    super(ERR.TIMEOUT, message, options);
  }
}

/**
 * A command cannot be started or failed in a way the master must hear about
 * (unknown command, missing argument, bad argument type).
 */
export class CommandError extends WorkerError {
  constructor(message: string, code: ErrorCode = ERR.COMMAND, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** The peer called a method that this side does not implement. */
export class NoSuchMethodError extends WorkerError {
  constructor(readonly method: string) {
    super(ERR.NO_SUCH_METHOD, `No such method: remote_${method}`);
  }
}

/** Bad configuration: command-line options, buildbot.tac, environment. */
export class ConfigError extends WorkerError {
  constructor(message: string, options?: ErrorOptions) {
    super(ERR.CONFIG, message, options);
  }
}
