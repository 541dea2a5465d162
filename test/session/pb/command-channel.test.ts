import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BananaDecoder, encodeBanana, type SExp } from '../../../src/protocol/banana.js';
import { CopiedFailure, RemoteRef, jelly, toPlain, unjelly, type JellyValue } from '../../../src/protocol/jelly.js';
import type { LogChunk, UpdateEntry } from '../../../src/commands/update.js';
import { Referenceable } from '../../../src/engine/pb/broker.js';
import { PbCommandChannel, ReleasedReferenceError, updateDict, updatePairs } from '../../../src/session/pb/command-channel.js';
import { PyFloat, PyTuple } from '../../../src/values.js';
import { linkedBrokers, settle } from './fixtures.js';
import { pbStreams } from '../../protocol/pb-capture.js';

const chunk = (text: string): LogChunk => ({ text, newlines: [], times: [] });

test('update entries take the PB shapes of pb.md §6.5', () => {
  assert.deepEqual(updateDict({ kind: 'output', stream: 'stdout', chunk: chunk('a\n') }), { stdout: 'a\n' });
  assert.deepEqual(updateDict({ kind: 'logfile', name: 'custom', chunk: chunk('l\n') }), { log: new PyTuple(['custom', 'l\n']) });
  const elapsed = updateDict({ kind: 'status', key: 'elapsed', value: new PyFloat(2) });
  assert.ok(elapsed.elapsed instanceof PyFloat);
  assert.deepEqual(updateDict({ kind: 'status', key: 'rc', value: -1 }), { rc: -1 });
  // Byte-exact against the capture (connection 2, worker → master): the custom log, the first
  // elapsed and the flushed partial stdout line, each with the request and object id it had.
  const w2m = pbStreams().find((st) => st.conn === 2 && st.dir === 'w2m')!;
  const updates = w2m.expressions
    .filter((x) => x.index > 0)
    .map((x) => ({ bytes: w2m.bytes.subarray(x.start, x.end), e: new BananaDecoder('pb').feed(w2m.bytes.subarray(x.start, x.end))[0] as SExp[] }))
    .filter(({ e }) => Array.isArray(e) && e[3] instanceof Uint8Array && Buffer.from(e[3]).toString() === 'update')
    .map(({ bytes, e }) => ({
      bytes,
      requestId: e[1] as number,
      objectId: e[2] as number,
      dict: toPlain(((unjelly(e[5]!) as PyTuple).items[0] as JellyValue[][])[0]![0]!) as Record<string, unknown>,
    }));
  const frame = (u: (typeof updates)[number], entry: UpdateEntry) =>
    encodeBanana([Buffer.from('message'), u.requestId, u.objectId, Buffer.from('update'), 1, jelly(new PyTuple([updatePairs([entry])])), jelly({})], 'pb');
  const log = updates.find((u) => 'log' in u.dict)!;
  assert.deepEqual(frame(log, { kind: 'logfile', name: 'custom', chunk: chunk('custom log line 1\ncustom log line 2\n') }), log.bytes);
  const elapsedUpdate = updates.find((u) => 'elapsed' in u.dict)!;
  assert.deepEqual(frame(elapsedUpdate, { kind: 'status', key: 'elapsed', value: new PyFloat(elapsedUpdate.dict.elapsed as number) }), elapsedUpdate.bytes);
  const partial = updates.find((u) => u.dict.stdout === 'stdout without trailing newline\n')!;
  assert.deepEqual(frame(partial, { kind: 'output', stream: 'stdout', chunk: chunk('stdout without trailing newline\n') }), partial.bytes);
  // An integral elapsed is still a FLOAT token.
  const wire = encodeBanana(jelly(new PyTuple([updatePairs([{ kind: 'status', key: 'elapsed', value: new PyFloat(2) }])])), 'pb');
  assert.ok(wire.includes(Buffer.from('844000000000000000', 'hex')), 'FLOAT 2.0 on the wire');
});

/** A master-side RemoteCommand and writer/reader recording what the worker calls. */
function masterObjects() {
  const calls: Array<[string, unknown]> = [];
  const rec = (name: string) => (args: JellyValue[]) => {
    calls.push([name, args.length === 1 ? args[0] : args]);
    return name === 'update' ? 0 : null;
  };
  const command = new Referenceable('RemoteCommand', { update: rec('update'), complete: rec('complete') });
  const writer = new Referenceable('FileWriter', { write: rec('write'), close: rec('close'), utime: rec('utime'), unpack: rec('unpack') });
  let blocks: Buffer[] = [Buffer.from('block1'), Buffer.from('')];
  const reader = new Referenceable('FileReader', {
    read: (args) => {
      calls.push(['read', args[0]]);
      return blocks.shift() ?? Buffer.alloc(0);
    },
    close: rec('rclose'),
  });
  return { calls, command, writer, reader, setBlocks: (b: Buffer[]) => (blocks = b) };
}

