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

/**
 * Parse a body as JSON (an object) or as form fields (`application/x-www-form-urlencoded`,
 * also the default for a body without a JSON content type, as curl -d sends).
 */
export function parseBody(contentType: string | undefined, body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  const text = body.toString('utf8');
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json' || (type === '' && /^\s*\{/.test(text))) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw badRequest(`body is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('JSON body must be an object');
    return value as Record<string, unknown>;
  }
  if (type === '' || type === 'application/x-www-form-urlencoded') {
    return Object.fromEntries(new URLSearchParams(text));
  }
  throw new HttpError(415, `unsupported content type ${type}; send application/json or a form`);
}
