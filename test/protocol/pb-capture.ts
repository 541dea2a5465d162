import { readFixture } from '../session/pb/fixtures.js';
import { PyFloat } from '../../src/values.js';
import type { SExp } from '../../src/protocol/banana.js';

/**
 * The PB golden capture (`test/fixtures/protocol`, see docs/protocol/captures.md): the raw byte
 * streams of `pb-session.jsonl`, cut into expressions at the offsets Twisted found
 * (`pb-session.decoded.txt`), with Twisted's repr of each banana tree.
 */

export { readFixture };

export type Direction = 'w2m' | 'm2w';

export interface CapturedExpression {
  /** `#N` in the decoded file. */
  number: number;
  conn: number;
  dir: Direction;
  /** Index within its direction of its connection (0 = the dialect offer / choice). */
  index: number;
  start: number;
  end: number;
  /** Twisted's repr of the banana tree, when the decoded file did not shorten it. */
  repr: string | undefined;
}

export interface CapturedStream {
  conn: number;
  dir: Direction;
  bytes: Buffer;
  /** The recv() chunks as captured. */
  chunks: Buffer[];
  expressions: CapturedExpression[];
}

/** Every (connection, direction) stream of the PB capture with its expression boundaries. */
export function pbStreams(): CapturedStream[] {
  const byKey = new Map<string, CapturedStream>();
  const key = (conn: number, dir: string) => `${conn} ${dir}`;
  for (const line of readFixture('pb-session.jsonl').split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as { type: string; conn: number; dir: Direction; hex?: string };
    if (r.type !== 'data' || r.hex === undefined) continue;
    let s = byKey.get(key(r.conn, r.dir));
    if (!s) byKey.set(key(r.conn, r.dir), (s = { conn: r.conn, dir: r.dir, bytes: Buffer.alloc(0), chunks: [], expressions: [] }));
    s.chunks.push(Buffer.from(r.hex, 'hex'));
  }
  for (const s of byKey.values()) s.bytes = Buffer.concat(s.chunks);

  const lines = readFixture('pb-session.decoded.txt').split('\n');
  const header = /^#(\d+)\s+t=\S+\s+(w2m|m2w)\s+conn=(\d+)\s+expr (\d+) of this direction\s+bytes \[(\d+), (\d+)\)/;
  for (let i = 0; i < lines.length; i++) {
    const m = header.exec(lines[i]!);
    if (!m) continue;
    let repr: string | undefined;
    for (let j = i + 1; j < lines.length && !lines[j]!.startsWith('#') && !lines[j]!.startsWith('===='); j++) {
      const t = /^ {2}banana tree: (.*)$/.exec(lines[j]!);
      if (t) {
        repr = /\.\.\.\(\d+ bytes total\)/.test(t[1]!) ? undefined : t[1];
        break;
      }
    }
    const s = byKey.get(key(Number(m[3]), m[2]!))!;
    s.expressions.push({ number: Number(m[1]), conn: Number(m[3]), dir: m[2] as Direction, index: Number(m[4]), start: Number(m[5]), end: Number(m[6]), repr });
  }
  return [...byKey.values()];
}

/** Python's repr of bytes. */
export function pyBytesRepr(b: Uint8Array): string {
  const hasSingle = b.includes(0x27);
  const quote = hasSingle && !b.includes(0x22) ? '"' : "'";
  let out = 'b' + quote;
  for (const c of b) {
    if (c === quote.charCodeAt(0) || c === 0x5c) out += '\\' + String.fromCharCode(c);
    else if (c === 0x09) out += '\\t';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c < 0x20 || c >= 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += String.fromCharCode(c);
  }
  return out + quote;
}

/** Python's repr of a float (shortest round-trip digits, Python's switch to exponent form). */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, exp] = x.toExponential().split('e') as [string, string];
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  const decpt = Number(exp) + 1;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
    if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
    return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
  }
  const e = decpt - 1;
  const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${m}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

/** Python's repr of a banana tree as Twisted decodes it (bytes, int, float, list). */
export function pyRepr(e: SExp): string {
  if (Array.isArray(e)) return `[${e.map(pyRepr).join(', ')}]`;
  if (e instanceof PyFloat) return pyFloatRepr(e.value);
  if (e instanceof Uint8Array) return pyBytesRepr(e);
  return String(e);
}

/** Structural equality of two s-expressions (a fast pre-check before assert.deepEqual). */
export function sameSExp(a: SExp, b: SExp): boolean {
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameSExp(a[i]!, b[i]!)) return false;
    return true;
  }
  if (a instanceof Uint8Array) return b instanceof Uint8Array && Buffer.compare(a, b) === 0;
  if (a instanceof PyFloat) return b instanceof PyFloat && Object.is(a.value, b.value);
  return a === b;
}
