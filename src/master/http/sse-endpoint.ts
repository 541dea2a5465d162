import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Consumer, EventBus } from './event-bus.js';
import { badRequest } from './http-error.js';
import type { Reply, Router } from './router.js';

/**
 * Server-Sent Events, as Buildbot www's `/sse` (buildbot/www/sse.py): `GET /sse/listen[/<path>]`
 * (or `/sse[/<path>]`) opens a stream whose first event is `handshake` with the stream's
 * uuid as data; `GET /sse/add/<uuid>/<path>` and `/sse/remove/<uuid>/<path>` change its
 * paths and answer `ok` (text; 400 `unknown uuid`, 404 for a path not listened to). Events
 * go out as `event: event` with `{"key": [segments], "message": ...}` as JSON data.
 */

export const SSE_MAX_STREAMS = 256;
const SSE_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

interface Stream {
  res: ServerResponse;
  consumer: Consumer;
}

export class SseEndpoint {
  private readonly streams = new Map<string, Stream>();

  constructor(private readonly bus: EventBus) {}

  register(router: Router): void {
    router
      .add('GET', '/sse/listen', (ctx) => this.listen(ctx.res, ''))
      .add('GET', '/sse/listen/*path', (ctx) => this.listen(ctx.res, ctx.params.path!))
      .add('GET', '/sse/add/:uuid/*path', (ctx) => this.change(ctx.params.uuid!, ctx.params.path!, true))
      .add('GET', '/sse/remove/:uuid/*path', (ctx) => this.change(ctx.params.uuid!, ctx.params.path!, false))
      // Buildbot listens on any other path under /sse too (the first segment is not a command).
      .add('GET', '/sse', (ctx) => this.listen(ctx.res, ''))
      .add('GET', '/sse/*path', (ctx) => this.listen(ctx.res, ctx.params.path!));
  }

  close(): void {
    for (const s of this.streams.values()) {
      s.consumer.close();
      s.res.end();
    }
    this.streams.clear();
  }

  private listen(res: ServerResponse, path: string): Reply {
    if (this.streams.size >= SSE_MAX_STREAMS) throw badRequest(`too many event streams (${SSE_MAX_STREAMS})`);
    const uuid = randomUUID();
    const consumer = this.bus.consumer((event) => {
      if (res.writableLength > SSE_MAX_BUFFERED_BYTES) {
        res.destroy();
        return;
      }
      res.write(`event: event\ndata: ${JSON.stringify({ key: event.k.split('/'), message: event.m })}\n\n`);
    });
    if (path !== '' && !consumer.add(path)) {
      consumer.close();
      throw badRequest(`bad path: ${path.slice(0, 80)}`);
    }
    this.streams.set(uuid, { res, consumer });
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    res.write(`event: handshake\ndata: ${uuid}\n\n`);
    res.on('close', () => {
      consumer.close();
      this.streams.delete(uuid);
    });
    return undefined;
  }

  private change(uuid: string, path: string, add: boolean): Reply {
    const stream = this.streams.get(uuid);
    if (!stream) return { status: 400, text: 'unknown uuid' };
    if (add) {
      if (!stream.consumer.add(path)) throw badRequest(`bad path or too many paths: ${path.slice(0, 80)}`);
    } else if (!stream.consumer.remove(path)) {
      return { status: 404, text: 'consumer is not listening to this event' };
    }
    return { status: 200, text: 'ok' };
  }
}
