import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandRunner, OUTPUT_BACKLOG_LIMIT } from '../../src/commands/runner.js';
import { shellCommandFactory } from '../../src/commands/shell.js';
import type { Registry } from '../../src/commands/registry.js';
import type { UpdateEntry } from '../../src/commands/update.js';
import { systemClock } from '../../src/util/clock.js';
import { FakeChannel, request, silentLog } from './fake-channel.js';

const registry: Registry = { get: (n) => (n === 'shell' ? shellCommandFactory : undefined), versions: () => ({ shell: '3.3' }) };
const workerEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/home/w' };
const fixture = fileURLToPath(new URL('../process/fixtures/counted-output.js', import.meta.url));

/**
 * A master that takes one update batch every `delayMs`, far slower than a child can write.
 * At each answer it compares the bytes the child has written so far (its counter file) with
 * the bytes answered, which is everything the worker holds: pipe, decoder, queue, in flight.
 */
class SlowChannel extends FakeChannel {
  acked = 0;
  maxHeld = 0;
  private chain = Promise.resolve();

  constructor(
    private readonly counterFile: string,
    private readonly delayMs: number,
  ) {
    super();
  }

  override sendUpdates(entries: UpdateEntry[]): Promise<void> {
    let bytes = 0;
    const kept: UpdateEntry[] = [];
    for (const e of entries) {
      if (e.kind === 'output' && e.stream === 'stdout') bytes += e.chunk.text.length;
      else kept.push(e);
    }
    void super.sendUpdates(kept);
    const answered = this.chain.then(async () => {
      await new Promise((r) => setTimeout(r, this.delayMs));
      this.acked += bytes;
      const produced = existsSync(this.counterFile) ? Number(readFileSync(this.counterFile, 'utf8').trim() || '0') : 0;
      this.maxHeld = Math.max(this.maxHeld, produced - this.acked);
    });
    this.chain = answered;
    return answered;
  }
}

async function stream(total: number, usePTY: boolean, delayMs: number): Promise<SlowChannel> {
  const workdir = mkdtempSync(join(tmpdir(), 'shell-backpressure-'));
  const counterFile = join(workdir, 'written');
  const channel = new SlowChannel(counterFile, delayMs);
  const runner = new CommandRunner({ registry, clock: systemClock, log: silentLog, workerEnv });
  runner.start(request('shell', { workdir, logEnviron: false, usePTY, command: [process.execPath, fixture, String(total), counterFile] }, '1', channel));
  await channel.done;
  assert.deepEqual(channel.statuses('rc'), [0]);
  return channel;
}

// Slack over the limit: the pipe (64 KiB) or terminal buffer, one write of the child, one read.
const SLACK = 1024 * 1024;

test('a child writing 200 MB to a slow master: the bytes the worker holds stay bounded, and all arrive', async () => {
  const total = 200 * 1000 * 1000;
  const channel = await stream(total, false, 1);
  assert.equal(channel.acked, total);
  assert.ok(channel.maxHeld <= OUTPUT_BACKLOG_LIMIT + SLACK, `held up to ${channel.maxHeld} bytes`);
  assert.ok(channel.maxHeld > 0);
});

test('with a PTY the terminal is paused as well', async () => {
  const total = 20 * 1000 * 1000;
  const channel = await stream(total, true, 5);
  // The terminal turns each "\n" into "\r\n", which the line splitter turns back into "\n".
  // Every byte arrives, also what is still in the terminal when the child exits.
  assert.equal(channel.acked, total);
  assert.ok(channel.maxHeld <= OUTPUT_BACKLOG_LIMIT + SLACK, `held up to ${channel.maxHeld} bytes`);
  assert.ok(channel.maxHeld > 0);
});
