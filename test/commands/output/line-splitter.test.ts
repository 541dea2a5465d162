import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LineSplitter, newlineRegExp } from '../../../src/commands/output/line-splitter.js';
import { DEFAULT_OUTPUT_SETTINGS, type LogChunk } from '../../../src/commands/update.js';

const defaultRe = newlineRegExp(DEFAULT_OUTPUT_SETTINGS.newlineRe).regexp;
const splitter = (max = 4096) => new LineSplitter(defaultRe, max);

/** Code-point indexes of "\n" in s, computed the slow obvious way. */
function cpNewlines(s: string): number[] {
  return [...s].flatMap((ch, i) => (ch === '\n' ? [i] : []));
}

function run(chunks: string[], max: number): { text: string; chunks: LogChunk[] } {
  const ls = splitter(max);
  const out: LogChunk[] = [];
  chunks.forEach((c, i) => {
    const r = ls.push(c, i);
    if (r) out.push(r);
  });
  const f = ls.flush();
  if (f) out.push(f);
  return { text: out.map((c) => c.text).join(''), chunks: out };
}

test('whole lines only; CRLF, CR, ANSI and backspaces become newlines', () => {
  const ls = splitter();
  assert.deepEqual(ls.push('a\r\nb\nc', 1), { text: 'a\nb\n', newlines: [1, 3], times: [1, 1] });
  assert.equal(ls.pendingLength, 1);
  assert.equal(ls.push('d\r', 2), null, 'a trailing CR is held');
  assert.deepEqual(ls.push('\nx\x1b[2Jy\b\bz\n', 3), { text: 'cd\nx\ny\nz\n', newlines: [2, 4, 6, 8], times: [1, 3, 3, 3] });
  assert.equal(ls.flush(), null);
});

test('a partial line keeps the time of its first data; flush appends "\\n"', () => {
  const ls = splitter();
  assert.equal(ls.push('abc', 10), null);
  assert.equal(ls.push('def', 11), null);
  assert.deepEqual(ls.push('g\nh', 12), { text: 'abcdefg\n', newlines: [7], times: [10] });
  assert.deepEqual(ls.flush(), { text: 'h\n', newlines: [1], times: [12] });
  assert.equal(ls.flush(), null);
});

test('long lines are cut into pieces of maxLineLength without losing characters', () => {
  const line = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const r = splitter(10).push(line + '\n', 5)!;
  // Python 3.7 produces "abcdefghi\n\n\n456789\n" here (issue #8725).
  assert.equal(r.text, 'abcdefghij\nklmnopqrst\nuvwxyz0123\n456789\n');
  assert.deepEqual(r.newlines, [10, 21, 32, 39]);
  assert.deepEqual(r.times, [5, 5, 5, 5]);
  assert.equal(splitter(10).push('0123456789\n', 0)!.text, '0123456789\n', 'exactly max is not cut');
});

test('the held tail is bounded by maxLineLength', () => {
  const ls = splitter(10);
  const r = ls.push('x'.repeat(25), 1)!;
  assert.equal(r.text, 'xxxxxxxxxx\nxxxxxxxxxx\n');
  assert.equal(ls.pendingLength, 5);
  for (let i = 0; i < 100; i++) ls.push('y'.repeat(7), 2);
  assert.ok(ls.pendingLength <= 10);
});

test('newline indexes count code points; cuts never split a surrogate pair', () => {
  const r = splitter().push('😀a\nb😀😀\n', 0)!;
  assert.deepEqual(r.newlines, [2, 6]);
  const cut = splitter(3).push('ab😀cd\n', 0)!;
  assert.equal(cut.text.replaceAll('\n', ''), 'ab😀cd');
  assert.ok(!/[\ud800-\udbff]\n/.test(cut.text));
  assert.deepEqual(cut.newlines, cpNewlines(cut.text));
});

test('property: any chunking gives the same lines (no cutting involved)', () => {
  const alphabet = fc.constantFrom('a', 'é', '😀', '\n', '\r', '\r\n', '\x1b[u', '\x1b[2J', '\x1b[1;22H', ' ');
  fc.assert(
    fc.property(fc.array(alphabet, { maxLength: 60 }), fc.array(fc.nat(), { maxLength: 8 }), (parts, cutsAt) => {
      const whole = parts.join('');
      const points = [...new Set(cutsAt.map((c) => c % (whole.length + 1)))].sort((a, b) => a - b);
      const chunks: string[] = [];
      let prev = 0;
      for (const p of points) {
        chunks.push(whole.slice(prev, p));
        prev = p;
      }
      chunks.push(whole.slice(prev));
      const a = run([whole], 4096);
      const b = run(chunks, 4096);
      assert.equal(b.text, a.text);
      for (const c of b.chunks) {
        assert.ok(c.text.endsWith('\n'));
        assert.deepEqual(c.newlines, cpNewlines(c.text));
        assert.equal(c.times.length, c.newlines.length);
      }
    }),
  );
});

test('property: cutting loses nothing and bounds every line', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom('a', 'b', 'é', '😀', '\n'), { maxLength: 80 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 9 }), (parts, max, step) => {
      const whole = parts.join('');
      const chunks: string[] = [];
      for (let i = 0; i < whole.length; i += step) chunks.push(whole.slice(i, i + step));
      const { text, chunks: out } = run(chunks, max);
      const original = whole.endsWith('\n') || whole === '' ? whole : whole + '\n';
      assert.equal(text.replaceAll('\n', ''), original.replaceAll('\n', ''));
      for (const line of text.split('\n').slice(0, -1)) assert.ok(line.length <= Math.max(max, 2), JSON.stringify(line));
      for (const c of out) assert.deepEqual(c.newlines, cpNewlines(c.text));
    }),
  );
});

test('an unusable newline_re falls back to the default with the error', () => {
  const r = newlineRegExp('(?(1)a|b)');
  assert.ok(r.error);
  assert.equal(r.regexp, defaultRe);
  assert.equal(newlineRegExp(DEFAULT_OUTPUT_SETTINGS.newlineRe).error, undefined);
});
