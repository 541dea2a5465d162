import { CommandError, ERR } from '../../errors.js';
import { StoppedError } from '../fs/watchdog.js';

/** A remote write that failed; `cause` is what the writer rejected with. */
export class RemoteWriteError extends CommandError {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), ERR.REMOTE_WRITE, { cause });
  }
}

/**
 * Sends blocks to the master's writer in order, with up to `maxInFlightBytes` of them
 * awaiting their answer (always at least one). `send` waits while the window is full, so
 * a slow master slows the reader down instead of letting data pile up in memory.
 */
export class PipelinedWriter {
  private readonly pending = new Set<Promise<void>>();
  private bytes = 0;
  private failure: RemoteWriteError | undefined;
  /** The most bytes that were ever awaiting an answer at once (for tests and logs). */
  peakInFlightBytes = 0;

  constructor(
    private readonly write: (block: Uint8Array) => Promise<void>,
    private readonly maxInFlightBytes: number,
    private readonly signal: AbortSignal,
  ) {}

  get inFlightBytes(): number {
    return this.bytes;
  }

  /** Start writing `block` once there is room; throws the first failure, or StoppedError. */
  async send(block: Uint8Array): Promise<void> {
    while (!this.failure && this.pending.size > 0 && this.bytes + block.length > this.maxInFlightBytes) {
      await this.settleOne();
    }
    this.check();
    const size = block.length;
    this.bytes += size;
    this.peakInFlightBytes = Math.max(this.peakInFlightBytes, this.bytes);
    const done: Promise<void> = (async () => this.write(block))().then(
      () => {
        this.bytes -= size;
        this.pending.delete(done);
      },
      (err: unknown) => {
        this.bytes -= size;
        this.pending.delete(done);
        this.failure ??= new RemoteWriteError(err);
      },
    );
    this.pending.add(done);
  }

  /** Wait until every block sent has been answered; throws the first failure, or StoppedError. */
  async drain(): Promise<void> {
    while (!this.failure && this.pending.size > 0) await this.settleOne();
    this.check();
  }

  private check(): void {
    if (this.failure) throw this.failure;
    if (this.signal.aborted) throw new StoppedError();
  }

  private async settleOne(): Promise<void> {
    this.check();
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<void>((resolve) => {
      onAbort = resolve;
      this.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([...this.pending, aborted]);
    } finally {
      this.signal.removeEventListener('abort', onAbort!);
    }
    this.check();
  }
}
