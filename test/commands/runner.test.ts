import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { CommandRunner, PROMPT_DELAY_MS } from '../../src/commands/runner.js';
import type { CommandContext, CommandFactory } from '../../src/commands/context.js';
import { CommandInterrupted } from '../../src/commands/interrupt.js';
import type { Registry } from '../../src/commands/registry.js';
import { CommandError, ERR } from '../../src/errors.js';
import { ManualClock } from '../../src/util/clock.js';
import { PyFloat } from '../../src/values.js';
import { request, silentLog } from './fake-channel.js';
import { eventually } from '../helpers/eventually.js';

function registryOf(factories: Record<string, CommandFactory>): Registry {
  return { get: (n) => factories[n], versions: () => Object.fromEntries(Object.keys(factories).map((k) => [k, '3.3'])) };
}

/** A command whose body is the given function. */
const body =
  (fn: (ctx: CommandContext) => Promise<void>): CommandFactory =>
  () => ({ run: fn });

function setup(factories: Record<string, CommandFactory>, log = silentLog) {
  const clock = new ManualClock();
  const runner = new CommandRunner({ registry: registryOf(factories), clock, log, workerEnv: { A: '1' } });
  return { clock, runner };
}

test('unknown commands and bad arguments throw CommandError synchronously', () => {
  const { runner } = setup({
    bad: () => {
      throw new CommandError('Bad is missing args: x', ERR.MISSING_ARGS);
    },
    crash: () => {
      throw new TypeError('boom');
    },
  });
  assert.throws(
    () => runner.start(request('nope', {}, '7')),
    (e: CommandError) => e.code === ERR.UNKNOWN_COMMAND && e.message === "(command 7): unrecognized WorkerCommand 'nope'",
  );
  assert.throws(
    () => runner.start(request('bad', {})),
    (e: CommandError) => e.code === ERR.MISSING_ARGS,
  );
  assert.throws(
    () => runner.start(request('crash', {})),
    (e: CommandError) => e instanceof CommandError && /boom/.test(e.message),
  );
  assert.equal(runner.running, 0);
});

test('output is decoded, split into lines and completed after elapsed and the held partial line', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const { runner, clock } = setup({
    echo: body(async (ctx) => {
      assert.deepEqual(ctx.workerEnv, { A: '1' });
      const bytes = Buffer.from('héllo\nwor');
      ctx.output('stdout', bytes.subarray(0, 2)); // splits "é"
      ctx.output('stdout', bytes.subarray(2));
      ctx.logfile('custom', 'log line\n');
      await gate;
      clock.advance(1500);
      ctx.output('stdout', 'ld');
      ctx.status('rc', 0);
    }),
  });
  const req = request('echo', {});
  runner.start(req);
  assert.throws(
    () => runner.start(request('echo', {}, '1')),
    (e: CommandError) => e.code === ERR.DUPLICATE_COMMAND,
  );
  assert.equal(runner.running, 1);
  release();
  await req.channel.done;
  const e = req.channel.entries;
  assert.deepEqual(
    e.map((x) => (x.kind === 'status' ? `${x.key}` : `${x.kind === 'output' ? x.stream : x.name}:${x.chunk.text}`)),
    ['stdout:héllo\n', 'custom:log line\n', 'rc', 'elapsed', 'stdout:world\n'],
  );
  const elapsed = req.channel.statuses('elapsed')[0];
  assert.ok(elapsed instanceof PyFloat && elapsed.value === 1.5);
  assert.deepEqual(req.channel.completed, { failure: null });
  assert.equal(req.channel.events.at(-1), 'complete');
  await runner.whenIdle();
  assert.equal(runner.running, 0);
});

test('a command that throws completes with a failure (elapsed still sent)', async () => {
  const { runner } = setup({
    fail: body(async () => {
      throw new Error('disk on fire');
    }),
  });
  const req = request('fail', {});
  runner.start(req);
  await req.channel.done;
  assert.equal(req.channel.statuses('elapsed').length, 1);
  assert.equal(req.channel.completed?.failure?.value, 'disk on fire');
  assert.equal(req.channel.completed?.failure?.type, 'builtins.Exception');
});

test('interrupt flushes output (partial lines too) before aborting; no elapsed after an interrupt', async () => {
  const seen: string[] = [];
  const { runner } = setup({
    wait: body(async (ctx) => {
      ctx.output('stdout', 'partial');
      await new Promise<void>((resolve) =>
        ctx.signal.addEventListener('abort', () => {
          const r = ctx.signal.reason as CommandInterrupted;
          seen.push(`${r.why}/${r.silent}`, String(req.channel.batches.length));
          ctx.output('header', '\ncommand interrupted\n');
          ctx.status('rc', -1);
          resolve();
        }),
      );
    }),
  });
  const req = request('wait', {});
  runner.start(req);
  await runner.interrupt('1', 'stop it');
  await req.channel.done;
  assert.deepEqual(seen, ['stop it/false', '0']);
  assert.equal(req.channel.batches[0]![0]!.kind === 'output' && req.channel.batches[0]![0]!.chunk.text, 'partial\n');
  assert.deepEqual(req.channel.statuses('rc'), [-1]);
  assert.deepEqual(req.channel.statuses('elapsed'), []);
  assert.deepEqual(req.channel.completed, { failure: null });
  await runner.interrupt('1', 'again'); // finished: only logged
});

