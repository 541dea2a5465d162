import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CommandResult } from '../../../src/master/command-run.js';
import type { MasterEvent } from '../../../src/master/events.js';
import { expectedResponse } from '../../../src/master/pb/newcred.js';
import { startTestMaster } from '../../../src/master/test-master.js';
import type { WorkerHandle } from '../../../src/master/worker-handle.js';
import { BananaDecoder, type SExp } from '../../../src/protocol/banana.js';
import { CopiedFailure, RemoteRef, jelly, toPlain, unjelly, type JellyValue } from '../../../src/protocol/jelly.js';
import { PyTuple } from '../../../src/values.js';
import { captureChunks } from '../../session/pb/fixtures.js';
import { pbStreams } from '../../protocol/pb-capture.js';
import { b, RawPbClient, word } from './scripted-client.js';

const chunks = captureChunks('pb-session.jsonl');
const conn = (n: number) => chunks.filter((c) => c.conn === n);

// ---- replay of the golden capture -------------------------------------------------------

/** Every expression of one direction of a captured connection, decoded (the first one before the dialect switch). */
function capturedExpressions(n: number, dir: 'w2m' | 'm2w'): SExp[] {
  const st = pbStreams().find((x) => x.conn === n && x.dir === dir)!;
  return st.expressions.map((x) => new BananaDecoder(x.index === 0 ? 'none' : 'pb').feed(st.bytes.subarray(x.start, x.end))[0]!);
}
const captured2 = { w2m: capturedExpressions(2, 'w2m'), m2w: capturedExpressions(2, 'm2w') };
const capturedCalls = (dir: 'w2m' | 'm2w', method: string) => captured2[dir].map(asMessage).filter((m): m is Message => m?.method === method);

/** The capture's master: three builders whose builddir is their name, in the order it sent them (setBuilderList). */
const CAPTURE_BUILDERS = (capturedCalls('m2w', 'setBuilderList')[0]!.args[0] as PyTuple[]).map((t) => ({ name: String(t.items[0]), builddir: String(t.items[1]) }));
/** Which WorkerForBuilder luid is which builder, from the worker's setBuilderList answer. */
const CAPTURE_WFB: Record<number, string> = (() => {
  const request = capturedCalls('m2w', 'setBuilderList')[0]!.requestId;
  const answer = captured2.w2m.find((e) => Array.isArray(e) && word(e[0]) === 'answer' && e[1] === request) as SExp[];
  const out: Record<number, string> = {};
  for (const [name, ref] of Object.entries(toPlain(unjelly(answer[2]!)) as Record<string, RemoteRef>)) out[ref.luid] = name;
  return out;
})();
/** The challenge in the answer to `login` and the digest of `respond` on a captured connection. */
function capturedLogin(n: number): { challenge: Buffer; digest: Buffer } {
  const w2m = capturedExpressions(n, 'w2m').map(asMessage);
  const login = w2m.find((m) => m?.method === 'login')!;
  const answer = capturedExpressions(n, 'm2w').find((e) => Array.isArray(e) && word(e[0]) === 'answer' && e[1] === login.requestId) as SExp[];
  const challenge = Buffer.from((unjelly(answer[2]!) as PyTuple).items[0] as Uint8Array);
  const digest = Buffer.from(w2m.find((m) => m?.method === 'respond')!.args[0] as Uint8Array);
  return { challenge, digest };
}
/** References the master exported on connection 2 and the worker never released: +1 per ['remote', n] sent, −1 per decref. */
function capturedLiveReferences(): number {
  const remotes = (e: SExp): number => (Array.isArray(e) ? (word(e[0]) === 'remote' && e.length === 2 ? 1 : e.reduce<number>((n, x) => n + remotes(x), 0)) : 0);
  const sent = captured2.m2w.reduce<number>((n, e) => n + remotes(e), 0);
  const released = captured2.w2m.filter((e) => Array.isArray(e) && word(e[0]) === 'decref').length;
  return sent - released;
}

function replaceOnce(buf: Buffer, from: Buffer, to: Buffer): Buffer {
  const at = buf.indexOf(from);
  assert.ok(at >= 0, `${from.toString('hex')} not found`);
  const out = Buffer.from(buf);
  to.copy(out, at);
  return out;
}

/** Decode a stream the way a PB peer does: the first expression before the dialect switch. */
function* decodeAll(dec: BananaDecoder, bytes: Buffer, state: { first: boolean }): Generator<SExp> {
  dec.push(bytes);
  for (let e = dec.next(); e !== undefined; e = dec.next()) {
    if (state.first) {
      state.first = false;
      dec.dialect = 'pb';
    }
    yield e;
  }
}

interface Message {
  requestId: number;
  objectId: SExp;
  method: string;
  args: JellyValue[];
  kwargs: Record<string, JellyValue>;
}

