import type { IncomingMessage } from 'node:http';
import { badRequest, HttpError } from './http-error.js';

/** Largest request body the API reads. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Read the whole body, refusing more than `limit` bytes (413). */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(new HttpError(413, `request body exceeds ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
    });
  });
}

/** The body, if its declared type is JSON; 415 otherwise (see `parseBody`). */
export function checkJsonType(contentType: string | undefined, body: Buffer): Buffer {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new HttpError(415, `${type === '' ? 'no content type' : `content type ${type.slice(0, 60)}`}: send Content-Type: application/json with a JSON object`);
  }
  return body;
}

/**
 * Parse the body of a POST, PUT or DELETE as a JSON object. Only `application/json` is read:
 * a browser sends that type cross-origin only after a CORS preflight, which this server never
 * grants, so a foreign page cannot make a request that gets this far (forms and
 * `text/plain` bodies need no preflight). A POST must declare it even with an empty body;
 * PUT and DELETE, which no page can send cross-origin, may come without a body and type.
 */
export function parseBody(method: string, contentType: string | undefined, body: Buffer): Record<string, unknown> {
  if (method !== 'POST' && contentType === undefined && body.length === 0) return {};
  checkJsonType(contentType, body);
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw badRequest(`body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('JSON body must be an object');
  return value as Record<string, unknown>;
}
