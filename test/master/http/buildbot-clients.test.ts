import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { call, finished, jobWhen, shellStep, startFixture, type HttpFixture } from './fixture.js';

/**
 * Clients written against Buildbot www's event formats (master/buildbot/www/ws.py and sse.py),
 * used unchanged against the test master; only the token header is added.
 *
 * /ws: commands `{cmd, _id, ...}`; an answer with the same `_id` resolves on `code: 200` with
 * its `msg`, and rejects otherwise; other frames are events `{k, m}`.
 * /sse: `event: handshake` carries the stream's uuid, `event: event` carries `{key, message}`;
 * `/sse/add/<uuid>/<path>` and `/sse/remove/<uuid>/<path>` change what it listens to.
 */

interface BuildbotEvent {
  key: string;
  message: any;
}

class BuildbotWsClient {
  private id = 0;
  private readonly pending = new Map<number, { resolve: (msg: string) => void; reject: (err: any) => void }>();
  readonly events: BuildbotEvent[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(private readonly socket: WebSocket) {
    socket.on('message', (raw) => {
      const data = JSON.parse(raw.toString());
      if (data._id !== undefined && this.pending.has(data._id)) {
        const p = this.pending.get(data._id)!;
        this.pending.delete(data._id);
        if (data.code === 200) p.resolve(data.msg);
        else p.reject(data);
      } else if (data.k !== undefined) {
        this.events.push({ key: data.k, message: data.m });
        for (const w of this.waiters) w();
      }
    });
  }

  static open(url: string, headers: Record<string, string>): Promise<BuildbotWsClient> {
    const socket = new WebSocket(url, { headers });
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new BuildbotWsClient(socket)));
      socket.once('error', reject);
    });
  }

  send(cmd: string, fields: Record<string, unknown> = {}): Promise<string> {
    const _id = ++this.id;
    return new Promise((resolve, reject) => {
      this.pending.set(_id, { resolve, reject });
      this.socket.send(JSON.stringify({ cmd, _id, ...fields }));
    });
  }

  waitFor(ok: () => boolean): Promise<void> {
    return waitOn(this.waiters, ok);
  }

  close(): void {
    this.socket.close();
  }
}

class BuildbotSseClient {
  uuid = '';
  readonly events: BuildbotEvent[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly abort = new AbortController();

  static async open(base: string, path: string, headers: Record<string, string>): Promise<BuildbotSseClient> {
    const c = new BuildbotSseClient();
    const r = await fetch(`${base}/sse/listen/${path}`, { headers: { ...headers, Accept: 'text/event-stream' }, signal: c.abort.signal });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type')!, /^text\/event-stream/);
    void c.read(r.body!.getReader());
    await c.waitFor(() => c.uuid !== '');
    return c;
  }

  private async read(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buf.indexOf('\n\n')) !== -1) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
          if (event === 'handshake') this.uuid = data.join('\n');
          else if (event === 'event') {
            const { key, message } = JSON.parse(data.join('\n'));
            this.events.push({ key: key.join('/'), message });
          }
          for (const w of this.waiters) w();
        }
      }
    } catch {
      // aborted by close()
    }
  }

  waitFor(ok: () => boolean): Promise<void> {
    return waitOn(this.waiters, ok);
  }

  close(): void {
    this.abort.abort();
  }
}

function waitOn(waiters: Set<() => void>, ok: () => boolean): Promise<void> {
  if (ok()) return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (!ok()) return;
      waiters.delete(check);
      resolve();
    };
    waiters.add(check);
  });
}

describe('Buildbot www event clients against the test master', () => {
  let fx: HttpFixture;
  let auth: Record<string, string>;
  before(async () => {
    fx = await startFixture({ protocol: 'msgpack' });
    auth = { Authorization: `Bearer ${fx.web.token}` };
  });
  after(async () => {
    await fx?.close();
  });

  test('/ws: ping, startConsuming/stopConsuming answer msg OK, errors reject, events are {k, m}', async () => {
    const ws = await BuildbotWsClient.open(fx.web.url.replace(/^http/, 'ws') + '/ws', auth);
    try {
      assert.equal(await ws.send('ping'), 'pong');
      assert.equal(await ws.send('startConsuming', { path: 'jobs/*/new' }), 'OK');
      assert.equal(await ws.send('startConsuming', { path: 'jobs/*/finished' }), 'OK');
      await assert.rejects(ws.send('startConsuming', {}), (e: any) => e.code === 400 && typeof e.error === 'string');
      await assert.rejects(ws.send('nosuchcmd'), (e: any) => e.code === 404);
      const r = await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, steps: [shellStep('echo hi')] });
      const id = r.body.request_id as number;
      await ws.waitFor(() => ws.events.some((e) => e.key === `jobs/${id}/finished`));
      const keys = ws.events.map((e) => e.key);
      assert.ok(keys.indexOf(`jobs/${id}/new`) < keys.indexOf(`jobs/${id}/finished`));
      const fin = ws.events.find((e) => e.key === `jobs/${id}/finished`)!;
      assert.equal(fin.message.id, id);
      assert.equal(fin.message.result, 'SUCCESS');
      assert.equal(await ws.send('stopConsuming', { path: 'jobs/*/new' }), 'OK');
      await assert.rejects(ws.send('stopConsuming', { path: 'jobs/*/new' }), (e: any) => e.code === 400);
    } finally {
      ws.close();
    }
  });

  test('/sse: handshake uuid, event {key: [segments], message}, add and remove by uuid', async () => {
    const sse = await BuildbotSseClient.open(fx.web.url, 'jobs/*/new', auth);
    try {
      assert.match(sse.uuid, /^[0-9a-f-]{8,}$/);
      const add = await fetch(`${fx.web.url}/sse/add/${sse.uuid}/jobs/*/finished`, { headers: auth });
      assert.equal(add.status, 200);
      const r = await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, steps: [shellStep('echo hi')] });
      const id = r.body.request_id as number;
      await sse.waitFor(() => sse.events.some((e) => e.key === `jobs/${id}/finished`));
      assert.ok(sse.events.some((e) => e.key === `jobs/${id}/new` && e.message.id === id));
      const remove = await fetch(`${fx.web.url}/sse/remove/${sse.uuid}/jobs/*/new`, { headers: auth });
      assert.equal(remove.status, 200);
      const r2 = await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, steps: [shellStep('true')] });
      const id2 = r2.body.request_id as number;
      await sse.waitFor(() => sse.events.some((e) => e.key === `jobs/${id2}/finished`));
      assert.ok(!sse.events.some((e) => e.key === `jobs/${id2}/new`), 'no events of a removed path');
      await jobWhen(fx.web, id2, finished, 'finished');
      const unknown = await fetch(`${fx.web.url}/sse/add/00000000-0000-0000-0000-000000000000/jobs/*/new`, { headers: auth });
      // sse.py: an unknown uuid is a 400 "unknown uuid"; removing a path not listened to a 404.
      assert.equal(unknown.status, 400);
      assert.equal((await fetch(`${fx.web.url}/sse/remove/${sse.uuid}/jobs/*/new`, { headers: auth })).status, 404);
    } finally {
      sse.close();
    }
  });
});