function asMessage(e: SExp): Message | undefined {
  if (!Array.isArray(e) || word(e[0]) !== 'message') return undefined;
  const args = unjelly(e[5]!);
  return {
    requestId: e[1] as number,
    objectId: e[2]!,
    method: word(e[3])!,
    args: args instanceof PyTuple ? (args.items as JellyValue[]) : [],
    kwargs: unjelly(e[6]!) as Record<string, JellyValue>,
  };
}

test('replay of capture connection 2: every master byte matches the real 3.7 master (modulo the challenge)', async () => {
  const master = await startTestMaster({ workers: { pbworker: 'pb-secret' }, builders: CAPTURE_BUILDERS, msgpackPort: null });
  try {
    const records = conn(2);
    let expected: Buffer = Buffer.concat(records.filter((r) => r.dir === 'm2w').map((r) => r.bytes));
    // The master's startCommand calls, in order, to be triggered from the test when due.
    const starts: Message[] = [];
    {
      const dec = new BananaDecoder('none');
      for (const e of decodeAll(dec, expected, { first: true })) {
        const m = asMessage(e);
        if (m?.method === 'startCommand') starts.push(m);
      }
    }
    assert.equal(starts.length, 10);
    const triggered = new Set<string>();
    const runs = new Map<string, Promise<CommandResult>>();
    let handle: WorkerHandle | undefined;
    const worker = async (): Promise<WorkerHandle> => (handle ??= await master.waitForWorker('pbworker'));
    const trigger = async (m: Message): Promise<void> => {
      const id = String(m.args[1]);
      if (triggered.has(id)) return;
      triggered.add(id);
      const name = String(m.args[2]);
      const args = { ...(toPlain(m.args[3]!) as Record<string, unknown>) };
      delete args.writer;
      delete args.reader;
      const opts = name === 'downloadFile' ? { download: { data: 'downloaded from master\nsecond line\n' } } : name.startsWith('upload') ? { upload: { collect: true } } : {};
      const run = (await worker()).startCommand(CAPTURE_WFB[m.objectId as number]!, name, args, opts);
      assert.equal(run.commandId, id, 'the master-wide command counter starts at 0 like the capture');
      runs.set(id, run.done);
    };

    const client = await RawPbClient.connect(master.pbPort);
    const expectedDec = new BananaDecoder('none');
    const decState = { first: true };
    let m2wLength = 0;
    const { challenge: capturedChallenge, digest: capturedDigest } = capturedLogin(2);
    let challenge: Buffer | undefined;
    const runs8 = () => runs.get('8');
    for (const rec of records) {
      if (rec.dir === 'w2m') {
        client.write(challenge ? replaceOnceIfPresent(rec.bytes, capturedDigest, expectedResponse('pb-secret', challenge)) : rec.bytes);
        continue;
      }
      // Master actions a build step would take at this point of the capture.
      for (const e of decodeAll(expectedDec, rec.bytes, decState)) {
        const m = asMessage(e);
        if (!m) continue;
        const message = m.kwargs.message;
        if (m.method === 'print' && message === 'ping') await trigger(starts.find((s) => !triggered.has(String(s.args[1])))!);
        else if (m.method === 'startCommand') await trigger(m);
        else if (m.method === 'interruptCommand') {
          assert.ok(runs8());
          const h = await worker();
          const run = h.runningCommands().find((r) => r.commandId === String(m.args[0]));
          void run!.interrupt(String(m.args[1]));
        } else if (m.method === 'print' && message === 'keepalive') void (await worker()).keepalive();
      }
      m2wLength += rec.bytes.length;
      const got = await client.waitBytes(m2wLength);
      if (!challenge && got.length >= 52) {
        // The login answer carries a fresh challenge: substitute it in the expectation.
        const answer = unjelly((new BananaDecoder('pb').feed(got.subarray(18, 52))[0] as SExp[])[2]!) as PyTuple;
        challenge = Buffer.from(answer.items[0] as Uint8Array);
        expected = replaceOnce(expected, capturedChallenge, challenge);
      }
      assert.equal(got.subarray(0, m2wLength).toString('hex'), expected.subarray(0, m2wLength).toString('hex'), `master bytes up to ${m2wLength}`);
    }
    const h = await worker();
    assert.equal(h.liveReferences(), capturedLiveReferences(), 'the perspective and the command objects the Python worker never released');
    client.end();
    await h.detached;
    assert.equal(client.received().length, expected.length, 'nothing more than the capture');

    // What the steps saw.
    const r = Object.fromEntries(await Promise.all([...runs].map(async ([id, p]) => [id, await p] as const)));
    assert.equal(r['0']!.status, 'FAILURE');
    assert.equal(r['0']!.rc, 3);
    assert.equal(r['0']!.logs.stdout, 'stdout line 1\nstdout héllo ✓ (utf-8)\nstdout without trailing newline\n');
    assert.equal(r['0']!.logs.stderr, 'stderr line 1\n');
    assert.equal(r['0']!.logs.custom, 'custom log line 1\ncustom log line 2\n');
    const updateValue = (key: string) =>
      capturedCalls('w2m', 'update')
        .map((m) => toPlain(m.args[0]!) as Array<[Record<string, unknown>, number]>)
        .map((pairs) => pairs[0]![0])
        .find((d) => key in d)![key];
    assert.equal(r['0']!.elapsed, updateValue('elapsed'));
    assert.deepEqual(r['1']!.download, { reads: 2, bytesServed: 35, closed: true });
    assert.equal(r['1']!.status, 'SUCCESS');
    assert.deepEqual(
      r['5']!.updates.find(([k]) => k === 'stat'),
      ['stat', updateValue('stat')],
    );
    assert.equal(r['6']!.upload!.unpacked, true);
    assert.equal(r['6']!.upload!.writes, 1);
    assert.equal(r['7']!.upload!.data.toString(), 'upload me\n');
    assert.deepEqual(r['7']!.upload!.utime, toPlain(capturedCalls('w2m', 'utime')[0]!.args[0]!));
    assert.equal(r['8']!.interrupted, true);
    assert.equal(r['8']!.rc, -1);
    assert.equal(r['9']!.status, 'EXCEPTION');
    assert.equal(r['9']!.failureType, 'builtins.FileNotFoundError');
    assert.match(r['9']!.failure!, /^builtins\.FileNotFoundError: \[Errno 2\] No such file or directory: .*does-not-exist'\nTraceback/);
    for (const res of Object.values(r)) assert.deepEqual(res.violations, [], `no violations in command ${res.commandId}`);
    assert.deepEqual(h.violations, []);
    assert.equal(h.keepalivesReceived, capturedCalls('w2m', 'keepalive').length);
    assert.equal(h.shutdownRequested, true);
    assert.equal(h.info.basedir, '/tmp/bbproto/pb/worker');
    assert.equal((h.info.worker_commands as Record<string, string>).shell, '3.1');
  } finally {
    await master.close();
  }
});

function replaceOnceIfPresent(buf: Buffer, from: Buffer, to: Buffer): Buffer {
  return buf.indexOf(from) >= 0 ? replaceOnce(buf, from, to) : buf;
}

test('replay of capture connection 1: a wrong password gets decref(mind) then UnauthorizedLogin, the link stays up', async () => {
  const master = await startTestMaster({ workers: { pbworker: 'pb-secret' }, msgpackPort: null });
  const events: MasterEvent[] = [];
  master.on('event', (e: MasterEvent) => events.push(e));
  try {
    const [offer, hello, version, respond] = conn(1);
    assert.equal(offer!.dir, 'm2w');
    const client = await RawPbClient.connect(master.pbPort);
    assert.equal((await client.waitBytes(12)).toString('hex'), offer!.bytes.toString('hex'));
    client.write(hello!.bytes);
    const got = await client.waitBytes(12 + version!.bytes.length);
    const { challenge: capturedChallenge, digest: capturedDigest } = capturedLogin(1);
    const answer = unjelly((new BananaDecoder('pb').feed(got.subarray(18, 52))[0] as SExp[])[2]!) as PyTuple;
    const challenge = Buffer.from(answer.items[0] as Uint8Array);
    assert.equal(got.subarray(12).toString('hex'), replaceOnce(version!.bytes, capturedChallenge, challenge).toString('hex'));

    client.write(replaceOnce(respond!.bytes, capturedDigest, expectedResponse('wrong-password', challenge)));
    await client.next(); // offer
    await client.next(); // version
    await client.next(); // login answer
    assert.deepEqual(await client.next(), [b('decref'), 1], 'the mind is released first, as recorded');
    const error = (await client.next()) as SExp[];
    assert.equal(word(error[0]), 'error');
    assert.equal(error[1], 2);
    const failure = unjelly(error[2]!) as CopiedFailure;
    assert.ok(failure instanceof CopiedFailure);
    assert.equal(failure.type, 'twisted.cred.error.UnauthorizedLogin');
    assert.equal(failure.value, '');
    assert.deepEqual(failure.parents.slice(0, 3), ['twisted.cred.error.UnauthorizedLogin', 'twisted.cred.error.LoginFailed', 'twisted.cred.error.Unauthorized']);
    assert.deepEqual(
      events.filter((e) => e.type === 'authFailure').map((e) => e.type === 'authFailure' && [e.worker, e.protocol, e.reason]),
      [['pbworker', 'pb', 'UnauthorizedLogin']],
    );
    // Still up: another login on the same connection gets a fresh challenge from the next luid.
    client.send([b('message'), 3, b('root'), b('login'), 1, jelly(new PyTuple([b('pbworker')])), jelly({})]);
    const again = (await client.next()) as SExp[];
    assert.equal(word(again[0]), 'answer');
    assert.ok((unjelly(again[2]!) as PyTuple).items[1] instanceof RemoteRef);
    assert.equal(client.isClosed, false);
    client.destroy();
  } finally {
    await master.close();
  }
});
