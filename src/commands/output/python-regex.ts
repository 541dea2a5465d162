import { ERR, WorkerError } from '../../errors.js';

/**
 * Translation of a Python `re` pattern (as msgpack masters send `newline_re`,
 * `docs/protocol/msgpack.md` §4, §7) into an equivalent JavaScript RegExp.
 *
 * Covered: octal escapes (`\033`, `\0`), `\a`, `\x`/`\u`/`\U` escapes, `\A`/`\Z`,
 * `(?P<name>…)`/`(?P=name)`, `(?#comment)`, leading global flags `(?i)`/`(?s)`/`(?m)`,
 * `.` (Python excludes only "\n", JavaScript also "\r", U+2028, U+2029, so it becomes
 * `[^\n]`), `]` first in a set, Python's `$` (end, or before a final "\n").
 * Anything else Python-only (conditionals, atomic groups, possessive quantifiers,
 * verbose mode, other inline flags) raises UnsupportedRegexError: the caller falls back
 * to the default pattern and says so. `\d`, `\w`, `\s`, `\b` stay ASCII-only in
 * JavaScript (Python matches Unicode digits/letters too).
 */
export class UnsupportedRegexError extends WorkerError {
  constructor(
    readonly pattern: string,
    reason: string,
  ) {
    super(ERR.UNSUPPORTED_REGEX, `cannot use Python pattern ${JSON.stringify(pattern)} in JavaScript: ${reason}`);
  }
}

/** Longest pattern accepted; newline_re is a few dozen characters in practice. */
export const MAX_PATTERN_LENGTH = 4096;

const OCT = /[0-7]/;
const HEX = /^[0-9a-fA-F]+$/;

function hex4(code: number): string {
  return '\\u' + code.toString(16).padStart(4, '0');
}

/** A code point as a JavaScript escape usable outside (any) and inside (BMP only) a set. */
function codePointEscape(pattern: string, code: number, inSet: boolean): string {
  if (code > 0x10ffff) throw new UnsupportedRegexError(pattern, `code point ${code} out of range`);
  if (code <= 0xffff) return hex4(code);
  if (inSet) throw new UnsupportedRegexError(pattern, 'astral character inside a set');
  const s = String.fromCodePoint(code);
  return `(?:${hex4(s.charCodeAt(0))}${hex4(s.charCodeAt(1))})`;
}

export interface TranslatedRegex {
  source: string;
  flags: string;
}

