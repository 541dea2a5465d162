import http from 'node:http';
import WebSocket from 'ws';

/** Test clients for the /ws and /sse event streams. */

export interface EventFrame {
  k: string;
  m: any;
}

/** A /ws client: `call` sends a command and resolves with the answer of the same `_id`. */
export class WsClient {
  readonly events: EventFrame[] = [];
  private nextId = 1;
  private readonly waiting = new Map<number, (a: any) => void>();
  private listeners: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      if ('_id' in msg) {
        const w = this.waiting.get(msg._id);
        this.waiting.delete(msg._id);
        w?.(msg);
      } else {
        this.events.push(msg);
        for (const l of this.listeners) l();
      }
    });
  }

  static async connect(baseUrl: string, token: string): Promise<WsClient> {
    const ws = new WebSocket(baseUrl.replace(/^http/, 'ws') + '/ws', { headers: { Authorization: `Bearer ${token}` } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new WsClient(ws);
  }

  call(cmd: string, fields: Record<string, unknown> = {}): Promise<any> {
    const _id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(_id, resolve);
      this.ws.send(JSON.stringify({ cmd, _id, ...fields }));
    });
  }

  /** Send raw text; resolves with the next answer that has `_id: null`. */
  raw(text: string): Promise<any> {
    return new Promise((resolve) => {
      const onMsg = (data: WebSocket.RawData) => {
        const msg = JSON.parse(data.toString());
        if (msg._id === null) {
          this.ws.off('message', onMsg);
          resolve(msg);
        }
      };
      this.ws.on('message', onMsg);
      this.ws.send(text);
    });
  }

  waitFor(pred: (events: EventFrame[]) => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    return waitForEvents(
      this.events,
      (l) => this.listeners.push(l),
      (l) => (this.listeners = this.listeners.filter((x) => x !== l)),
      pred,
      what,
      timeoutMs,
    );
  }

  close(): void {
    this.ws.close();
  }
}

/** A /sse/listen client: collects `event` frames; `uuid` from the handshake. */
export class SseClient {
  readonly events: EventFrame[] = [];
  /** The frames as sent. */
  readonly raw: Array<{ key: string[]; message: unknown }> = [];
  uuid = '';
  private listeners: Array<() => void> = [];

  private constructor(private readonly req: http.ClientRequest) {}

  static connect(baseUrl: string, token: string, path: string): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const req = http.get(`${baseUrl}/sse/listen/${path}`, { headers: { Authorization: `Bearer ${token}` } }, (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`SSE listen answered ${res.statusCode}`));
          res.resume();
          return;
        }
        res.setEncoding('utf8');
        let buf = '';
        res.on('data', (chunk: string) => {
          buf += chunk;
          let idx: number;
          while ((idx = buf.indexOf('\n\n')) !== -1) {
            const block = buf.slice(0, idx);
            buf = buf.slice(idx + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1] ?? '';
            if (event === 'handshake') {
              client.uuid = data;
              resolve(client);
            } else if (event === 'event') {
              // Buildbot's SSE frame: {key: [segments], message}; kept raw and as {k, m}.
              const frame = JSON.parse(data) as { key: string[]; message: unknown };
              if (!Array.isArray(frame.key) || !('message' in frame) || Object.keys(frame).length !== 2) throw new Error(`not a Buildbot SSE frame: ${data.slice(0, 200)}`);
              client.raw.push(frame);
              client.events.push({ k: frame.key.join('/'), m: frame.message });
              for (const l of client.listeners) l();
            }
          }
        });
      });
      req.on('error', reject);
      const client = new SseClient(req);
    });
  }

  waitFor(pred: (events: EventFrame[]) => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    return waitForEvents(
      this.events,
      (l) => this.listeners.push(l),
      (l) => (this.listeners = this.listeners.filter((x) => x !== l)),
      pred,
      what,
      timeoutMs,
    );
  }

  close(): void {
    this.req.destroy();
  }
}

function waitForEvents(events: EventFrame[], on: (l: () => void) => void, off: (l: () => void) => void, pred: (events: EventFrame[]) => boolean, what: string, timeoutMs: number): Promise<void> {
  if (pred(events)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!pred(events)) return;
      clearTimeout(timer);
      off(check);
      resolve();
    };
    const timer = setTimeout(() => {
      off(check);
      reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(events.map((e) => e.k))}`));
    }, timeoutMs);
    on(check);
  });
}

/** The stdio text of one job from its log events, checking each chunk starts where the previous ended. */
export function stdioOf(events: EventFrame[], job: number): string {
  let text = '';
  for (const e of events) {
    if (e.k !== `jobs/${job}/logs` || e.m.log !== 'stdio') continue;
    if (e.m.offset !== text.length) throw new Error(`log chunk at offset ${e.m.offset}, expected ${text.length}`);
    text += e.m.text;
  }
  return text;
}
