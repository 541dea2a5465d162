import type { Clock, TimerHandle } from '../../util/clock.js';
import type { LogChunk, UpdateEntry } from '../update.js';

/**
 * The update queue of one command (`docs/protocol/msgpack.md` §7; Python
 * `util/buffer_manager.py BufferManager`). Entries are queued; consecutive log entries of
 * the same stream (same logfile name) are merged. The queue is sent when adding an entry
 * would exceed `bufferSize` (cost: text length + 8 × (newlines + times) for log entries,
 * 20 for others), `bufferTimeout` seconds after its first entry, or on `flush()`. A log
 * entry that does not fit is cut at line boundaries: its leading lines fill the queue up to
 * `bufferSize` before it is sent, whole `bufferSize` pieces follow, and the rest stays
 * queued for the next output. So under sustained output every update is a full buffer, as
 * with Python: the master's cost is per update call (one log append each), and sending a
 * half-filled queue plus the tail of every pipe read separately nearly doubled the calls.
 *
 * Difference from Python (issue #7292, `docs/python-worker.md` §18 item 2): when nothing was sent for
 * `bufferTimeout` seconds (in particular the first output of a command: its header),
 * the queue goes out after `promptDelayMs` instead of waiting the full timeout. Under
 * sustained output the rate stays at one update per `bufferTimeout`.
 *
 * Sends are serialized: a batch is handed to `send` only after the previous one settled,
 * so updates reach the master in order. A failed send is reported to `onSendError` and
 * does not stop later sends (Python logs `_ack_failed` and goes on).
 *
 * The buffer takes ownership of the chunks it is given (their arrays are extended in place
 * when merging).
 */
export interface UpdateBufferOptions {
  send: (entries: UpdateEntry[]) => Promise<void>;
  clock: Clock;
  /** Bytes-ish cost at which the queue is sent. */
  bufferSize: number;
  /** Seconds after the first queued entry at which the queue is sent. */
  bufferTimeout: number;
  /** Delay before sending the first entries after a quiet period (ms, default 0: the next timer turn). */
  promptDelayMs?: number;
  /**
   * How many batches may be handed to `send` before the first of them settled (default 1:
   * strictly one after the other). `send` must put its batch on the wire synchronously, so
   * a window > 1 keeps the order while the round trips to the master overlap.
   */
  maxInFlight?: number;
  onSendError?: (err: unknown) => void;
  /**
   * Backlog (cost of everything not yet acknowledged: queued, waiting for a send slot and
   * in flight) above which `writable` turns false, so the producer pauses (default:
   * unbounded). `whenWritable()` resolves once the backlog is down to half of it.
   */
  highWaterMark?: number;
}

const STATUS_COST = 20;
const INDEX_COST = 8;

function chunkCost(chunk: LogChunk): number {
  return codePointLength(chunk) + INDEX_COST * (chunk.newlines.length + chunk.times.length);
}

/** Chunks always end with "\n", so the last newline index + 1 is the length in code points. */
function codePointLength(chunk: LogChunk): number {
  const n = chunk.newlines.length;
  return n > 0 ? chunk.newlines[n - 1]! + 1 : chunk.text.length;
}

export function entryCost(entry: UpdateEntry): number {
  return entry.kind === 'status' ? STATUS_COST : chunkCost(entry.chunk);
}

function sameLog(a: UpdateEntry, b: UpdateEntry): boolean {
  if (a.kind === 'output' && b.kind === 'output') return a.stream === b.stream;
  if (a.kind === 'logfile' && b.kind === 'logfile') return a.name === b.name;
  return false;
}

/** Append `next` to `into` (same stream), shifting its indexes by `into`'s code-point length. */
function mergeChunk(into: LogChunk, next: LogChunk): LogChunk {
  const shift = codePointLength(into);
  const newlines = into.newlines;
  for (const i of next.newlines) newlines.push(i + shift);
  const times = into.times;
  for (const t of next.times) times.push(t);
  return { text: into.text + next.text, newlines, times };
}

