import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from '../../src/errors.js';
import { BananaDecoder, encodeBanana, type SExp } from '../../src/protocol/banana.js';
import {
  COPYABLE_FAILURE_TYPE,
  CopiedFailure,
  Exported,
  JellyErrorCode,
  LocalRef,
  PySet,
  RemoteRef,
  TRACEBACK_UNAVAILABLE,
  jelly,
  jellyFailure,
  toPlain,
  unjelly,
  type JellyDict,
  type JellyValue,
} from '../../src/protocol/jelly.js';
import { PyFloat, PyTuple } from '../../src/values.js';
import { pbStreams, pyFloatRepr, pyRepr, readFixture } from './pb-capture.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const u = (s: string): SExp => [b('unicode'), Buffer.from(s, 'utf8')];
const dict = (entries: Record<string, JellyValue>): JellyDict => Object.assign(Object.create(null) as JellyDict, entries);

function jellyError(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof ProtocolError, `ProtocolError expected, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  };
}

// ---- Twisted's vectors ------------------------------------------------------------------

type Tagged =
  | { t: 'none' }
  | { t: 'bool'; v: boolean }
  | { t: 'int'; v: string }
  | { t: 'float'; ieee754_be: string }
  | { t: 'bytes'; hex: string }
  | { t: 'str'; v: string }
  | { t: 'tuple' | 'list' | 'set'; items: Tagged[] }
  | { t: 'dict'; items: Array<[Tagged, Tagged]> }
  | { t: 'shared'; id: string; value: Tagged }
  | { t: 'same'; id: string };
type VectorSExp = { i: string } | { f: string } | { b: string } | VectorSExp[];

/** The Python value of a vector in this side's representation (shared objects shared, cycles built). */
function fromTagged(v: Tagged, shared = new Map<string, JellyValue>(), id?: string): JellyValue {
  const keep = <V extends JellyValue>(x: V): V => {
    if (id !== undefined) shared.set(id, x);
    return x;
  };
  switch (v.t) {
    case 'none':
      return null;
    case 'bool':
      return v.v;
    case 'int': {
      const n = BigInt(v.v);
      return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
    }
    case 'float':
      return new PyFloat(Buffer.from(v.ieee754_be, 'hex').readDoubleBE(0));
    case 'bytes':
      return Buffer.from(v.hex, 'hex');
    case 'str':
      return v.v;
    case 'list': {
      const items = keep([] as JellyValue[]);
      for (const i of v.items) items.push(fromTagged(i, shared));
      return items;
    }
    case 'tuple': {
      const items: JellyValue[] = [];
      const t = keep(new PyTuple(items as PyTuple['items']));
      for (const i of v.items) items.push(fromTagged(i, shared));
      return t;
    }
    case 'set': {
      const s = keep(new PySet([]));
      for (const i of v.items) s.items.push(fromTagged(i, shared));
      return s;
    }
    case 'dict': {
      const entries = v.items.map(([k, x]) => [fromTagged(k, shared), x] as const);
      if (entries.every(([k]) => typeof k === 'string')) {
        const o = keep(Object.create(null) as JellyDict);
        for (const [k, x] of entries) o[k as string] = fromTagged(x, shared);
        return o;
      }
      const m = keep(new Map<JellyValue, JellyValue>());
      for (const [k, x] of entries) m.set(k, fromTagged(x, shared));
      return m;
    }
    case 'shared':
      return fromTagged(v.value, shared, v.id);
    case 'same':
      return shared.get(v.id)!;
  }
}

function fromVector(v: VectorSExp): SExp {
  if (Array.isArray(v)) return v.map(fromVector);
  if ('i' in v) return Number(v.i);
  if ('f' in v) return new PyFloat(Buffer.from(v.f, 'hex').readDoubleBE(0));
  return Buffer.from(v.b, 'hex');
}

const vectors = (JSON.parse(readFixture('banana-vectors.json')) as { vectors: Array<{ name: string; value: Tagged; sexp: VectorSExp; banana_pb_hex: string }> }).vectors;

test('every vector: jelly gives Twisted s-expression and bytes, unjelly gives the value back (pb.md §3)', () => {
  for (const v of vectors) {
    if (/^int -?\d{17,}/.test(v.name)) continue; // bigints beyond the safe range: checked below
    const value = fromTagged(v.value);
    const sexp = fromVector(v.sexp);
    assert.deepEqual(jelly(value), sexp, v.name);
    assert.equal(encodeBanana(jelly(value), 'pb').toString('hex'), v.banana_pb_hex, v.name);
    assert.deepEqual(unjelly(sexp), value, v.name);
    assert.deepEqual(jelly(unjelly(sexp)), sexp, v.name);
  }
  for (const n of [2n ** 64n, -(2n ** 70n)]) {
    assert.equal(jelly(n), n);
    assert.equal(unjelly(n), n);
  }
});

test('shared values come back shared; the self-referencing list contains itself', () => {
  const byName = (name: string) => unjelly(fromVector(vectors.find((v) => v.name === name)!.sexp));
  const d = byName('dict sharing one list') as JellyDict;
  assert.equal(d.a, d.b);
  const l = byName('list sharing one tuple') as JellyValue[];
  assert.ok(l[0] instanceof PyTuple && l[0] === l[1] && l[1] === l[2]);
  const self = byName('self-referencing list') as JellyValue[];
  assert.equal(self[0], self);
  const tuples = byName('two empty tuples') as PyTuple;
  assert.equal(tuples.items[0], tuples.items[1]);
});

test('reference numbers are assigned in the order second occurrences are met, and restart per jelly call', () => {
  const x = ['x'];
  const y = ['y'];
  const value = [y, x, x, y];
  assert.deepEqual(jelly(value), [b('list'), [b('reference'), 2, [b('list'), u('y')]], [b('reference'), 1, [b('list'), u('x')]], [b('dereference'), 1], [b('dereference'), 2]]);
  assert.deepEqual(jelly(x), [b('list'), u('x')]);
  // Cycles through a dict and through a tuple.
  const d: JellyDict = Object.create(null) as JellyDict;
  d.self = d;
  const back = unjelly(jelly(d)) as JellyDict;
  assert.equal(back.self, back);
  const items: JellyValue[] = [];
  const t = new PyTuple(items as PyTuple['items']);
  items.push([t]);
  const tb = unjelly(jelly(t)) as PyTuple;
  assert.equal((tb.items[0] as JellyValue[])[0], tb);
});

// ---- the PB capture ---------------------------------------------------------------------

/** Every jelly value in a captured PB expression: message args and kwargs, answer and error values. */
function jellyParts(e: SExp): SExp[] {
  if (!Array.isArray(e) || !(e[0] instanceof Uint8Array)) return [];
  const cmd = Buffer.from(e[0]).toString('latin1');
  if (cmd === 'message') return [e[5]!, e[6]!];
  if (cmd === 'answer' || cmd === 'error') return [e[2]!];
  return [];
}

const captured = pbStreams().flatMap((s) =>
  s.expressions.filter((x) => x.index > 0).map((x) => ({ number: x.number, conn: s.conn, dir: s.dir, expr: new BananaDecoder('pb').feed(s.bytes.subarray(x.start, x.end))[0]! })),
);

/** The first captured broker message on `conn` going `dir` with PB command `cmd` (and method `method`) that `more` accepts. */
function capturedMessage(conn: number, dir: 'w2m' | 'm2w', cmd: string, method?: string, more: (e: SExp[]) => boolean = () => true) {
  const found = captured.find((c) => {
    const e = c.expr as SExp[];
    if (c.conn !== conn || c.dir !== dir || !Array.isArray(e) || !(e[0] instanceof Uint8Array)) return false;
    if (Buffer.from(e[0]).toString('latin1') !== cmd) return false;
    if (method !== undefined && !(e[3] instanceof Uint8Array && Buffer.from(e[3]).toString('latin1') === method)) return false;
    return more(e);
  });
  assert.ok(found, `a captured ${cmd} ${method ?? ''} on conn ${conn} ${dir}`);
  return found;
}

/**
 * The value as its sender held it: a received RemoteRef was an exported object on the
 * sending side (a RemoteRef this side sends goes out as ['local', n]). Replaced in place,
 * so shared containers stay shared.
 */
function asSender(value: JellyValue, seen = new Set<object>()): JellyValue {
  if (value instanceof RemoteRef) return new Exported(value.luid);
  if (value === null || typeof value !== 'object' || seen.has(value)) return value;
  seen.add(value);
  if (Array.isArray(value) || value instanceof PyTuple) {
    const items = (Array.isArray(value) ? value : value.items) as JellyValue[];
    items.forEach((v, i) => (items[i] = asSender(v, seen)));
  } else if (value instanceof Map) {
    for (const [k, v] of value) value.set(k, asSender(v, seen));
  } else if (Object.getPrototypeOf(value) === null) {
    const d = value as JellyDict;
    for (const k of Object.keys(d)) d[k] = asSender(d[k]!, seen);
  }
  return value;
}

test('every captured jelly value unjellies and jellies back to the same s-expression', () => {
  let n = 0;
  for (const { number, expr } of captured) {
    for (const part of jellyParts(expr)) {
      assert.deepEqual(jelly(asSender(unjelly(part))), part, `#${number}`);
      n++;
    }
  }
  assert.ok(n > 150, `${n} values`);
});

