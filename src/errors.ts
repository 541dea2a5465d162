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