test('interruptAll silences commands: no more updates, no complete; ids are free at once', async () => {
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const { runner } = setup({
    wait: body(async (ctx) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
      assert.ok((ctx.signal.reason as CommandInterrupted).silent);
      ctx.output('stdout', 'lost\n');
      ctx.status('rc', -1);
      await finished;
    }),
  });
  const req = request('wait', {});
  runner.start(req);
  runner.interruptAll('connection lost');
  const again = request('wait', {}, '1');
  runner.start(again); // same id on the new connection
  assert.equal(runner.running, 2);
  runner.interruptAll('connection lost');
  finish();
  await runner.whenIdle();
  assert.equal(runner.running, 0);
  assert.deepEqual(req.channel.entries, []);
  assert.equal(req.channel.completed, undefined);
});

test('writer()/reader() without one from the master throw CommandError', async () => {
  const errors: unknown[] = [];
  const { runner } = setup({
    t: body(async (ctx) => {
      for (const f of [() => ctx.writer(), () => ctx.reader()]) {
        try {
          f();
        } catch (e) {
          errors.push(e);
        }
      }
    }),
  });
  const req = request('t', {});
  runner.start(req);
  await req.channel.done;
  assert.equal(errors.length, 2);
  assert.ok(errors.every((e) => e instanceof CommandError));
});

test('an unusable newline_re is logged once and the default pattern is used', async () => {
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => void lines.push(s) });
  const { runner } = setup({ t: body(async (ctx) => void ctx.output('stdout', 'a\r\nb\n')) }, log);
  runner.settings = { ...runner.settings, newlineRe: '(?(1)x|y)' };
  for (const id of ['1', '2']) {
    const req = request('t', {}, id);
    runner.start(req);
    await req.channel.done;
    assert.equal(req.channel.text('stdout'), 'a\nb\n');
  }
  assert.equal(lines.filter((l) => l.includes('newline_re')).length, 1);
});

test('settings apply to commands started afterwards', async () => {
  const { runner } = setup({ t: body(async (ctx) => void ctx.output('stdout', 'abcdefgh\n')) });
  runner.settings = { ...runner.settings, maxLineLength: 3 };
  const req = request('t', {});
  runner.start(req);
  await req.channel.done;
  assert.equal(req.channel.text('stdout'), 'abc\ndef\ngh\n');
});

test('a command that ends within the prompt delay reaches the master as one update and its completion', async () => {
  const { runner, clock } = setup({
    quick: body(async (ctx) => {
      ctx.output('header', 'running true\n');
      clock.advance(10); // the child ran for 10 ms
      ctx.status('rc', 0);
    }),
  });
  const req = request('quick', {});
  runner.start(req);
  await req.channel.done;
  assert.deepEqual(req.channel.events, ['update', 'complete']);
  const keys = req.channel.batches[0]!.map((x) => (x.kind === 'status' ? x.key : `${x.kind === 'output' ? x.stream : x.name}`));
  assert.deepEqual(keys, ['header', 'rc', 'elapsed']);
  assert.equal(clock.pending, 0, 'no timer is left behind');
});

test('the header of a longer command goes out after the prompt delay, not at its end', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const { runner, clock } = setup({
    slow: body(async (ctx) => {
      ctx.output('header', 'running make\n');
      await gate;
      ctx.status('rc', 0);
    }),
  });
  const req = request('slow', {});
  runner.start(req);
  await new Promise((r) => setImmediate(r));
  clock.advance(PROMPT_DELAY_MS - 1);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(req.channel.events, [], 'held during the delay');
  clock.advance(1);
  await eventually(() => req.channel.events.length === 1, 'the header update');
  assert.equal(req.channel.text('header'), 'running make\n');
  release();
  await req.channel.done;
  assert.deepEqual(req.channel.events, ['update', 'update', 'complete']);
});

test('onIdle is called each time the last running command has ended', async () => {
  const gates: Array<() => void> = [];
  const wait = (): Promise<void> => new Promise<void>((r) => gates.push(r));
  let idles = 0;
  const runner = new CommandRunner({
    registry: registryOf({ gated: body(() => wait()) }),
    clock: new ManualClock(),
    log: silentLog,
    workerEnv: {},
    onIdle: () => idles++,
  });
  const a = request('gated', {}, 'a');
  const b = request('gated', {}, 'b');
  runner.start(a);
  runner.start(b);
  await eventually(() => gates.length === 2, 'both commands running');
  gates[0]!();
  await a.channel.done;
  assert.equal(idles, 0, 'one command still runs');
  gates[1]!();
  await b.channel.done;
  await eventually(() => idles === 1, 'onIdle after the last one');
  const c = request('gated', {}, 'c');
  runner.start(c);
  await eventually(() => gates.length === 3, 'the next command running');
  gates[2]!();
  await c.channel.done;
  await eventually(() => idles === 2, 'onIdle again');
});
