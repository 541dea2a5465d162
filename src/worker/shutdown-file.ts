import fs from 'node:fs';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../util/clock.js';

/** Python polls `shutdown.stamp` every 10 s (`pb.py Worker.startService`). */
export const SHUTDOWN_FILE_POLL_MS = 10_000;
export const SHUTDOWN_FILE_NAME = 'shutdown.stamp';

/**
 * `--allow-shutdown file` (`docs/python-worker.md` §12): remember the mtime of `<basedir>/shutdown.stamp`
 * (0 when missing) and trigger a graceful shutdown whenever it becomes newer; the new mtime
 * is remembered so a failed attempt is not repeated until the file is touched again.
 */
export class ShutdownFileWatcher {
  private mtime = 0;
  private timer: TimerHandle | undefined;

  constructor(
    private readonly file: string,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly onTouched: () => void,
    private readonly mtimeOf: (file: string) => number | undefined = (f) => {
      try {
        return fs.statSync(f).mtimeMs;
      } catch {
        return undefined;
      }
    },
  ) {}

  start(): void {
    this.log.info(`Watching ${this.file}'s mtime to initiate shutdown`);
    this.mtime = this.mtimeOf(this.file) ?? 0;
    this.schedule();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** One poll (exposed for tests). */
  check(): void {
    const m = this.mtimeOf(this.file);
    if (m !== undefined && m > this.mtime) {
      this.log.info(`Initiating shutdown because ${this.file} was touched`);
      this.mtime = m;
      this.onTouched();
    }
  }

  private schedule(): void {
    this.timer = this.clock.setTimeout(() => {
      this.check();
      this.schedule();
    }, SHUTDOWN_FILE_POLL_MS);
  }
}
