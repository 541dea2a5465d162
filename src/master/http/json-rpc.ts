import { HttpError } from './http-error.js';
import type { Reply, RouteContext, Router } from './router.js';

/**
 * Control calls as Buildbot's REST API takes them (buildbot/www/rest.py): a POST to a
 * resource with a JSON-RPC 2.0 body `{"jsonrpc": "2.0", "method", "params": {...}, "id"}`,
 * answered `{"jsonrpc": "2.0", "id", "result"}` or `{"jsonrpc": "2.0", "id", "error": {code, message}}`
 * with Buildbot's HTTP status (400 bad request, 404 no such resource, 501 no such method).
 * Batches are refused, as Buildbot does. A body that is not JSON at all gets the spec's
 * parse error (-32700, id null); see README, "the embedded test master".
 */

/** Router method under which resources register their control handler. */
export const CONTROL = 'CONTROL';

export const JSONRPC_CODES = { parse_error: -32700, invalid_request: -32600, method_not_found: -32601, invalid_params: -32602, internal_error: -32603 } as const;

export interface ControlCall {
  method: string;
  params: Record<string, unknown>;
  id: string | number | null;
}

/** A control handler's context: the call in `rpc`. */
export type ControlContext = RouteContext & { rpc: ControlCall };

/** Whether a POST body is a JSON-RPC call (has the `jsonrpc` member). */
export const isJsonRpc = (body: Record<string, unknown>): boolean => Object.hasOwn(body, 'jsonrpc');

class BadJsonRpc extends HttpError {
  constructor(message: string) {
    super(400, message);
  }
}

/** The spec's answer to a body that is not JSON (JSON-RPC 2.0, section 5.1). */
export const PARSE_ERROR_REPLY = { status: 400, json: { jsonrpc: '2.0', error: { code: JSONRPC_CODES.parse_error, message: 'Parse error' }, id: null } } as const;

/**
 * Read the body POSTed to a resource with control actions: a JSON object, or the JSON-RPC
 * error reply for a body that is not JSON (-32700) or not an object (a batch, a number: -32600).
 */
export function parseControlBody(raw: Buffer): { body: Record<string, unknown> } | { reply: NonNullable<Reply> } {
  if (raw.length === 0) return { body: {} };
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    return { reply: { ...PARSE_ERROR_REPLY, json: { ...PARSE_ERROR_REPLY.json } } };
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return { body: value as Record<string, unknown> };
  const message = Array.isArray(value) ? 'JSONRPC batch requests are not supported' : 'JSONRPC root object must be an object';
  return { reply: { status: 400, json: { jsonrpc: '2.0', error: { code: JSONRPC_CODES.invalid_request, message }, id: null } } };
}

/** Check the envelope; BadJsonRpc (400, invalid request) saying what is wrong. */
export function parseJsonRpc(body: Record<string, unknown>): ControlCall {
  const check = (name: string, ok: (v: unknown) => boolean, what: string): void => {
    if (!Object.hasOwn(body, name)) throw new BadJsonRpc(`missing key '${name}'`);
    if (!ok(body[name])) throw new BadJsonRpc(`'${name}' must be ${what}`);
  };
  check('jsonrpc', (v) => typeof v === 'string', 'a string');
  check('method', (v) => typeof v === 'string', 'a string');
  check('id', (v) => v === null || typeof v === 'string' || typeof v === 'number', 'a string, number, or null');
  check('params', (v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'an object');
  if (body.jsonrpc !== '2.0') throw new BadJsonRpc('only JSONRPC 2.0 is supported');
  return { method: body.method as string, params: body.params as Record<string, unknown>, id: body.id as ControlCall['id'] };
}

/** The JSON-RPC code for an HTTP error status, as Buildbot maps its exceptions. */
function codeFor(err: HttpError): number {
  if (err instanceof BadJsonRpc) return JSONRPC_CODES.invalid_request;
  if (err.status === 404) return JSONRPC_CODES.invalid_request;
  if (err.status === 501) return JSONRPC_CODES.method_not_found;
  if (err.status === 400) return JSONRPC_CODES.invalid_params;
  return JSONRPC_CODES.internal_error;
}

/** Run a control call on the resource at `ctx`'s path; always a JSON-RPC reply. */
export async function dispatchJsonRpc(router: Router, pathname: string, ctx: RouteContext): Promise<NonNullable<Reply>> {
  let id: ControlCall['id'] = null;
  try {
    const rpc = parseJsonRpc(ctx.body);
    id = rpc.id;
    const match = router.match(CONTROL, pathname);
    if (match.kind === 'none') throw new HttpError(404, `no such resource: ${pathname.slice(0, 200)}`);
    if (match.kind === 'method') throw new HttpError(501, 'this resource has no control actions');
    const result = (await match.handler({ ...ctx, params: match.params, rpc } as ControlContext)) as { status: number; json?: unknown } | undefined;
    return { status: 200, json: { jsonrpc: '2.0', id, result: result?.json ?? null } };
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    return { status: err.status, json: { jsonrpc: '2.0', id, error: { code: codeFor(err), message: err.message } } };
  }
}

/** Throw the 501 Buildbot answers for a method the resource lacks. */
export function noSuchControl(method: string, allowed: readonly string[]): never {
  throw new HttpError(501, `action: ${method.slice(0, 40)} is not supported (use ${allowed.join(', ')})`);
}
