/**
 * Every error code the worker and the test master use, written once. A WorkerError's
 * `code` is an ErrorCode, so a misspelt code does not compile; logs and tests match on
 * these strings, so they never change. The per-codec tables in errors.ts and
 * protocol/jelly.ts are views onto this one.
 */
export const ERR = {
  // --- generic, one per WorkerError class
  /** Malformed or out-of-bounds bytes from the peer (ProtocolError's default). */
  PROTOCOL: 'ERR_PROTOCOL',
  /** The connection was lost or could not be made (ConnectionError's default). */
  CONNECTION: 'ERR_CONNECTION',
  /** A command cannot be started or failed (CommandError's default). */
  COMMAND: 'ERR_COMMAND',
  /** The master refused our credentials. */
  AUTH: 'ERR_AUTH',
  /** A call to the peer did not get its answer in time. */
  TIMEOUT: 'ERR_TIMEOUT',
  /** The peer called a method this side does not implement. */
  NO_SUCH_METHOD: 'ERR_NO_SUCH_METHOD',
  /** Bad command-line options, buildbot.tac or environment. */
  CONFIG: 'ERR_CONFIG',

  // --- banana codec (docs/protocol/pb.md §2.4)
  /** A banana type byte outside 0x80..0x87. */
  BANANA_TYPE_BYTE: 'ERR_BANANA_TYPE_BYTE',
  /** A banana prefix of more than MAX_BANANA_PREFIX_DIGITS digits. */
  BANANA_PREFIX: 'ERR_BANANA_PREFIX',
  /** A banana list longer than MAX_BANANA_LIST_LENGTH. */
  BANANA_LIST_LENGTH: 'ERR_BANANA_LIST_LENGTH',
  /** A banana byte string longer than MAX_BANANA_STRING_BYTES. */
  BANANA_STRING_LENGTH: 'ERR_BANANA_STRING_LENGTH',
  /** VOCAB outside the pb dialect, or an index the vocabulary does not have. */
  BANANA_VOCAB: 'ERR_BANANA_VOCAB',
  /** Banana lists nested deeper than MAX_BANANA_DEPTH. */
  BANANA_DEPTH: 'ERR_BANANA_DEPTH',
  /** One banana expression with more values or bytes than the decoder's budget allows. */
  BANANA_BUDGET: 'ERR_BANANA_BUDGET',
  /** An integer beyond ±(2^448 - 1) to encode in banana. */
  BANANA_INT_RANGE: 'ERR_BANANA_INT_RANGE',
  /** A value banana has no token for (text, boolean, object, ...). */
  BANANA_UNENCODABLE: 'ERR_BANANA_UNENCODABLE',
  /** A failure of the banana decoder itself (a bug), wrapped so callers see one error type. */
  BANANA: 'ERR_BANANA',

  // --- jelly codec
  /** The expression is not well-formed jelly (wrong arity, wrong element type, bad UTF-8). */
  JELLY_MALFORMED: 'ERR_JELLY_MALFORMED',
  /** A jelly type tag `globalSecurity` would refuse (classes, instances, modules, ...). */
  JELLY_INSECURE: 'ERR_JELLY_INSECURE',
  /** A jelly dereference to a reference number not seen before. */
  JELLY_REFERENCE: 'ERR_JELLY_REFERENCE',
  /** A value that cannot be jellied. */
  JELLY_UNJELLYABLE: 'ERR_JELLY_UNJELLYABLE',

  // --- PB engine and session (docs/protocol/pb.md)
  /** No banana dialect agreed: bad or missing offer, or a choice that was not offered. */
  PB_DIALECT: 'ERR_PB_DIALECT',
  /** The peer speaks another PB protocol version, or sent its version twice. */
  PB_VERSION: 'ERR_PB_VERSION',
  /** A malformed PB message (wrong shape, fields, request id) or an answer that cannot be unjellied. */
  PB_MESSAGE: 'ERR_PB_MESSAGE',
  /** A PB cache command, ignored because nothing here is cached. */
  PB_CACHE: 'ERR_PB_CACHE',
  /** A PB command word this side does not know. */
  PB_UNKNOWN_COMMAND: 'ERR_PB_UNKNOWN_COMMAND',
  /** The arguments of a PB call cannot be unjellied. */
  PB_ARGUMENTS: 'ERR_PB_ARGUMENTS',
  /** A PB call on an object id this side does not export. */
  PB_UNKNOWN_OBJECT: 'ERR_PB_UNKNOWN_OBJECT',
  /** A PB answer or error for a request that is not pending. */
  PB_NOT_PENDING: 'ERR_PB_NOT_PENDING',
  /** A PB decref of an object this side does not export. */
  PB_DECREF: 'ERR_PB_DECREF',
  /** The peer answered a PB call with a remote failure (Python exception). */
  PB_FAILURE: 'ERR_PB_FAILURE',
  /** The master's answers during PB login have the wrong shape. */
  PB_LOGIN: 'ERR_PB_LOGIN',
  /** The master's reader answered read() with something other than bytes. */
  PB_READ: 'ERR_PB_READ',
  /** A transfer object's method was called after the transfer ended. */
  RELEASED: 'ERR_RELEASED',
  /** A remote call to the master failed; the master's failure is in the message. */
  REMOTE_CALL: 'ERR_REMOTE_CALL',

  // --- msgpack engine and session (docs/protocol/msgpack.md)
  /** Not exactly one well-formed msgpack map, or a message that cannot be handled. */
  MSGPACK: 'ERR_MSGPACK',
  /** More bytes or values in one msgpack message than the decoder's budget allows. */
  MSGPACK_BUDGET: 'ERR_MSGPACK_BUDGET',
  /** A msgpack message without "seq_number" or "op", or with an invalid seq_number. */
  MSGPACK_MESSAGE: 'ERR_MSGPACK_MESSAGE',
  /** A msgpack request that cannot be encoded. */
  MSGPACK_ENCODE: 'ERR_MSGPACK_ENCODE',
  /** A msgpack response for a seq_number that is not outstanding. */
  MSGPACK_NOT_PENDING: 'ERR_MSGPACK_NOT_PENDING',
  /** A msgpack op this side does not know (answered with an error). */
  MSGPACK_UNKNOWN_OP: 'ERR_MSGPACK_UNKNOWN_OP',
  /** The master answered update_read_file with something other than the bytes asked for. */
  MSGPACK_READ: 'ERR_MSGPACK_READ',
  /** A msgpack message lacks a key its op requires. */
  MISSING_KEY: 'ERR_MISSING_KEY',
  /** set_worker_settings with missing or invalid settings. */
  BAD_SETTINGS: 'ERR_BAD_SETTINGS',
  /** More requests wait for the master's answers than the queue allows. */
  TOO_MANY_REQUESTS: 'ERR_TOO_MANY_REQUESTS',
  /** The master sent a WebSocket message larger than the limit. */
  MESSAGE_TOO_BIG: 'ERR_MESSAGE_TOO_BIG',

  // --- connections and transports
  /** The connection was lost while calls were outstanding or during login. */
  CONNECTION_LOST: 'ERR_CONNECTION_LOST',
  /** The peer or this side closed the connection. */
  CONNECTION_CLOSED: 'ERR_CONNECTION_CLOSED',
  /** The session or the connect attempt was aborted by its signal. */
  ABORTED: 'ERR_ABORTED',
  /** A TCP connect failed. */
  CONNECT: 'ERR_CONNECT',
  /** A TCP connect did not complete in time. */
  CONNECT_TIMEOUT: 'ERR_CONNECT_TIMEOUT',
  /** A TLS handshake failed or timed out. */
  TLS: 'ERR_TLS',
  /** The HTTP proxy failed, refused or garbled the CONNECT request. */
  PROXY: 'ERR_PROXY',
  /** The master answered the WebSocket upgrade with an HTTP error status. */
  HTTP_STATUS: 'ERR_HTTP_STATUS',
  /** A WebSocket upgrade, ping or connection failed. */
  WEBSOCKET: 'ERR_WEBSOCKET',
  /** The master did not complete the WebSocket upgrade in time. */
  WEBSOCKET_TIMEOUT: 'ERR_WEBSOCKET_TIMEOUT',

  // --- commands
  /** A required command argument is missing. */
  MISSING_ARGS: 'ERR_MISSING_ARGS',
  /** A command argument has the wrong type or value. */
  BAD_ARGS: 'ERR_BAD_ARGS',
  /** A command name the worker does not have. */
  UNKNOWN_COMMAND: 'ERR_UNKNOWN_COMMAND',
  /** A command id that is already running. */
  DUPLICATE_COMMAND: 'ERR_DUPLICATE_COMMAND',
  /** A transfer command got no writer from the master. */
  NO_WRITER: 'ERR_NO_WRITER',
  /** A transfer command got no reader from the master. */
  NO_READER: 'ERR_NO_READER',
  /** A command was interrupted by the master. */
  INTERRUPTED: 'ERR_INTERRUPTED',
  /** A file operation was stopped by its watchdog. */
  COMMAND_STOPPED: 'ERR_COMMAND_STOPPED',
  /** A signal name the OS does not have. */
  BAD_SIGNAL: 'ERR_BAD_SIGNAL',
  /** A program cannot be executed (not found, not executable). */
  EXEC: 'ERR_EXEC',
  /** A shell command's process cannot be spawned. */
  SPAWN: 'ERR_SPAWN',
  /** A shell command's process survived every kill attempt. */
  KILL_FAILED: 'ERR_KILL_FAILED',
  /** A Python regular expression that has no JavaScript equivalent. */
  UNSUPPORTED_REGEX: 'ERR_UNSUPPORTED_REGEX',
  /** A transfer method called on the wrong kind of upload. */
  TRANSFER: 'ERR_TRANSFER',
  /** The compressor (bzip2, ...) of a directory upload cannot run or failed. */
  COMPRESSOR: 'ERR_COMPRESSOR',
  /** A file download failed on the worker's side. */
  DOWNLOAD_FILE: 'ERR_DOWNLOAD_FILE',
  /** The master's reader failed during a download. */
  REMOTE_READ: 'ERR_REMOTE_READ',
  /** The master's writer failed during an upload. */
  REMOTE_WRITE: 'ERR_REMOTE_WRITE',

  // --- the test master's HTTP API (one per status HttpError sends)
  /** Malformed request (bad JSON, bad parameter). */
  HTTP_400: 'ERR_HTTP_400',
  /** Missing or wrong access token. */
  HTTP_401: 'ERR_HTTP_401',
  /** A request from another origin. */
  HTTP_403: 'ERR_HTTP_403',
  /** No such resource. */
  HTTP_404: 'ERR_HTTP_404',
  /** Request body too large. */
  HTTP_413: 'ERR_HTTP_413',
  /** Request body not JSON. */
  HTTP_415: 'ERR_HTTP_415',
  /** A Host name the server does not answer to. */
  HTTP_421: 'ERR_HTTP_421',
  /** An action the resource does not support. */
  HTTP_501: 'ERR_HTTP_501',
  /** Busy (too many log streams, ...): retry later. */
  HTTP_503: 'ERR_HTTP_503',
} as const;

/** One of the codes in ERR. */
export type ErrorCode = (typeof ERR)[keyof typeof ERR];

/** The HTTP statuses HttpError may carry, each with its code in ERR. */
export type HttpErrorStatus = 400 | 401 | 403 | 404 | 413 | 415 | 421 | 501 | 503;

/** The code of an HttpError with `status`. */
export const HTTP_ERROR_CODES: { readonly [S in HttpErrorStatus]: ErrorCode } = {
  400: ERR.HTTP_400,
  401: ERR.HTTP_401,
  403: ERR.HTTP_403,
  404: ERR.HTTP_404,
  413: ERR.HTTP_413,
  415: ERR.HTTP_415,
  421: ERR.HTTP_421,
  501: ERR.HTTP_501,
  503: ERR.HTTP_503,
};
