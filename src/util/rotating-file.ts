import fs from 'node:fs';

/**
 * A log file rotated by size exactly like Twisted's `twisted.python.logfile.LogFile`
 * (`docs/python-worker.md` §13): before a write, if the file has reached `rotateLength` bytes it becomes
 * `<path>.1`, older ones shift to `.2`, `.3` …, and files numbered `maxRotatedFiles` or
 * higher are deleted (null keeps them all). Writes are synchronous so nothing logged just
 * before the process exits is lost.
 */
export class RotatingFile {
  private fd: number;
  private size: number;

  constructor(
    readonly path: string,
    readonly rotateLength: number,
    readonly maxRotatedFiles: number | null,
    readonly mode = 0o644,
  ) {
    this.fd = fs.openSync(path, 'a', mode);
    this.size = fs.fstatSync(this.fd).size;
  }

  write(data: string | Uint8Array): void {
    if (this.rotateLength > 0 && this.size >= this.rotateLength) this.rotate();
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += fs.writeSync(this.fd, buf, off, buf.length - off);
    this.size += buf.length;
  }

  /** Numbers of the existing rotated files, ascending. */
  listLogs(): number[] {
    const dir = this.path.replace(/[^/]*$/, '') || '.';
    const base = this.path.slice(dir.length);
    const out: number[] = [];
    for (const name of fs.readdirSync(dir)) {
      if (!name.startsWith(base + '.')) continue;
      const n = name.slice(base.length + 1);
      if (/^[1-9][0-9]*$/.test(n)) out.push(Number(n));
    }
    return out.sort((a, b) => a - b);
  }

  rotate(): void {
    for (const i of this.listLogs().reverse()) {
      const from = `${this.path}.${i}`;
      if (this.maxRotatedFiles !== null && i >= this.maxRotatedFiles) fs.rmSync(from, { force: true });
      else fs.renameSync(from, `${this.path}.${i + 1}`);
    }
    fs.closeSync(this.fd);
    fs.renameSync(this.path, `${this.path}.1`);
    this.fd = fs.openSync(this.path, 'a', this.mode);
    this.size = 0;
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}
