import { HTTP_ERROR_CODES, type HttpErrorStatus, WorkerError } from '../../errors.js';

/**
 * A request the HTTP API refuses: the status code and the reason go into the JSON error
 * body (`{error, status}`); `retryAfter` (seconds) becomes a `Retry-After` header on 503.
 */
export class HttpError extends WorkerError {
  constructor(
    readonly status: HttpErrorStatus,
    message: string,
    readonly retryAfter?: number,
    /** Extra response headers (e.g. `WWW-Authenticate` on 401). */
    readonly headers: Record<string, string> = {},
  ) {
    super(HTTP_ERROR_CODES[status], message);
  }
}

export const badRequest = (reason: string): HttpError => new HttpError(400, reason);
export const notFound = (reason: string): HttpError => new HttpError(404, reason);
export const unavailable = (reason: string, retryAfter: number): HttpError => new HttpError(503, reason, retryAfter);
