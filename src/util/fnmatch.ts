/**
 * Python's `fnmatch.translate` (3.11): `*`, `?`, `[seq]`, `[!seq]`; every other character
 * is literal. A `[` without a closing `]` is literal, ranges whose ends are reversed are
 * dropped (Python removes them; a JavaScript class would throw), and an empty class never
 * matches. Used for glob path components and for WORKER_ENVIRONMENT_BLACKLIST patterns,
 * which the Docker tac matches with `fnmatch.fnmatch` (case-sensitive on POSIX).
 */
export function fnmatchRegExp(pattern: string): RegExp {
  let out = '';
  let i = 0;
  const n = pattern.length;
  while (i < n) {
    const c = pattern[i++]!;
    if (c === '*') {
      if (!out.endsWith('.*')) out += '.*';
    } else if (c === '?') {
      out += '.';
    } else if (c === '[') {
      let j = i;
      if (j < n && pattern[j] === '!') j++;
      if (j < n && pattern[j] === ']') j++;
      while (j < n && pattern[j] !== ']') j++;
      if (j >= n) {
        out += '\\[';
        continue;
      }
      out += classRegExp(pattern, i, j);
      i = j + 1;
    } else {
      out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  // 'u': `?` matches one code point, as in Python.
  return new RegExp(`^(?:${out})$`, 'su');
}

/** Escape a piece of a class body for a JavaScript (non-`v`) character class. */
function escapeClassPiece(piece: string): string {
  return piece.replace(/[\\\][^-]/g, '\\$&');
}

/** The class `pattern[start..end)` (between `[` and `]`) as a regular expression. */
function classRegExp(pattern: string, start: number, end: number): string {
  const negated = pattern[start] === '!';
  // Split at the hyphens that form ranges, as Python does, so "a-c" stays a range.
  const chunks: string[] = [];
  let i = start;
  let k = negated ? start + 2 : start + 1;
  for (;;) {
    k = pattern.indexOf('-', k);
    if (k < 0 || k >= end) break;
    chunks.push(pattern.slice(i, k));
    i = k + 1;
    k = k + 3;
  }
  const last = pattern.slice(i, end);
  if (last) chunks.push(last);
  else chunks[chunks.length - 1] += '-';
  for (let m = chunks.length - 1; m > 0; m--) {
    const prev = chunks[m - 1]!;
    const cur = chunks[m]!;
    if (prev[prev.length - 1]! > cur[0]!) {
      chunks[m - 1] = prev.slice(0, -1) + cur.slice(1);
      chunks.splice(m, 1);
    }
  }
  // Python's leading "!" marks negation; it is not part of the set.
  if (negated) chunks[0] = chunks[0]!.slice(1);
  const body = chunks.map(escapeClassPiece).join('-');
  if (!negated && body === '') return '(?!)';
  if (negated && body === '') return '.';
  return negated ? `[^${body}]` : `[${body}]`;
}

/** Python `fnmatch.fnmatchcase(name, pattern)`. */
export function fnmatch(name: string, pattern: string): boolean {
  return fnmatchRegExp(pattern).test(name);
}
