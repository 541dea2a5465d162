/**
 * Python's text forms that appear in shell headers (`runprocess.py`): `repr()` of str,
 * bytes, dicts and lists (" watching logfiles {...}", " argv: [b'...']") and
 * `shlex.quote` (the displayed command line).
 */

const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

function escapeCodePoint(cp: number): string {
  if (cp <= 0xff) return '\\x' + cp.toString(16).padStart(2, '0');
  if (cp <= 0xffff) return '\\u' + cp.toString(16).padStart(4, '0');
  return '\\U' + cp.toString(16).padStart(8, '0');
}

/** `repr(str)`. */
export function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    if (ch === quote || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch !== ' ' && NON_PRINTABLE.test(ch)) out += escapeCodePoint(ch.codePointAt(0)!);
    else out += ch;
  }
  return out + quote;
}

/** `repr(bytes)`. */
export function pyBytesRepr(b: Uint8Array): string {
  const hasSingle = b.includes(0x27);
  const quote = hasSingle && !b.includes(0x22) ? 0x22 : 0x27;
  let out = 'b' + String.fromCharCode(quote);
  for (const c of b) {
    if (c === quote || c === 0x5c) out += '\\' + String.fromCharCode(c);
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c < 0x20 || c >= 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += String.fromCharCode(c);
  }
  return out + String.fromCharCode(quote);
}

/**
 * Caps of pyRepr. Values from the master may share parts (PB references): 552 bytes of
 * them nested a list of itself twice per level and expanded to a 37 MB repr. The text is
 * for a header line or an error message, so it stops at MAX_REPR_LENGTH characters
 * (then "...") and MAX_REPR_DEPTH levels (then "[...]" or "{...}", as Python's reprlib
 * shows recursion); the work stops with it.
 */
export const MAX_REPR_LENGTH = 16 * 1024;
export const MAX_REPR_DEPTH = 32;

/** Accumulates text up to a length, then ignores the rest. */
class CappedText {
  private readonly parts: string[] = [];
  private length = 0;
  full = false;

  constructor(private readonly max: number) {}

  /** Characters that may still be added. */
  get room(): number {
    return this.max - this.length;
  }

  add(text: string): void {
    if (this.full) return;
    if (text.length > this.room) {
      this.parts.push(text.slice(0, this.room));
      this.length = this.max;
      this.full = true;
      return;
    }
    this.parts.push(text);
    this.length += text.length;
  }

  toString(): string {
    return this.parts.join('') + (this.full ? '...' : '');
  }
}

/**
 * `repr()` of the JSON-like values commands receive (dict, list, str, number, bool,
 * None), at most `maxLength` characters (plus "..." when cut) and MAX_REPR_DEPTH levels.
 */
export function pyRepr(v: unknown, maxLength: number = MAX_REPR_LENGTH): string {
  const out = new CappedText(maxLength);
  reprInto(out, v, 0);
  return out.toString();
}

function reprInto(out: CappedText, v: unknown, depth: number): void {
  if (out.full) return;
  if (v === null || v === undefined) return out.add('None');
  if (v === true) return out.add('True');
  if (v === false) return out.add('False');
  // Only as much of a long string as can still show (one more character marks the cut).
  if (typeof v === 'string') return out.add(pyStrRepr(v.length > out.room ? v.slice(0, out.room + 1) : v));
  if (typeof v === 'number' || typeof v === 'bigint') return out.add(String(v));
  if (v instanceof Uint8Array) return out.add(pyBytesRepr(v.length > out.room ? v.subarray(0, out.room + 1) : v));
  if (Array.isArray(v)) {
    if (depth >= MAX_REPR_DEPTH) return out.add('[...]');
    out.add('[');
    for (let i = 0; i < v.length && !out.full; i++) {
      if (i > 0) out.add(', ');
      reprInto(out, v[i], depth + 1);
    }
    return out.add(']');
  }
  if (typeof v === 'object') {
    if (depth >= MAX_REPR_DEPTH) return out.add('{...}');
    out.add('{');
    let first = true;
    for (const k in v) {
      if (out.full) break;
      if (!Object.hasOwn(v, k)) continue;
      if (!first) out.add(', ');
      first = false;
      out.add(pyStrRepr(k.length > out.room ? k.slice(0, out.room + 1) : k));
      out.add(': ');
      reprInto(out, (v as Record<string, unknown>)[k], depth + 1);
    }
    return out.add('}');
  }
  return out.add(String(v));
}

const UNSAFE = /[^\w@%+=:,./-]/;

/** `shlex.quote`, except that "" is shown as `""` (Python `runprocess.shell_quote`). */
export function shellQuote(s: string): string {
  if (s === '') return '""';
  if (!UNSAFE.test(s)) return s;
  return "'" + s.replaceAll("'", `'"'"'`) + "'";
}
