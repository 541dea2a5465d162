import { closeSync, existsSync, mkdirSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';

/** Deterministic input files for the benchmarks (same bytes for both workers). */

/** A small linear congruential generator: reproducible, fast, good enough for lengths. */
export class Lcg {
  private state: number;
  constructor(seed = 12345) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (Math.imul(this.state, 1664525) + 1013904223) >>> 0;
    return this.state / 0x1_0000_0000;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
}

const TEXT = 'The quick brown fox jumps over the lazy dog 0123456789 ' + 'compiling src/module_with_a_long_name.c -O2 -Wall; linking; ok ';

/**
 * A text file of `bytes` bytes of mixed-length lines like a build log: mostly short
 * (20–120 chars), some medium (120–400), a few long (1000–3000, under every line limit).
 */
export function writeLogFile(file: string, bytes: number, seed = 1): void {
  if (existsSync(file) && statSync(file).size === bytes) return;
  const rng = new Lcg(seed);
  const pattern = TEXT.repeat(Math.ceil(3200 / TEXT.length));
  const fd = openSync(file, 'w');
  try {
    const chunk = Buffer.alloc(1 << 20);
    let written = 0;
    let used = 0;
    let lineNo = 0;
    while (written + used < bytes) {
      const p = rng.next();
      const len = p < 0.8 ? rng.int(20, 120) : p < 0.97 ? rng.int(120, 400) : rng.int(1000, 3000);
      const start = lineNo++ % 97;
      let line = `${lineNo} ${pattern.slice(start, start + len)}\n`;
      const room = bytes - written - used;
      if (line.length > room) line = room > 1 ? 'x'.repeat(room - 1) + '\n' : '\n';
      if (used + line.length > chunk.length) {
        writeSync(fd, chunk, 0, used);
        written += used;
        used = 0;
      }
      used += chunk.write(line, used, 'latin1');
    }
    writeSync(fd, chunk, 0, used);
  } finally {
    closeSync(fd);
  }
}

/** A file of `bytes` pseudo-random (incompressible) bytes, written in 4 MiB pieces. */
export function writeBinaryFile(file: string, bytes: number, seed = 2): void {
  if (existsSync(file) && statSync(file).size === bytes) return;
  const rng = new Lcg(seed);
  const block = Buffer.alloc(4 << 20);
  for (let i = 0; i < block.length; i += 4) block.writeUInt32LE(Math.floor(rng.next() * 0x1_0000_0000), i);
  const fd = openSync(file, 'w');
  try {
    for (let off = 0; off < bytes; off += block.length) {
      // Vary each piece a little so no two are identical.
      block.writeUInt32LE(off >>> 0, 0);
      writeSync(fd, block, 0, Math.min(block.length, bytes - off));
    }
  } finally {
    closeSync(fd);
  }
}

/** `count` small files (100–4000 bytes) spread over subdirectories of 100 files each. */
export function writeSmallFiles(dir: string, count: number, seed = 3): { files: number; bytes: number } {
  const rng = new Lcg(seed);
  const pattern = Buffer.from(TEXT.repeat(80));
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const sub = path.join(dir, `d${String(Math.floor(i / 100)).padStart(4, '0')}`);
    if (i % 100 === 0) mkdirSync(sub, { recursive: true });
    const len = rng.int(100, 4000);
    writeFileSync(path.join(sub, `f${i}.txt`), pattern.subarray(i % 50, (i % 50) + len));
    bytes += len;
  }
  return { files: count, bytes };
}
