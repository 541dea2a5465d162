import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionError, ERR, ProtocolError } from '../../../src/errors.js';
import type { SExp } from '../../../src/protocol/banana.js';
import { CopiedFailure, RemoteRef, jelly, jellyFailure, unjelly } from '../../../src/protocol/jelly.js';
import { Broker, INVALID_OBJECT_TYPE, NO_SUCH_METHOD_TYPE, PbFailure, Referenceable, RemoteCallError } from '../../../src/engine/pb/broker.js';
import { PyTuple } from '../../../src/values.js';
import { memoryLogger, settle } from '../../session/pb/fixtures.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const str = (v: SExp | undefined) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : undefined);

function setup(root?: Referenceable) {
  const sent: SExp[][] = [];
  const { log, lines } = memoryLogger();
  const broker = new Broker({ send: (e) => void sent.push(e as SExp[]), log, root });
  return { broker, sent, lines };
}

/** A `message` from the peer. */
function message(requestId: number, objectId: number | string, method: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}, answer = 1): SExp {
  return [b('message'), requestId, typeof objectId === 'string' ? b(objectId) : objectId, b(method), answer, jelly(new PyTuple(args as never)), jelly(kwargs as never)];
}

function failureIn(expr: SExp[]): CopiedFailure {
  assert.equal(str(expr[0]), 'error');
  const f = unjelly(expr[2]!);
  assert.ok(f instanceof CopiedFailure);
  return f;
}

/** Export `obj` by sending it to the peer once; returns its luid. */
function exportOnce(broker: Broker, obj: Referenceable): number {
  void broker.callRemote('root', 'take', [obj]).catch(() => {});
  const luid = broker.luidFor(obj);
  assert.ok(luid !== undefined);
  return luid;
}

test('calls carry increasing request ids and answers match out of order', async () => {
  const { broker, sent } = setup();
  const first = broker.callRemote('root', 'login', [b('pbworker')]);
  const second = broker.callRemote(new RemoteRef(7), 'respond', ['x'], { k: 1 });
  assert.deepEqual(
    sent.map((e) => [str(e[0]), e[1], e[2] instanceof Uint8Array ? str(e[2]) : e[2], str(e[3]), e[4]]),
    [
      ['message', 1, 'root', 'login', 1],
      ['message', 2, 7, 'respond', 1],
    ],
  );
  assert.deepEqual(sent[0]![5], [b('tuple'), b('pbworker')]);
  broker.receive([b('answer'), 2, jelly('second')]);
  broker.receive([b('answer'), 1, jelly(41)]);
  assert.equal(await second, 'second');
  assert.equal(await first, 41);
  assert.equal(broker.pendingCalls, 0);
});

test('an error answer rejects with RemoteCallError carrying the failure', async () => {
  const { broker } = setup();
  const call = broker.callRemote('root', 'boom');
  broker.receive([b('error'), 1, jellyFailure({ type: 'builtins.ValueError', value: 'bad value', traceback: 'tb\n' })]);
  await assert.rejects(call, (err: unknown) => {
    assert.ok(err instanceof RemoteCallError);
    assert.equal(err.failure.type, 'builtins.ValueError');
    assert.equal(err.failure.value, 'bad value');
    assert.equal(err.method, 'boom');
    return true;
  });
});

test('an answer for a request nobody waits for is ignored, not fatal', () => {
  const { broker, lines } = setup();
  broker.receive([b('answer'), 42, jelly(null)]);
  assert.ok(lines.some((l) => String(l.msg).includes('not pending')));
});

test('incoming calls reach the method with args and kwargs, and are answered once', async () => {
  const seen: unknown[] = [];
  const obj = new Referenceable('Thing', {
    echo: (args, kwargs) => {
      seen.push(args, { ...kwargs });
      return new PyTuple([args[0], kwargs.k] as never);
    },
    later: async () => 'done',
  });
  const { broker, sent } = setup();
  const luid = exportOnce(broker, obj);
  sent.length = 0;
  broker.receive(message(1, luid, 'echo', ['a'], { k: 5 }));
  assert.deepEqual(seen, [['a'], { k: 5 }]);
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0], [b('answer'), 1, jelly(new PyTuple(['a', 5]))]);
  broker.receive(message(2, luid, 'later'));
  assert.equal(sent.length, 1, 'async answer not sent yet');
  await settle();
  assert.deepEqual(sent[1], [b('answer'), 2, jelly('done')]);
});

test('answerRequired=0 runs the method but sends no answer, even on failure', async () => {
  let calls = 0;
  const obj = new Referenceable('Thing', {
    ping: () => {
      calls++;
      return 1;
    },
    fail: () => {
      throw new Error('no');
    },
  });
  const { broker, sent } = setup();
  const luid = exportOnce(broker, obj);
  sent.length = 0;
  broker.receive(message(1, luid, 'ping', [], {}, 0));
  broker.receive(message(2, luid, 'fail', [], {}, 0));
  broker.receive(message(3, luid, 'nosuch', [], {}, 0));
  await settle();
  assert.equal(calls, 1);
  assert.deepEqual(sent, []);
});

