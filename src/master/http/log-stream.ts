import type { ServerResponse } from 'node:http';
import type { EventBus } from './event-bus.js';
import { badRequest, HttpError } from './http-error.js';
import type { Job } from './job.js';
import type { Reply } from './router.js';

/**
 * A job's live log as Server-Sent Events: `GET /api/v1/jobs/<id>/log/sse[?offset=N]`. It
 * replays the job's log from `offset` (or the `Last-Event-ID` an EventSource sends when it
 * reconnects), then streams new text as the worker sends it, and ends with an `end` event
 * when the job finishes (at once for a finished job). Events:
 * `event: log`, `id: <offset after the text>`, data `{"offset", "text", "step"}`;
 * `event: end`, data `{"state", "result", "log_length"}`.
 */

/** Most log streams open at a time. */
export const MAX_LOG_STREAMS = 256;
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

export class LogStreams {
  private readonly open = new Set<ServerResponse>();

  constructor(private readonly bus: EventBus) {}

  close(): void {
    for (const res of this.open) res.end();
    this.open.clear();
  }

  /** Start streaming `job`'s log to `res` from `offset`. */
  stream(job: Job, rawOffset: string | null, res: ServerResponse): Reply {
    if (rawOffset !== null && !/^\d{1,12}$/.test(rawOffset)) throw badRequest('offset must be a non-negative integer');
    if (this.open.size >= MAX_LOG_STREAMS) throw new HttpError(503, `too many log streams (${MAX_LOG_STREAMS})`, 5);
    let sent = Math.min(Number(rawOffset ?? 0), job.log.length);
    const write = (event: string, data: unknown, id?: number): void => {
      if (res.writableLength > MAX_BUFFERED_BYTES) return void res.destroy();
      res.write(`event: ${event}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`);
    };
    const end = (): void => {
      consumer.close();
      this.open.delete(res);
      write('end', { state: job.state, result: job.result, log_length: job.log.length });
      res.end();
    };
    // Subscribed before the replay: publication is synchronous, so nothing falls between them.
    const consumer = this.bus.consumer((e) => {
      if (e.k.endsWith('/finished')) return end();
      const m = e.m as { log: string; text: string; offset: number; step: number };
      if (m.log !== 'stdio' || m.offset + m.text.length <= sent) return;
      const text = m.text.slice(sent - m.offset);
      sent += text.length;
      write('log', { offset: sent - text.length, text, step: m.step }, sent);
    });
    consumer.add(`jobs/${job.id}/logs`);
    consumer.add(`jobs/${job.id}/finished`);
    this.open.add(res);
    res.on('close', () => {
      consumer.close();
      this.open.delete(res);
    });
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    if (sent < job.log.length) {
      const text = job.log.slice(sent);
      write('log', { offset: sent, text, step: stepAt(job, sent) }, job.log.length);
      sent = job.log.length;
    }
    if (job.state === 'finished') end();
    return undefined;
  }
}

/** The step whose text begins at or before `offset`. */
function stepAt(job: Job, offset: number): number | null {
  let step: number | null = null;
  job.stepLogStart.forEach((start, i) => {
    if (start !== undefined && start <= offset) step = i;
  });
  return step;
}