/** Cut a log chunk into pieces of whole lines each costing at most `limit` (at least one line per piece). */
export function splitChunk(chunk: LogChunk, limit: number): LogChunk[] {
  const pieces: LogChunk[] = [];
  const { text, newlines, times } = chunk;
  let line = 0; // first line of the current piece
  let unitStart = 0; // UTF-16 start of the current piece in text
  let unitPos = 0; // UTF-16 index of the last scanned "\n" + 1
  while (line < newlines.length) {
    const cpStart = line === 0 ? 0 : newlines[line - 1]! + 1;
    let end = line; // last line included (inclusive)
    unitPos = text.indexOf('\n', unitStart) + 1;
    for (;;) {
      const nextEnd = end + 1;
      if (nextEnd >= newlines.length) break;
      const cost = newlines[nextEnd]! + 1 - cpStart + 2 * INDEX_COST * (nextEnd - line + 1);
      if (cost > limit) break;
      end = nextEnd;
      unitPos = text.indexOf('\n', unitPos) + 1;
    }
    pieces.push({
      text: text.slice(unitStart, unitPos),
      newlines: newlines.slice(line, end + 1).map((i) => i - cpStart),
      times: times.slice(line, end + 1),
    });
    unitStart = unitPos;
    line = end + 1;
  }
  return pieces;
}

/**
 * Cut a log chunk after its leading lines that cost at most `limit` together: `[head, rest]`,
 * either undefined when empty.
 */
export function cutChunk(chunk: LogChunk, limit: number): [LogChunk | undefined, LogChunk | undefined] {
  const { text, newlines, times } = chunk;
  let lines = 0;
  while (lines < newlines.length && newlines[lines]! + 1 + 2 * INDEX_COST * (lines + 1) <= limit) lines++;
  if (lines === 0) return [undefined, chunk];
  if (lines === newlines.length) return [chunk, undefined];
  let unitPos = 0;
  for (let i = 0; i < lines; i++) unitPos = text.indexOf('\n', unitPos) + 1;
  const shift = newlines[lines - 1]! + 1;
  return [
    { text: text.slice(0, unitPos), newlines: newlines.slice(0, lines), times: times.slice(0, lines) },
    { text: text.slice(unitPos), newlines: newlines.slice(lines).map((i) => i - shift), times: times.slice(lines) },
  ];
}

function withChunk(entry: UpdateEntry & { kind: 'output' | 'logfile' }, chunk: LogChunk): UpdateEntry {
  return entry.kind === 'output' ? { kind: 'output', stream: entry.stream, chunk } : { kind: 'logfile', name: entry.name, chunk };
}

/** A batch handed to `dispatch`, with its cost for the backlog. */
interface Batch {
  entries: UpdateEntry[];
  cost: number;
}

function batchCost(entries: UpdateEntry[]): number {
  let cost = 0;
  for (const e of entries) cost += entryCost(e);
  return cost;
}

export class UpdateBuffer {
  private queue: UpdateEntry[] = [];
  private queuedCost = 0;
  private timer: TimerHandle | undefined;
  private lastSendAt = Number.NEGATIVE_INFINITY;
  /** Batches waiting for a free send slot, oldest first. */
  private readonly waiting: Batch[] = [];
  private inFlight = 0;
  /** Cost of the batches waiting or in flight. */
  private unackedCost = 0;
  private discarded = false;
  private idleWaiters: Array<() => void> = [];
  private writableWaiters: Array<() => void> = [];
  private readonly o: UpdateBufferOptions;
  private readonly maxInFlight: number;
  private readonly highWaterMark: number;

  constructor(options: UpdateBufferOptions) {
    this.o = options;
    this.maxInFlight = Math.max(1, Math.floor(options.maxInFlight ?? 1));
    this.highWaterMark = options.highWaterMark ?? Number.POSITIVE_INFINITY;
  }

  /** Cost of what is queued now. */
  get cost(): number {
    return this.queuedCost;
  }

  /** Cost of everything the master has not acknowledged yet: queued, waiting and in flight. */
  get backlog(): number {
    return this.queuedCost + this.unackedCost;
  }

  /** False while the backlog is above `highWaterMark`: the producer should pause until `whenWritable()`. */
  get writable(): boolean {
    return this.discarded || this.backlog <= this.highWaterMark;
  }