async function setup(withWriter = true, withReader = false) {
  const objs = masterObjects();
  let toWorker: Referenceable[] = [objs.command];
  if (withWriter) toWorker.push(objs.writer);
  if (withReader) toWorker.push(objs.reader);
  const received: RemoteRef[][] = [];
  const root = new Referenceable('root', {
    // The worker asks for its objects (standing in for startCommand's arguments).
    give: () => new PyTuple(toWorker as never),
  });
  const link = linkedBrokers(root);
  const answer = (await link.worker.callRemote('root', 'give')) as PyTuple;
  received.push(answer.items as unknown as RemoteRef[]);
  const [cmd, a, b2] = received[0]!;
  const w = withWriter ? a : undefined;
  const r = withWriter ? b2 : a;
  const channel = new PbCommandChannel(link.worker.reference(cmd!), w && link.worker.reference(w), withReader ? link.worker.reference(r!) : undefined);
  toWorker = [];
  return { ...objs, ...link, channel };
}

test('sendUpdates sends one update call with one [dict, 0] pair per entry, in order', async () => {
  const { channel, calls } = await setup(false);
  const entries: UpdateEntry[] = [
    { kind: 'output', stream: 'header', chunk: chunk('h\n') },
    { kind: 'output', stream: 'stdout', chunk: chunk('héllo ✓\n') },
    { kind: 'logfile', name: 'custom', chunk: chunk('l\n') },
    { kind: 'status', key: 'rc', value: 3 },
    { kind: 'status', key: 'elapsed', value: new PyFloat(0.25) },
  ];
  await channel.sendUpdates(entries);
  await channel.sendUpdates([]);
  assert.equal(calls.length, 1);
  assert.equal(calls[0]![0], 'update');
  const pairs = calls[0]![1] as JellyValue[];
  assert.deepEqual(
    toPlain(pairs as JellyValue),
    [
      [{ header: 'h\n' }, 0],
      [{ stdout: 'héllo ✓\n' }, 0],
      [{ log: ['custom', 'l\n'] }, 0],
      [{ rc: 3 }, 0],
      [{ elapsed: 0.25 }, 0],
    ].map(([d, n]) => [Object.assign(Object.create(null), d), n]),
  );
  const logValue = ((pairs[2] as JellyValue[])[0] as Record<string, JellyValue>).log;
  assert.ok(logValue instanceof PyTuple, 'log is a tuple');
});

test('complete(None) is sent, then the RemoteCommand is released on the master', async () => {
  const { channel, calls, master, command } = await setup(false);
  assert.equal(master.refcountOf(master.luidFor(command)!), 1);
  await channel.complete(null);
  await settle();
  assert.deepEqual(calls, [['complete', null]]);
  assert.equal(master.luidFor(command), undefined, 'released');
  assert.equal(master.exportedCount, 0);
  await channel.complete(null); // once only
  assert.equal(calls.length, 1);
});

test('complete(failure) sends a CopyableFailure', async () => {
  const { channel, calls } = await setup(false);
  await channel.complete({ type: 'builtins.FileNotFoundError', value: "[Errno 2] No such file or directory: '/x'", traceback: 'Traceback...\n' });
  const f = calls[0]![1];
  assert.ok(f instanceof CopiedFailure);
  assert.equal(f.type, 'builtins.FileNotFoundError');
  assert.equal(f.value, "[Errno 2] No such file or directory: '/x'");
  assert.equal(f.traceback, 'Traceback...\n');
  assert.ok(f.parents.includes('builtins.FileNotFoundError'));
});

test('file upload: write bytes, close, utime floats; the writer is released with the command', async () => {
  const { channel, calls, master, writer } = await setup(true);
  await channel.writer!.write(Buffer.from('upload me\n'));
  await channel.writer!.close();
  await channel.writer!.utime(1795343306.3891253, 1795343306);
  assert.deepEqual(calls[0], ['write', Buffer.from('upload me\n')]);
  assert.equal(calls[1]![0], 'close');
  const times = calls[2]![1] as PyTuple;
  assert.equal(calls[2]![0], 'utime');
  assert.ok(times instanceof PyTuple);
  assert.ok(times.items.every((t) => t instanceof PyFloat));
  assert.deepEqual(
    times.items.map((t) => (t as PyFloat).value),
    [1795343306.3891253, 1795343306],
  );
  assert.ok(master.luidFor(writer) !== undefined, 'still held until the command completes');
  await channel.complete(null);
  await settle();
  assert.equal(master.exportedCount, 0);
  await assert.rejects(channel.writer!.write(Buffer.from('late')), ReleasedReferenceError);
});

test('directory upload: unpack releases the writer at once', async () => {
  const { channel, master, writer } = await setup(true);
  await channel.writer!.write(Buffer.from('tar'));
  await channel.writer!.unpack();
  await settle();
  assert.equal(master.luidFor(writer), undefined);
  await assert.rejects(channel.writer!.close(), ReleasedReferenceError);
});

test('download: read returns bytes, then b"" at end; close releases the reader', async () => {
  const { channel, master, reader, calls } = await setup(false, true);
  assert.deepEqual(Buffer.from((await channel.reader!.read(16384))!), Buffer.from('block1'));
  assert.equal((await channel.reader!.read(16384))!.length, 0);
  await channel.reader!.close();
  await settle();
  assert.deepEqual(
    calls.filter((c) => c[0] === 'read').map((c) => c[1]),
    [16384, 16384],
  );
  assert.equal(master.luidFor(reader), undefined);
  await channel.complete(null);
  await settle();
  assert.equal(master.exportedCount, 0);
});
