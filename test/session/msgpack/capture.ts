import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { decodeMessage, type MsgpackMessage } from '../../../src/protocol/msgpack.js';
import { captureChunks } from '../pb/fixtures.js';

/**
 * The msgpack golden capture (`test/fixtures/protocol/msgpack-session.jsonl`) cut
 * into WebSocket messages: HTTP heads per direction, then RFC 6455 frames, unmasked.
 */

export interface CapturedFrame {
  dir: 'w2m' | 'm2w';
  /** The unmasked payload, exactly as the peer's msgpack encoder produced it. */
  payload: Buffer;
  message: MsgpackMessage;
}

export interface CapturedConnection {
  /** The HTTP upgrade request/response heads, as text. */
  heads: { w2m: string; m2w: string };
  /** Every message of the connection in capture order (by TCP chunk). */
  frames: CapturedFrame[];
}

/** Parse every complete frame at the start of `buf`; returns the frames and the bytes left. */
function parseFrames(buf: Buffer): { payloads: Buffer[]; rest: Buffer } {
  const payloads: Buffer[] = [];
  let b: Buffer = buf;
  for (;;) {
    if (b.length < 2) break;
    const masked = (b[1] & 0x80) !== 0;
    let len = b[1] & 0x7f;
    let off = 2;
    if (len === 126) {
      if (b.length < 4) break;
      len = b.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (b.length < 10) break;
      len = Number(b.readBigUInt64BE(2));
      off = 10;
    }
    const keyOff = off;
    if (masked) off += 4;
    if (b.length < off + len) break;
    const payload = Buffer.from(b.subarray(off, off + len));
    if (masked) for (let i = 0; i < payload.length; i++) payload[i] ^= b[keyOff + (i % 4)];
    if ((b[0] & 0x0f) !== 2) throw new Error(`unexpected opcode ${b[0] & 0x0f} in the capture`);
    payloads.push(payload);
    b = b.subarray(off + len);
  }
  return { payloads, rest: b };
}

export function capturedConnection(conn: number): CapturedConnection {
  const pending: Record<'w2m' | 'm2w', Buffer> = { w2m: Buffer.alloc(0), m2w: Buffer.alloc(0) };
  const heads = { w2m: '', m2w: '' };
  const headDone = { w2m: false, m2w: false };
  const frames: CapturedFrame[] = [];
  for (const chunk of captureChunks('msgpack-session.jsonl')) {
    if (chunk.conn !== conn) continue;
    const dir = chunk.dir;
    pending[dir] = Buffer.concat([pending[dir], chunk.bytes]);
    if (!headDone[dir]) {
      const end = pending[dir].indexOf('\r\n\r\n');
      if (end < 0) continue;
      heads[dir] = pending[dir].subarray(0, end + 4).toString('latin1');
      pending[dir] = pending[dir].subarray(end + 4);
      headDone[dir] = true;
    }
    const { payloads, rest } = parseFrames(pending[dir]);
    pending[dir] = rest;
    for (const payload of payloads) frames.push({ dir, payload, message: decodeMessage(payload) });
  }
  return { heads, frames };
}

/**
 * Enough of a `ws` WebSocket for the session: `deliver` plays a master message, `sent`
 * collects what the session writes, `onSend` lets a test react to each write.
 */
export class FakeWebSocket extends EventEmitter {
  readyState = 1;
  isPaused = true;
  readonly sent: Buffer[] = [];
  pings = 0;
  closeCode: number | undefined;
  terminated = false;
  onSend: (payload: Buffer) => void = () => undefined;

  send(payload: Buffer): void {
    this.sent.push(Buffer.from(payload));
    this.onSend(payload);
  }

  ping(): void {
    this.pings++;
  }

  resume(): void {
    this.isPaused = false;
  }

  close(code?: number): void {
    this.closeCode = code;
    this.readyState = 2;
  }

  terminate(): void {
    this.terminated = true;
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.emit('close', 1006);
  }

  /** The master sends one binary (or text) message. */
  deliver(payload: Buffer, isBinary = true): void {
    this.emit('message', payload, isBinary);
  }

  /** The master goes away. */
  drop(code = 1006): void {
    this.readyState = 3;
    this.emit('close', code);
  }

  asWebSocket(): WebSocket {
    return this as unknown as WebSocket;
  }
}