test('an unknown method gets NoSuchMethod with the Twisted type and text', () => {
  const { broker, sent } = setup();
  const luid = exportOnce(broker, new Referenceable('Thing', {}));
  sent.length = 0;
  broker.receive(message(9, luid, 'nosuch'));
  assert.equal(sent[0]![1], 9);
  const f = failureIn(sent[0]!);
  assert.equal(f.type, NO_SUCH_METHOD_TYPE);
  assert.equal(f.type, 'twisted.spread.flavors.NoSuchMethod');
  assert.equal(f.value, 'No such method: remote_nosuch');
  assert.ok(f.parents.includes('twisted.spread.flavors.NoSuchMethod'));
});

test('an unknown object id gets Invalid Object ID; root without a root object too', () => {
  const { broker, sent } = setup();
  broker.receive(message(1, 77, 'echo', [5]));
  broker.receive(message(2, 'root', 'echo', [5]));
  for (const e of sent) {
    const f = failureIn(e);
    assert.equal(f.type, INVALID_OBJECT_TYPE);
    assert.equal(f.value, 'Invalid Object ID');
  }
  assert.deepEqual(
    sent.map((e) => e[1]),
    [1, 2],
  );
});

test('the root object answers calls on b"root"', () => {
  const root = new Referenceable('root', { echo: (args) => args[0] });
  const { broker, sent } = setup(root);
  broker.receive(message(1, 'root', 'echo', [5]));
  assert.deepEqual(sent[0], [b('answer'), 1, 5]);
});

test('a method error becomes an error answer with the failure type it asks for', async () => {
  const obj = new Referenceable('Thing', {
    typed: () => {
      throw new PbFailure('buildbot_worker.exceptions.UnknownCommand', 'unrecognized');
    },
    rejects: async () => {
      throw new Error('async boom');
    },
  });
  const { broker, sent } = setup();
  const luid = exportOnce(broker, obj);
  sent.length = 0;
  broker.receive(message(1, luid, 'typed'));
  broker.receive(message(2, luid, 'rejects'));
  await settle();
  const f1 = failureIn(sent[0]!);
  assert.equal(f1.type, 'buildbot_worker.exceptions.UnknownCommand');
  assert.equal(f1.value, 'unrecognized');
  const f2 = failureIn(sent[1]!);
  assert.equal(f2.value, 'async boom');
  assert.equal(sent.length, 2);
});

test('exported objects: same luid while held, +1 per send, -1 per decref, forgotten at 0, luids never reused', () => {
  const a = new Referenceable('A', {});
  const c = new Referenceable('C', {});
  const { broker, sent } = setup();
  const luid = exportOnce(broker, a);
  assert.equal(luid, 1);
  assert.equal(exportOnce(broker, a), 1);
  // Twice in one value counts twice too.
  void broker.callRemote('root', 'take', [{ x: a, y: a }]).catch(() => {});
  assert.equal(broker.refcountOf(1), 4);
  assert.deepEqual(sent[2]![5], [
    b('tuple'),
    [
      b('dictionary'),
      [
        [b('unicode'), b('x')],
        [b('remote'), 1],
      ],
      [
        [b('unicode'), b('y')],
        [b('remote'), 1],
      ],
    ],
  ]);
  for (let i = 3; i >= 0; i--) {
    broker.receive([b('decref'), 1]);
    assert.equal(broker.refcountOf(1), i);
  }
  assert.equal(broker.luidFor(a), undefined);
  assert.equal(broker.exportedCount, 0);
  // A stray decref (unknown luid) is logged and ignored.
  assert.doesNotThrow(() => broker.receive([b('decref'), 1]));
  assert.doesNotThrow(() => broker.receive([b('decref'), 999]));
  assert.equal(exportOnce(broker, c), 2);
  assert.equal(exportOnce(broker, a), 3, 'a re-exported object gets a new luid');
});

test('one decref per received ["remote", n] occurrence, never more', async () => {
  const { broker, sent } = setup();
  const call = broker.callRemote('root', 'get');
  broker.receive([b('answer'), 1, [b('tuple'), [b('remote'), 5], [b('remote'), 5], [b('list'), [b('remote'), 6]]]]);
  const value = (await call) as PyTuple;
  assert.equal(broker.heldCount(5), 2);
  assert.equal(broker.heldCount(6), 1);
  sent.length = 0;
  const [r1, r2] = value.items as unknown as RemoteRef[];
  broker.release(r1!);
  broker.release(r1!); // the same occurrence again: nothing
  assert.equal(broker.heldCount(5), 1);
  broker.release(r2!);
  broker.release(new RemoteRef(5)); // never received: nothing
  broker.releaseAll(value); // only 6 is still held
  assert.deepEqual(sent, [
    [b('decref'), 5],
    [b('decref'), 5],
    [b('decref'), 6],
  ]);
  assert.equal(broker.heldTotal, 0);
});

