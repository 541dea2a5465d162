import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import type { RemoteReader } from '../../../src/commands/context.js';
import { READS_IN_FLIGHT } from '../../../src/commands/transfer/download-file.js';
import { transferCommandFactories } from '../../../src/commands/transfer.js';
import { FileCommandContext } from '../file-command-context.js';

/**
 * A master's FileReader: each read takes its block from the file position when it is
 * asked (as the master serves calls in order), and is answered when the test says so,
 * in any order. Every call and the close are logged.
 */
class HeldReader implements RemoteReader {
  readonly log: string[] = [];
  readonly held: Array<() => void> = [];
  inFlight = 0;
  peak = 0;
  private offset = 0;

  constructor(private readonly content: Buffer) {}

  read(length: number): Promise<Uint8Array | null> {
    const block = this.content.subarray(this.offset, this.offset + length);
    this.offset += block.length;
    this.log.push(`read ${length} -> ${block.length}`);
    this.inFlight++;
    this.peak = Math.max(this.peak, this.inFlight);
    return new Promise((resolve) =>
      this.held.push(() => {
        this.inFlight--;
        resolve(block.length === 0 ? null : block);
      }),
    );
  }

  async close(): Promise<void> {
    this.log.push('close');
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function download(content: Buffer, args: Record<string, unknown>, answer: (r: HeldReader) => void) {
  const dir = await mkdtemp(join(tmpdir(), 'download-file-'));
  const path = join(dir, 'f');
  const reader = new HeldReader(content);
  const all = { path, ...args };
  const ctx = new FileCommandContext(all, undefined, reader);
  let done = false;
  const running = transferCommandFactories['downloadFile']!(all)
    .run(ctx)
    .finally(() => (done = true));
  while (!done) {
    await tick();
    answer(reader);
  }
  await running;
  return { ctx, reader, path };
}

it('keeps READS_IN_FLIGHT reads in flight, and the file in order when the answers come out of order', async () => {
  const content = randomBytes(100 * 1000 + 123);
  const { ctx, reader, path } = await download(content, { blocksize: 1000 }, (r) => {
    // Answer the newest read first.
    while (r.held.length > 0) r.held.pop()!();
  });
  assert.equal(ctx.rc, 0, ctx.text('stderr'));
  assert.ok((await readFile(path)).equals(content));
  assert.equal(reader.peak, READS_IN_FLIGHT);
});

it('end of file in the middle of the window: reads past it are answered before close, and ignored', async () => {
  const content = randomBytes(2500);
  const { ctx, reader, path } = await download(content, { blocksize: 1000 }, (r) => r.held.shift()?.());
  assert.equal(ctx.rc, 0, ctx.text('stderr'));
  assert.ok((await readFile(path)).equals(content));
  const reads = reader.log.filter((l) => l.startsWith('read'));
  assert.deepEqual(reads.slice(0, 4), ['read 1000 -> 1000', 'read 1000 -> 1000', 'read 1000 -> 500', 'read 1000 -> 0']);
  // The window was refilled after each of the three blocks with data, and not after the end.
  assert.equal(reads.length, READS_IN_FLIGHT + 3);
  assert.equal(reader.log.at(-1), 'close');
  assert.equal(reader.inFlight, 0);
});

it('maxsize: never asks past it, then one byte to see whether there is more', async () => {
  const content = randomBytes(5000);
  const exact = await download(content, { blocksize: 1000, maxsize: 5000 }, (r) => r.held.shift()?.());
  assert.equal(exact.ctx.rc, 0, exact.ctx.text('stderr'));
  assert.deepEqual(exact.reader.log, [...Array(5).fill('read 1000 -> 1000'), 'read 1 -> 0', 'close']);

  const over = await download(content, { blocksize: 1000, maxsize: 2500 }, (r) => r.held.shift()?.());
  assert.equal(over.ctx.rc, 1);
  assert.deepEqual(over.reader.log, ['read 1000 -> 1000', 'read 1000 -> 1000', 'read 500 -> 500', 'read 1 -> 1', 'close']);
});
