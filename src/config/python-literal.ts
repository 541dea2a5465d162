import { ConfigError } from '../errors.js';

/**
 * Python literals as they appear in buildbot.tac: `repr()` for writing, and a parser for
 * the simple literals a tac assigns (strings, ints, floats, None, True, False).
 */

/** Python 3 `repr(str)`: single quotes unless the text has `'` and no `"`; escapes as CPython. */
export function pyRepr(value: string): string {
  const quote = value.includes("'") && !value.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp >= 0x80 && cp < 0xa0) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\\u' + cp.toString(16).padStart(4, '0');
    else out += ch;
  }
  return out + quote;
}

/** `%r` of an optional string: `None` or its repr. */
export function pyReprOptional(value: string | null): string {
  return value === null ? 'None' : pyRepr(value);
}

export type PyLiteral = string | number | boolean | null;

const SIMPLE_ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0', '\n': '' };

const OCTAL = /[0-7]{1,3}/y;

/**
 * Parse a string literal at `text[start]` (optional r/u/b prefix, single/double or triple
 * quotes). Returns the value and the index after the closing quote.
 */
export function parseStringLiteral(text: string, start: number): { value: string; end: number } {
  let i = start;
  let raw = false;
  while (i < text.length && /[rRuUbB]/.test(text[i]!)) {
    if (text[i] === 'r' || text[i] === 'R') raw = true;
    i++;
  }
  const q = text[i];
  if (q !== "'" && q !== '"') throw new ConfigError(`expected a string at offset ${start}`);
  const triple = text.startsWith(q.repeat(3), i);
  const delim = triple ? q.repeat(3) : q;
  i += delim.length;
  let value = '';
  while (i < text.length) {
    if (text.startsWith(delim, i)) return { value, end: i + delim.length };
    const ch = text[i]!;
    if (ch === '\n' && !triple) break;
    if (ch === '\\' && i + 1 < text.length) {
      const next = text[i + 1]!;
      if (raw) {
        value += ch + next;
        i += 2;
        continue;
      }
      if (next in SIMPLE_ESCAPES) {
        value += SIMPLE_ESCAPES[next];
        i += 2;
        continue;
      }
      const hex = next === 'x' ? 2 : next === 'u' ? 4 : next === 'U' ? 8 : 0;
      const digits = hex ? text.slice(i + 2, i + 2 + hex) : '';
      if (hex && digits.length === hex && /^[0-9a-fA-F]+$/.test(digits)) {
        const cp = parseInt(digits, 16);
        // Python refuses the literal ("illegal Unicode character"); fromCodePoint would throw a RangeError.
        if (cp > 0x10ffff) throw new ConfigError(`illegal Unicode character in escape '\\${next}${digits}' of the string starting at offset ${start}`);
        value += String.fromCodePoint(cp);
        i += 2 + hex;
        continue;
      }
      if (/[0-7]/.test(next)) {
        // Sticky, so that each escape reads only its own digits (no copy of the rest of the text).
        OCTAL.lastIndex = i + 1;
        const m = OCTAL.exec(text)![0];
        value += String.fromCodePoint(parseInt(m, 8));
        i += 1 + m.length;
        continue;
      }
      value += ch + next;
      i += 2;
      continue;
    }
    value += ch;
    i++;
  }
  throw new ConfigError(`unterminated string starting at offset ${start}`);
}

/** Parse a whole expression that must be one simple literal. */
export function parsePyLiteral(expr: string): PyLiteral {
  const t = expr.trim();
  if (t === 'None') return null;
  if (t === 'True') return true;
  if (t === 'False') return false;
  if (/^[rRuUbB]*['"]/.test(t)) {
    const { value, end } = parseStringLiteral(t, 0);
    if (t.slice(end).trim() !== '') throw new ConfigError(`unexpected text after string: ${t}`);
    return value;
  }
  const n = parsePyNumber(t);
  if (n !== undefined) return n;
  throw new ConfigError(`not a simple Python literal: ${t}`);
}

/** Python int/float literal syntax (0o22, 0x1f, 0b1, 1_000, 022 is not valid Python 3 but accepted as octal). */
export function parsePyNumber(text: string): number | undefined {
  const t = text.replace(/_/g, '');
  const sign = t.startsWith('-') ? -1 : 1;
  const body = t.replace(/^[-+]/, '');
  if (/^0[oO][0-7]+$/.test(body)) return sign * parseInt(body.slice(2), 8);
  if (/^0[xX][0-9a-fA-F]+$/.test(body)) return sign * parseInt(body.slice(2), 16);
  if (/^0[bB][01]+$/.test(body)) return sign * parseInt(body.slice(2), 2);
  if (/^0[0-7]+$/.test(body)) return sign * parseInt(body, 8);
  if (/^(0|[1-9][0-9]*)$/.test(body)) return sign * parseInt(body, 10);
  if (/^([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$|^[0-9]+[eE][-+]?[0-9]+$/.test(body)) return sign * parseFloat(body);
  return undefined;
}