test('a reference inside a shared (referenced) container is counted once', async () => {
  const { broker, sent } = setup();
  const call = broker.callRemote('root', 'get');
  broker.receive([b('answer'), 1, [b('list'), [b('reference'), 1, [b('list'), [b('remote'), 9]]], [b('dereference'), 1]]]);
  const value = await call;
  assert.equal(broker.heldCount(9), 1);
  sent.length = 0;
  broker.releaseAll(value);
  assert.deepEqual(sent, [[b('decref'), 9]]);
});

test('unused references in calls on unknown methods or objects are given back', () => {
  const { broker, sent } = setup();
  const luid = exportOnce(broker, new Referenceable('Thing', {}));
  sent.length = 0;
  broker.receive([b('message'), 1, luid, b('nosuch'), 1, [b('tuple'), [b('remote'), 3]], [b('dictionary')]]);
  broker.receive([b('message'), 2, 55, b('x'), 1, [b('tuple'), [b('remote'), 4]], [b('dictionary')]]);
  const decrefs = sent.filter((e) => str(e[0]) === 'decref').map((e) => e[1]);
  assert.deepEqual(decrefs, [3, 4]);
  assert.equal(broker.heldTotal, 0);
});

test('connection loss rejects every pending call, notifies listeners, and fails later calls', async () => {
  const { broker, sent } = setup();
  const pending = [broker.callRemote('root', 'a'), broker.callRemote('root', 'b')];
  const reasons: Error[] = [];
  broker.notifyOnDisconnect((r) => reasons.push(r));
  const cause = new ConnectionError('socket closed');
  broker.connectionLost(cause);
  for (const p of pending) await assert.rejects(p, ConnectionError);
  await assert.rejects(broker.callRemote('root', 'c'), ConnectionError);
  assert.deepEqual(reasons, [cause]);
  const before = sent.length;
  broker.receive([b('answer'), 1, 5]);
  broker.release(new RemoteRef(1));
  assert.equal(sent.length, before, 'nothing is sent after the loss');
});

test('an answer computed after the connection is lost is not sent', async () => {
  let finish!: (v: unknown) => void;
  const obj = new Referenceable('Thing', { slow: () => new Promise((r) => (finish = r)) });
  const { broker, sent } = setup();
  const luid = exportOnce(broker, obj);
  sent.length = 0;
  broker.receive(message(1, luid, 'slow'));
  broker.connectionLost();
  finish(1);
  await settle();
  assert.deepEqual(sent, []);
});

test('version: 6 accepted, anything else is a ProtocolError; sendVersion sends [version, 6]', () => {
  const { broker, sent } = setup();
  broker.sendVersion();
  assert.deepEqual(sent, [[b('version'), 6]]);
  assert.doesNotThrow(() => broker.receive([b('version'), 6]));
  assert.throws(() => broker.receive([b('version'), 5]), ProtocolError);
});

test('malformed top-level expressions are ProtocolErrors; unknown commands are ignored and never answered', () => {
  const { broker, sent } = setup();
  assert.throws(() => broker.receive(5), ProtocolError);
  assert.throws(() => broker.receive([]), ProtocolError);
  assert.throws(() => broker.receive([b('message'), 1]), ProtocolError);
  assert.doesNotThrow(() => broker.receive([b('bogus'), 1]));
  assert.deepEqual(sent, []);
});

test('an answer that cannot be encoded becomes an error answer instead of breaking the link', async () => {
  const sent: SExp[][] = [];
  const { log } = memoryLogger();
  const broker = new Broker({
    send: (e) => {
      // Stand-in for the banana encoder's length limit.
      const size = (x: SExp): number => (Array.isArray(x) ? x.reduce((n: number, y) => n + size(y), 0) : x instanceof Uint8Array ? x.length : 1);
      if (size(e) > 10_000) throw new ProtocolError('too long', ERR.BANANA);
      sent.push(e as SExp[]);
    },
    log,
  });
  const obj = new Referenceable('Thing', { big: () => 'x'.repeat(20_000), bigLater: async () => 'y'.repeat(20_000) });
  void broker.callRemote('root', 'take', [obj]).catch(() => {});
  sent.length = 0;
  broker.receive(message(1, 1, 'big'));
  assert.equal(str(sent[0]![0]), 'error');
  assert.equal(sent[0]![1], 1);
  broker.receive(message(2, 1, 'bigLater'));
  await settle();
  assert.equal(str(sent[1]![0]), 'error');
  assert.equal(sent[1]![1], 2);
  assert.equal(sent.length, 2);
});