test('captured values: text vs bytes, booleans, ints, floats, tuples and references as Python had them', () => {
  // login(b'pbworker'): bytes.
  const loginCall = capturedMessage(2, 'w2m', 'message', 'login');
  const login = unjelly((loginCall.expr as SExp[])[5]!) as PyTuple;
  assert.ok(login.items[0] instanceof Uint8Array && !(typeof login.items[0] === 'string'));
  // print(message='attached'): text kwargs, keyword 'message' is a VOCAB payload.
  assert.deepEqual(unjelly((capturedMessage(2, 'm2w', 'message', 'print').expr as SExp[])[6]!), dict({ message: 'attached' }));
  // The first update carrying elapsed: a float, the value Twisted decoded (decoded file).
  const hasElapsed = (e: SExp[]) => {
    const u = unjelly(e[5]!) as PyTuple;
    return 'elapsed' in (((u.items[0] as JellyValue[])[0] as JellyValue[])[0] as JellyDict);
  };
  const updateCall = capturedMessage(2, 'w2m', 'message', 'update', hasElapsed);
  const update = unjelly((updateCall.expr as SExp[])[5]!) as PyTuple;
  const elapsed = ((update.items[0] as JellyValue[])[0] as JellyValue[])[0] as JellyDict;
  assert.ok(elapsed.elapsed instanceof PyFloat);
  const block = readFixture('pb-session.decoded.txt')
    .split(/^={100}$/m)
    .find((b) => b.startsWith(`\n#${updateCall.number} `))!;
  assert.ok(block.includes(`args = ([[{'elapsed': ${pyFloatRepr(elapsed.elapsed.value)}}, 0]],)`), `#${updateCall.number}: ${pyFloatRepr(elapsed.elapsed.value)}`);
  // The login answer: (challenge bytes, remote challenger).
  const loginId = (loginCall.expr as SExp[])[1];
  const answer = unjelly((capturedMessage(2, 'm2w', 'answer', undefined, (e) => e[1] === loginId).expr as SExp[])[2]!) as PyTuple;
  assert.ok(answer.items[0] instanceof Uint8Array);
  assert.ok(answer.items[1] instanceof RemoteRef);
  assert.equal((answer.items[1] as RemoteRef).luid, 1);
});

