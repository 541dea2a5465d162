import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { EventBus } from './event-bus.js';

/**
 * `/ws`: Buildbot www's WebSocket protocol (buildbot/www/ws.py). The client sends JSON
 * commands `{cmd, _id, ...}`: `ping` (answer `{_id, code: 200, msg: "pong"}`),
 * `startConsuming {path}` and `stopConsuming {path}` (answer `{_id, code: 200, msg: "OK"}`);
 * errors are `{_id, code, error}` (400 without `_id` or `cmd`, 404 for an unknown command).
 * Starting a path already consumed is acknowledged again. Events matching the consumed
 * paths arrive as `{k, m}`.
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
      if (_id === null) return answer({ _id: null, code: 400, error: "no '_id' in websocket frame" });
      if (typeof _id !== 'number' && typeof _id !== 'string') return answer({ _id: null, code: 400, error: '_id must be a number or string' });
      if (m.cmd === undefined || m.cmd === null) return answer({ _id: null, code: 400, error: "no 'cmd' in websocket frame" });
      const ack = { _id, code: 200, msg: 'OK' };
      switch (m.cmd) {
        case 'ping':
          return answer({ _id, code: 200, msg: 'pong' });
        case 'startConsuming':
          if (typeof m.path !== 'string') return answer({ _id, code: 400, error: 'missing path' });
          if (!consumer.add(m.path)) return answer({ _id, code: 400, error: `invalid path format or too many paths: '${m.path.slice(0, 80)}'` });
          return answer(ack);
        case 'stopConsuming':
          if (typeof m.path !== 'string') return answer({ _id, code: 400, error: 'missing path' });
          if (!consumer.remove(m.path)) return answer({ _id, code: 400, error: `path was not consumed '${m.path.slice(0, 80)}'` });
          return answer(ack);
        default:
          return answer({ _id, code: 404, error: `no such command type '${String(m.cmd).slice(0, 40)}'` });
      }
    });
    ws.on('close', () => consumer.close());
    ws.on('error', () => consumer.close());
  }
}