  /** Resolves when the backlog is at most half of `highWaterMark` (at once if it is already), or after `discard()`. */
  whenWritable(): Promise<void> {
    if (this.discarded || this.backlog <= this.highWaterMark / 2) return Promise.resolve();
    return new Promise((resolve) => this.writableWaiters.push(resolve));
  }

  get queued(): number {
    return this.queue.length;
  }

  append(entry: UpdateEntry): void {
    const cost = entryCost(entry);
    const size = this.o.bufferSize;
    if (cost <= size - this.queuedCost) {
      this.enqueue(entry, cost);
      return;
    }
    if (entry.kind === 'status') {
      this.sendQueue();
      if (cost <= size) this.enqueue(entry, cost);
      else this.dispatch([entry], cost);
      return;
    }
    const [head, rest] = cutChunk(entry.chunk, size - this.queuedCost);
    if (head) this.enqueue(withChunk(entry, head), chunkCost(head));
    this.sendQueue();
    if (!rest) return;
    const pieces = splitChunk(rest, size);
    const last = pieces.pop()!;
    for (const chunk of pieces) this.dispatch([withChunk(entry, chunk)], chunkCost(chunk));
    const lastCost = chunkCost(last);
    // A single line bigger than bufferSize goes alone; a smaller tail waits for more output.
    if (lastCost <= size) this.enqueue(withChunk(entry, last), lastCost);
    else this.dispatch([withChunk(entry, last)], lastCost);
  }

  /** Send whatever is queued; resolves when every send so far has settled. */
  flush(): Promise<void> {
    this.sendQueue();
    if (this.inFlight === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Forget the queue and the timer (the command's connection is gone). */
  discard(): void {
    this.cancelTimer();
    this.queue = [];
    this.queuedCost = 0;
    this.discarded = true;
    this.releaseWritable();
  }

  private releaseWritable(): void {
    if (this.writableWaiters.length === 0) return;
    if (!this.discarded && this.backlog > this.highWaterMark / 2) return;
    for (const w of this.writableWaiters.splice(0)) w();
  }

  private enqueue(entry: UpdateEntry, cost: number): void {
    const last = this.queue[this.queue.length - 1];
    if (last && entry.kind !== 'status' && sameLog(last, entry) && last.kind !== 'status') {
      const chunk = mergeChunk(last.chunk, entry.chunk);
      this.queue[this.queue.length - 1] = last.kind === 'output' ? { kind: 'output', stream: last.stream, chunk } : { kind: 'logfile', name: last.name, chunk };
    } else {
      this.queue.push(entry);
    }
    this.queuedCost += cost;
    if (!this.timer) {
      const now = this.o.clock.now();
      const timeoutMs = Math.max(0, this.o.bufferTimeout * 1000);
      const quiet = now - this.lastSendAt >= timeoutMs;
      this.timer = this.o.clock.setTimeout(
        () => {
          this.timer = undefined;
          this.sendQueue();
        },
        quiet ? Math.min(this.o.promptDelayMs ?? 0, timeoutMs) : timeoutMs,
      );
    }
  }

  private cancelTimer(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private sendQueue(): void {
    this.cancelTimer();
    if (this.queue.length === 0) return;
    const batch = this.queue;
    const cost = this.queuedCost;
    this.queue = [];
    this.queuedCost = 0;
    this.dispatch(batch, cost);
  }

  private dispatch(entries: UpdateEntry[], cost: number = batchCost(entries)): void {
    this.lastSendAt = this.o.clock.now();
    this.unackedCost += cost;
    this.waiting.push({ entries, cost });
    this.pump();
  }

  /** Hand waiting batches to `send`, oldest first, while the window has room. */
  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.waiting.length > 0) {
      const batch = this.waiting.shift()!;
      this.inFlight++;
      // Handed over on the next microtask, as before the window existed; microtasks run
      // in order, so the batches still reach `send` oldest first.
      Promise.resolve()
        .then(() => this.o.send(batch.entries))
        .catch((err: unknown) => {
          this.o.onSendError?.(err);
        })
        .then(() => {
          this.inFlight--;
          this.unackedCost -= batch.cost;
          this.pump();
          this.releaseWritable();
          if (this.inFlight === 0 && this.waiting.length === 0) {
            for (const w of this.idleWaiters.splice(0)) w();
          }
        });
    }
  }
}