test('captured startCommand: command, booleans, None, ints and the reader reference, as the session layer gets them', () => {
  const start = captured.find((c) => {
    const e = c.expr as SExp[];
    return c.dir === 'm2w' && Array.isArray(e) && e[3] instanceof Uint8Array && Buffer.from(e[3]).toString() === 'startCommand';
  })!;
  const args = unjelly((start.expr as SExp[])[5]!) as PyTuple;
  const [ref, stepId, name, cmdArgs] = args.items as JellyValue[];
  assert.ok(ref instanceof RemoteRef);
  assert.equal(stepId, '0');
  assert.equal(name, 'shell');
  const a = cmdArgs as JellyDict;
  assert.equal(Object.getPrototypeOf(a), null);
  assert.equal(a.want_stdout, true);
  assert.equal(a.maxTime, null);
  assert.equal(a.timeout, 1200);
  assert.ok(Array.isArray(a.command));
  const plain = toPlain(cmdArgs!) as Record<string, unknown>;
  assert.deepEqual({ ...(plain.env as object) }, { CAPTURE_VAR: 'value' });
});

// ---- failures ---------------------------------------------------------------------------

test("jellyFailure reproduces the worker's captured complete(failure) and the master's login error exactly", () => {
  const isFailure = (e: SExp[]) => {
    const arg = (e[5] as SExp[])[1];
    return Array.isArray(arg) && arg[0] instanceof Uint8Array && Buffer.from(arg[0]).toString('latin1') === COPYABLE_FAILURE_TYPE;
  };
  const complete = capturedMessage(2, 'w2m', 'message', 'complete', isFailure);
  const loginError = capturedMessage(1, 'm2w', 'error');
  const wires = [((complete.expr as SExp[])[5] as SExp[])[1] as SExp, (loginError.expr as SExp[])[2]!];
  for (const wire of wires) {
    const f = unjelly(wire);
    assert.ok(f instanceof CopiedFailure);
    const count = f.state.count as number;
    assert.deepEqual(jellyFailure({ type: f.type, value: f.value, traceback: f.traceback, parents: f.parents, count }), wire);
  }
  const fc = unjelly(wires[0]!) as CopiedFailure;
  assert.equal(fc.type, 'builtins.FileNotFoundError');
  assert.match(fc.value, /No such file or directory/);
  assert.match(fc.traceback, /^Traceback \(most recent call last\):/);
  assert.equal(fc.check('builtins.OSError'), 'builtins.OSError');
  assert.equal(fc.check('builtins.KeyError'), undefined);
  assert.equal((unjelly(wires[1]!) as CopiedFailure).type, 'twisted.cred.error.UnauthorizedLogin');
});

