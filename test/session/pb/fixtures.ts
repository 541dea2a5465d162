import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Duplex } from 'node:stream';
import pino from 'pino';

/** Recorded sessions and vectors of the real master and Python worker (docs/protocol/captures.md). */
export const FIXTURES_DIR = process.env.PROTOCOL_FIXTURES_DIR ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../test/fixtures/protocol');

export function readFixture(name: string): string {
  return readFileSync(path.join(FIXTURES_DIR, name), 'utf8');
}

export interface CaptureChunk {
  conn: number;
  dir: 'w2m' | 'm2w';
  bytes: Buffer;
}

/** The data records of a `*-session.jsonl` capture, in order. */
export function captureChunks(name: string): CaptureChunk[] {
  const out: CaptureChunk[] = [];
  for (const line of readFixture(name).split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as { type: string; conn: number; dir: 'w2m' | 'm2w'; hex?: string };
    if (r.type === 'data' && r.hex !== undefined) out.push({ conn: r.conn, dir: r.dir, bytes: Buffer.from(r.hex, 'hex') });
  }
  return out;
}

/** A silent logger that keeps what was logged, for assertions. */
export function memoryLogger(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines };
}

/** An in-memory socket: what the session writes is collected, `feed` plays the master's bytes. */
export class MemoryStream extends Duplex {
  readonly written: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.written.push(Buffer.from(chunk));
    cb();
  }
  override _read(): void {}
  feed(bytes: Uint8Array): void {
    this.push(Buffer.from(bytes));
  }
  /** All bytes written so far. */
  output(): Buffer {
    return Buffer.concat(this.written);
  }
}

/** Let stream events and promise callbacks run. */
export const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

import { BananaDecoder, encodeBanana } from '../../../src/protocol/banana.js';
import { Broker, type Referenceable } from '../../../src/engine/pb/broker.js';

/**
 * Two brokers talking through real banana bytes, delivered asynchronously like a socket
 * would: `worker` is the client side, `master` the server side with `root`.
 */
export function linkedBrokers(root?: Referenceable) {
  const wlog = memoryLogger();
  const mlog = memoryLogger();
  const toMaster = new BananaDecoder('pb');
  const toWorker = new BananaDecoder('pb');
  let worker!: Broker;
  let master!: Broker;
  const deliver = (dec: BananaDecoder, to: () => Broker) => (bytes: Buffer) =>
    queueMicrotask(() => {
      for (const e of dec.feed(bytes)) to().receive(e);
    });
  const wsend = deliver(toMaster, () => master);
  const msend = deliver(toWorker, () => worker);
  worker = new Broker({ send: (e) => wsend(encodeBanana(e, 'pb')), log: wlog.log });
  master = new Broker({ send: (e) => msend(encodeBanana(e, 'pb')), log: mlog.log, root });
  return { worker, master, workerLog: wlog.lines, masterLog: mlog.lines };
}
