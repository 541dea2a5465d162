import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { EventBus } from './event-bus.js';

/**
 * `/ws`: Buildbot www's WebSocket protocol. The client sends JSON commands `{cmd, _id, ...}`:
 * `ping`, `startConsuming {path}`, `stopConsuming {path}`; every answer is `{_id, code}`
 * (200, or an error code with `error`). Events matching the consumed paths arrive as `{k, m}`.
 */

export const WS_MAX_MESSAGE_BYTES = 64 * 1024;
/** A client this far behind on events is dropped rather than buffered without bound. */
export const WS_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

export class WsEndpoint {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_MESSAGE_BYTES });

  constructor(private readonly bus: EventBus) {
    this.wss.on('connection', (ws) => this.serve(ws));
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  close(): void {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }

  private serve(ws: WebSocket): void {
    const consumer = this.bus.consumer((event) => {
      if (ws.readyState !== ws.OPEN) return;
      if (ws.bufferedAmount > WS_MAX_BUFFERED_BYTES) {
        ws.close(1008, 'too far behind on events');
        return;
      }
      ws.send(JSON.stringify(event));
    });
    const answer = (o: Record<string, unknown>) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(o));
    };
    ws.on('message', (data, isBinary) => {
      let msg: unknown;
      try {
        msg = JSON.parse(isBinary ? '' : data.toString());
      } catch {
        return answer({ _id: null, code: 400, error: 'message is not JSON' });
      }
      if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return answer({ _id: null, code: 400, error: 'message must be a JSON object' });
      const m = msg as Record<string, unknown>;
      const _id = m._id ?? null;
      if (_id !== null && typeof _id !== 'number' && typeof _id !== 'string') return answer({ _id: null, code: 400, error: '_id must be a number or string' });
      switch (m.cmd) {
        case 'ping':
          return answer({ _id, code: 200, msg: 'pong' });
        case 'startConsuming':
          if (typeof m.path !== 'string') return answer({ _id, code: 400, error: 'missing path' });
          if (!consumer.add(m.path)) return answer({ _id, code: 400, error: `bad path or too many paths: ${m.path.slice(0, 80)}` });
          return answer({ _id, code: 200 });
        case 'stopConsuming':
          if (typeof m.path !== 'string') return answer({ _id, code: 400, error: 'missing path' });
          if (!consumer.remove(m.path)) return answer({ _id, code: 400, error: `not consuming ${m.path.slice(0, 80)}` });
          return answer({ _id, code: 200 });
        default:
          return answer({ _id, code: 404, error: `no such command: ${String(m.cmd).slice(0, 40)}` });
      }
    });
    ws.on('close', () => consumer.close());
    ws.on('error', () => consumer.close());
  }
}
