import type { IncomingMessage, ServerResponse } from 'node:http';

/** What a handler gets: path parameters, query and the parsed body (empty for GET). */
export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  body: Record<string, unknown>;
}

/** A handler's answer: JSON (`json`) or text; `undefined` when it wrote the response itself (streams). */
export type Reply = { status: number; json?: unknown; text?: string | Buffer; contentType?: string; headers?: Record<string, string> } | undefined;
export type Handler = (ctx: RouteContext) => Reply | Promise<Reply>;

interface Route {
  method: string;
  segments: string[];
  handler: Handler;
}

export type RouteMatch = { kind: 'found'; handler: Handler; params: Record<string, string> } | { kind: 'method'; allowed: string[] } | { kind: 'none' };

/**
 * Method + path patterns with `:name` segments and a final `*rest` segment (the remainder
 * of the path, for SSE subscription paths and static files).
 */
export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler): this {
    this.routes.push({ method, segments: pattern.split('/').filter(Boolean), handler });
    return this;
  }

  match(method: string, pathname: string): RouteMatch {
    let segs: string[];
    try {
      segs = pathname.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      return { kind: 'none' };
    }
    const allowed: string[] = [];
    for (const r of this.routes) {
      const params = matchSegments(r.segments, segs);
      if (!params) continue;
      if (r.method === method) return { kind: 'found', handler: r.handler, params };
      allowed.push(r.method);
    }
    return allowed.length ? { kind: 'method', allowed } : { kind: 'none' };
  }
}

function matchSegments(pattern: string[], segs: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p.startsWith('*')) {
      params[p.slice(1)] = segs.slice(i).join('/');
      return params;
    }
    if (i >= segs.length) return undefined;
    if (p.startsWith(':')) params[p.slice(1)] = segs[i]!;
    else if (p !== segs[i]) return undefined;
  }
  return pattern.length === segs.length ? params : undefined;
}