test('a failure without traceback is what Twisted sends for NoSuchMethod (pb-edge-cases.txt)', () => {
  const reply = /CASE: call of a method that does not exist[\s\S]*?reply: (\[b'error'.*)/.exec(readFixture('pb-edge-cases.txt'))![1]!;
  const type = 'twisted.spread.flavors.NoSuchMethod';
  const failure = jellyFailure({
    type,
    value: 'No such method: remote_nosuch',
    parents: [type, 'builtins.AttributeError', 'builtins.Exception', 'builtins.BaseException', 'builtins.object'],
    count: 13,
  });
  assert.equal(pyRepr([b('error'), 1, failure]), reply);
  const f = unjelly(failure) as CopiedFailure;
  assert.equal(f.traceback, TRACEBACK_UNAVAILABLE);
  assert.equal(f.state.unsafeTracebacks, false);
});

test('CopiedFailure: default parents, bytes-keyed state from old peers, jelly of a bare instance', () => {
  const f = unjelly(jellyFailure({ type: 'builtins.ValueError', value: 'bad' })) as CopiedFailure;
  assert.deepEqual(f.parents, ['builtins.ValueError', 'builtins.Exception', 'builtins.BaseException', 'builtins.object']);
  assert.equal(String(f), 'builtins.ValueError: bad');
  const old = unjelly([b(COPYABLE_FAILURE_TYPE), [b('dictionary'), [b('type'), b('exceptions.KeyError')], [b('value'), b('k')]]]) as CopiedFailure;
  assert.equal(old.type, 'exceptions.KeyError');
  assert.equal(old.value, 'k');
  const bare = Object.assign(new CopiedFailure(), { type: 'builtins.Exception', value: 'x', parents: ['builtins.Exception'] });
  const back = unjelly(jelly(bare)) as CopiedFailure;
  assert.equal(back.type, 'builtins.Exception');
  assert.equal(back.value, 'x');
  assert.throws(() => unjelly([b(COPYABLE_FAILURE_TYPE), 5]), jellyError(JellyErrorCode.malformed));
});

// ---- the TS representation --------------------------------------------------------------

test('text and bytes stay distinct; so do bool/int, float/int, tuple/list', () => {
  assert.deepEqual(jelly('abc'), u('abc'));
  assert.deepEqual(jelly(b('abc')), b('abc'));
  assert.equal(unjelly(u('h\u00e9llo \u2713')), 'h\u00e9llo \u2713');
  assert.deepEqual(unjelly(b('abc')), b('abc'));
  assert.deepEqual(jelly(true), [b('boolean'), b('true')]);
  assert.deepEqual(jelly(1), 1);
  assert.deepEqual(jelly(new PyFloat(1)), new PyFloat(1));
  assert.deepEqual(jelly(0.5), new PyFloat(0.5), 'a non-integral number is a float');
  assert.deepEqual(jelly(new PyTuple([1])), [b('tuple'), 1]);
  assert.deepEqual(jelly([1]), [b('list'), 1]);
  assert.deepEqual(jelly(null), [b('None')]);
  assert.deepEqual(jelly(undefined as unknown as JellyValue), [b('None')]);
  assert.deepEqual(jelly(new PySet([1], true)), [b('frozenset'), 1]);
});

test('dicts: text keys give a null-prototype object in wire order, other keys a Map', () => {
  const wire: SExp = [b('dictionary'), [u('z'), 1], [u('a'), 2]];
  const d = unjelly(wire) as JellyDict;
  assert.equal(Object.getPrototypeOf(d), null);
  assert.deepEqual(Object.keys(d), ['z', 'a']);
  assert.deepEqual(jelly(d), wire);
  assert.deepEqual(jelly({ z: 1, a: 2 }), wire);
  const mixed = unjelly([b('dictionary'), [u('t'), 1], [b('k'), 2], [3, 4]]);
  assert.ok(mixed instanceof Map);
  assert.deepEqual([...mixed.keys()], ['t', b('k'), 3]);
  assert.deepEqual(jelly(mixed), [b('dictionary'), [u('t'), 1], [b('k'), 2], [3, 4]]);
  // A '__proto__' key is just a key.
  const proto = unjelly([b('dictionary'), [u('__proto__'), 1]]) as JellyDict;
  assert.deepEqual(Object.keys(proto), ['__proto__']);
});

test('references to objects: remote and local in, Exported and RemoteRef out', () => {
  const v = unjelly([b('tuple'), [b('remote'), 5], [b('remote'), 5], [b('local'), 2]]) as PyTuple;
  const [r1, r2, l] = v.items as JellyValue[];
  assert.ok(r1 instanceof RemoteRef && r2 instanceof RemoteRef && r1 !== r2, 'one RemoteRef per occurrence');
  assert.equal(r1.luid, 5);
  assert.ok(l instanceof LocalRef && l.luid === 2);
  assert.deepEqual(jelly(new Exported(3)), [b('remote'), 3]);
  assert.deepEqual(jelly(new RemoteRef(4)), [b('local'), 4]);
  const shared = new Exported(1);
  assert.deepEqual(jelly([shared, shared]), [b('list'), [b('remote'), 1], [b('remote'), 1]], 'references are per occurrence, never jelly-shared');
});

test('toPlain drops the Python-only distinctions', () => {
  const ref = new RemoteRef(1);
  const value = unjelly(
    jelly(
      dict({
        t: new PyTuple([1, new PyFloat(2.5)]),
        m: new Map<JellyValue, JellyValue>([
          [b('k'), 'v'],
          [3, null],
        ]),
        s: new PySet(['x']),
        r: ref,
      }),
    ),
  );
  const plain = toPlain(value) as Record<string, unknown>;
  assert.deepEqual(plain.t, [1, 2.5]);
  assert.deepEqual(plain.m, Object.assign(Object.create(null), { k: 'v', 3: null }));
  assert.deepEqual(plain.s, ['x']);
  assert.ok(plain.r instanceof LocalRef, "a RemoteRef sent back arrives as the receiver's own object");
  const cyclic: JellyValue[] = [];
  cyclic.push(cyclic);
  const p = toPlain(cyclic) as unknown[];
  assert.equal(p[0], p);
});

test("toPlain with decodeBytes is buildbot's decode(): bytes become text, dicts ordinary objects", () => {
  const value = unjelly(jelly(dict({ name: b('caf\u00c3\u00a9'), args: [b('a'), new PyTuple([b('b')])], env: new Map<JellyValue, JellyValue>([[b('__proto__'), b('x')]]) })));
  const decoded = toPlain(value, { decodeBytes: true }) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
  assert.equal(decoded.name, 'caf\u00e9', 'UTF-8 bytes as text');
  assert.deepEqual(decoded.args, ['a', ['b']]);
  const env = decoded.env as Record<string, unknown>;
  assert.ok(Object.hasOwn(env, '__proto__'), 'a "__proto__" key stays an own property');
  assert.equal(env['__proto__'], 'x');
  assert.ok((toPlain(value) as Record<string, unknown>).name instanceof Uint8Array, 'without the option bytes stay bytes');
});

// ---- refused input ----------------------------------------------------------------------

test('malformed jelly is a ProtocolError', () => {
  const bad: SExp[] = [
    [],
    [5],
    [[b('list')]],
    [b('unicode')],
    [b('unicode'), 5],
    [b('unicode'), Buffer.from([0xff, 0xfe])],
    [b('boolean'), b('maybe')],
    [b('remote'), b('x')],
    [b('remote')],
    [b('dictionary'), [u('a')]],
    [b('dictionary'), 5],
    [b('reference'), 1],
    [b('reference'), new PyFloat(1), 2],
    [b('dereference')],
  ];
  for (const e of bad) assert.throws(() => unjelly(e), jellyError(JellyErrorCode.malformed), pyRepr(e));
});

test('a dereference before its reference is a ProtocolError', () => {
  assert.throws(() => unjelly([b('list'), [b('dereference'), 1]]), jellyError(JellyErrorCode.reference));
});

test('types globalSecurity refuses are refused (pb.md §3.4)', () => {
  for (const tag of ['instance', 'class', 'module', 'function', 'copy', 'persistent', 'cache', 'datetime', 'os.system', 'buildbot.Thing']) {
    assert.throws(() => unjelly([b(tag), b('x')]), jellyError(JellyErrorCode.insecure), tag);
  }
});

test('values that cannot be jellied are a ProtocolError', () => {
  for (const v of [() => 1, Symbol('s'), new Date(0), new LocalRef(1), [new Set([1])]]) {
    assert.throws(() => jelly(v as unknown as JellyValue), jellyError(JellyErrorCode.unjellyable));
  }
});
