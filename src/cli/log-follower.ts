import fs from 'node:fs';

/** Bytes of new log read per poll, so a runaway log cannot exhaust memory. */
export const MAX_FOLLOW_READ_BYTES = 1024 * 1024;

/**
 * Follow a log file from its current end, like `tail -f` (Python's LogWatcher): each
 * `poll()` returns the complete lines written since the last one. A file that shrank was
 * rotated and is read from its start; a missing file yields nothing.
 */
export class LogFollower {
  private offset = 0;
  private pending = '';

  constructor(private readonly file: string) {
    try {
      this.offset = fs.statSync(file).size;
    } catch {
      /* not there yet: read it from the start once it is */
    }
  }

  poll(): string[] {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.file);
    } catch {
      return [];
    }
    if (st.size < this.offset) this.offset = 0;
    if (st.size === this.offset) return [];
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return [];
    }
    try {
      const buf = Buffer.alloc(Math.min(st.size - this.offset, MAX_FOLLOW_READ_BYTES));
      const n = fs.readSync(fd, buf, 0, buf.length, this.offset);
      this.offset += n;
      this.pending += buf.subarray(0, n).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
    const lines = this.pending.split('\n');
    this.pending = lines.pop() ?? '';
    // A line longer than one read is passed on in pieces rather than held without bound.
    if (this.pending.length > MAX_FOLLOW_READ_BYTES) {
      lines.push(this.pending);
      this.pending = '';
    }
    return lines;
  }
}
