import { open, stat, type FileHandle } from 'node:fs/promises';
import type { Clock, TimerHandle } from '../../util/clock.js';

/** Python `LogFileWatcher.POLL_INTERVAL`. */
export const LOGFILE_POLL_MS = 2000;
const READ_BYTES = 10_000;

type Stamp = string | null;

async function stampOf(path: string): Promise<Stamp> {
  try {
    const s = await stat(path);
    return `${s.ctimeMs}/${s.mtimeMs}/${s.size}`;
  } catch {
    return null;
  }
}

/**
 * Follows one `logfiles` entry of a shell step (Python `runprocess.py LogFileWatcher`):
 * the file's (ctime, mtime, size) is noted at start; every 2 s it is compared again and,
 * once it differs, the file is read from the start (or, with `follow`, from the size seen
 * at that moment) in 10 000-byte blocks, each handed to `onData`. `stop()` makes a final
 * poll. A file that vanishes before starting is forgotten, so its re-creation counts.
 */
export class LogfileWatcher {
  private initial: Stamp = null;
  private fh: FileHandle | undefined;
  private position = 0;
  private timer: TimerHandle | undefined;
  private polling: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly path: string,
    private readonly follow: boolean,
    private readonly clock: Clock,
    private readonly onData: (data: Uint8Array) => void,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  async start(): Promise<void> {
    this.initial = await stampOf(this.path);
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      this.poll().finally(() => this.schedule());
    }, LOGFILE_POLL_MS);
  }

  /** One poll; polls never overlap. */
  poll(): Promise<void> {
    this.polling = this.polling.then(() => this.pollOnce()).catch((err: unknown) => this.onError(err));
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    if (!this.fh) {
      const s = await stampOf(this.path);
      if (s === this.initial) return;
      if (s === null) {
        this.initial = null;
        return;
      }
      this.fh = await open(this.path, 'r');
      this.position = this.follow ? (await this.fh.stat()).size : 0;
    }
    const buf = Buffer.allocUnsafe(READ_BYTES);
    for (;;) {
      const { bytesRead } = await this.fh.read(buf, 0, READ_BYTES, this.position);
      if (bytesRead === 0) return;
      this.position += bytesRead;
      this.onData(Buffer.from(buf.subarray(0, bytesRead)));
    }
  }

  /** Final poll, then close. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.poll();
    await this.fh?.close().catch(() => {});
    this.fh = undefined;
  }
}
