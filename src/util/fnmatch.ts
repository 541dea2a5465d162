/**
 * Python `fnmatch.fnmatchcase`: `*`, `?`, `[seq]`, `[!seq]`; everything else literal.
 * Used for WORKER_ENVIRONMENT_BLACKLIST patterns, which the Docker tac matches with
 * `fnmatch.fnmatch` (case-sensitive on POSIX).
 */
export function fnmatchToRegExp(pattern: string): RegExp {
  let out = '';
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i++]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      let j = i;
      if (j < pattern.length && pattern[j] === '!') j++;
      if (j < pattern.length && pattern[j] === ']') j++;
      while (j < pattern.length && pattern[j] !== ']') j++;
      if (j >= pattern.length) {
        out += '\\[';
      } else {
        let body = pattern.slice(i, j);
        i = j + 1;
        const negate = body.startsWith('!');
        if (negate) body = body.slice(1);
        const escaped = body.replace(/\\/g, '\\\\').replace(/\^/g, '\\^').replace(/\[/g, '\\[').replace(/\]/g, '\\]');
        out += negate ? `[^${escaped}]` : `[${escaped}]`;
      }
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^(?:${out})$`, 's');
}

export function fnmatch(name: string, pattern: string): boolean {
  return fnmatchToRegExp(pattern).test(name);
}