/** Translate the Python pattern; throws UnsupportedRegexError. The result is always compiled with `g`. */
export function translatePythonRegex(pattern: string): TranslatedRegex {
  if (pattern.length > MAX_PATTERN_LENGTH) throw new UnsupportedRegexError(pattern.slice(0, 64), 'pattern too long');
  let flags = '';
  let i = 0;
  // Global inline flags are only legal at the start in Python 3.11+; accept them there.
  const lead = /^\(\?([a-zA-Z]+)\)/.exec(pattern);
  if (lead) {
    for (const f of lead[1]!) {
      if (f === 'i' || f === 'm' || f === 's') flags += flags.includes(f) ? '' : f;
      else if (f === 'u' || f === 'a')
        continue; // str patterns are Unicode already; ASCII-only differs only for \w etc.
      else throw new UnsupportedRegexError(pattern, `inline flag (?${f})`);
    }
    i = lead[0].length;
  }
  const dotAll = flags.includes('s');
  let out = '';
  let inSet = false;
  let setStart = -1;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\') {
      const n = pattern[i + 1];
      if (n === undefined) throw new UnsupportedRegexError(pattern, 'trailing backslash');
      // Octal: \0, \0o, \0oo always; \ooo (three digits) always; inside a set any \o{1,3}.
      if (OCT.test(n) && (n === '0' || inSet || (OCT.test(pattern[i + 2] ?? '') && OCT.test(pattern[i + 3] ?? '')))) {
        let j = i + 1;
        let digits = '';
        while (j < pattern.length && digits.length < 3 && OCT.test(pattern[j]!)) digits += pattern[j++];
        const code = parseInt(digits, 8);
        if (code > 0o377) throw new UnsupportedRegexError(pattern, `octal escape \\${digits} out of range`);
        out += codePointEscape(pattern, code, inSet);
        i = j;
        continue;
      }
      if (n === 'x' || n === 'u' || n === 'U') {
        const len = n === 'x' ? 2 : n === 'u' ? 4 : 8;
        const digits = pattern.slice(i + 2, i + 2 + len);
        if (digits.length !== len || !HEX.test(digits)) throw new UnsupportedRegexError(pattern, `bad \\${n} escape`);
        out += codePointEscape(pattern, parseInt(digits, 16), inSet);
        i += 2 + len;
        continue;
      }
      if (n === 'a') {
        out += '\\x07';
      } else if (n === 'A' && !inSet) {
        out += '(?<![\\s\\S])';
      } else if (n === 'Z' && !inSet) {
        out += '(?![\\s\\S])';
      } else if (n === 'N' || n === 'g' || n === 'G' || n === 'z' || n === 'Q' || n === 'E') {
        throw new UnsupportedRegexError(pattern, `escape \\${n}`);
      } else if (/[1-9]/.test(n) && !inSet) {
        out += '\\' + n; // backreference
      } else {
        out += '\\' + n;
      }
      i += 2;
      continue;
    }
    if (inSet) {
      if (c === ']' && i > setStart) {
        inSet = false;
        out += ']';
      } else if (c === ']' || c === '[') {
        out += '\\' + c; // a literal ']' first in a set, or '[' (literal in Python, may confuse readers)
      } else {
        out += c;
      }
      i++;
      continue;
    }
    switch (c) {
      case '[':
        inSet = true;
        out += '[';
        i++;
        if (pattern[i] === '^') {
          out += '^';
          i++;
        }
        setStart = i; // a ']' right at the start of the set is literal
        continue;
      case '.':
        out += dotAll ? '[\\s\\S]' : '[^\\n]';
        i++;
        continue;
      case '$':
        out += flags.includes('m') ? '(?=\\n|(?![\\s\\S]))' : '(?=\\n?(?![\\s\\S]))';
        i++;
        continue;
      case '^':
        out += flags.includes('m') ? '(?<=^|\\n)' : '(?<![\\s\\S])';
        i++;
        continue;
      case '(': {
        if (pattern[i + 1] !== '?') {
          out += '(';
          i++;
          continue;
        }
        const rest = pattern.slice(i + 2);
        const named = /^P<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest);
        if (named) {
          out += `(?<${named[1]}>`;
          i += 2 + named[0].length;
          continue;
        }
        const ref = /^P=([A-Za-z_][A-Za-z0-9_]*)\)/.exec(rest);
        if (ref) {
          out += `\\k<${ref[1]}>`;
          i += 2 + ref[0].length;
          continue;
        }
        if (rest.startsWith('#')) {
          const end = pattern.indexOf(')', i);
          if (end < 0) throw new UnsupportedRegexError(pattern, 'unterminated comment');
          i = end + 1;
          continue;
        }
        if (/^(:|=|!|<=|<!|<[A-Za-z_])/.test(rest)) {
          out += '(?';
          i += 2;
          continue;
        }
        throw new UnsupportedRegexError(pattern, `group syntax (?${rest.slice(0, 3)}`);
      }
      case '*':
      case '+':
      case '?':
      case '}':
        if (pattern[i + 1] === '+') throw new UnsupportedRegexError(pattern, 'possessive quantifier');
        out += c;
        i++;
        continue;
      default:
        out += c;
        i++;
    }
  }
  if (inSet) throw new UnsupportedRegexError(pattern, 'unterminated set');
  return { source: out, flags };
}

const cache = new Map<string, RegExp>();
const CACHE_LIMIT = 16;

/**
 * The compiled global RegExp for a Python pattern; throws UnsupportedRegexError when it
 * cannot be translated or JavaScript rejects it. Cached: every command of a worker
 * uses the same one or two patterns.
 */
export function compilePythonRegex(pattern: string): RegExp {
  const hit = cache.get(pattern);
  if (hit) return hit;
  const t = translatePythonRegex(pattern);
  let re: RegExp;
  try {
    re = new RegExp(t.source, 'g' + t.flags);
  } catch (err) {
    throw new UnsupportedRegexError(pattern, (err as Error).message);
  }
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(pattern, re);
  return re;
}
