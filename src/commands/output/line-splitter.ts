import { DEFAULT_OUTPUT_SETTINGS, type LogChunk } from '../update.js';
import { compilePythonRegex, UnsupportedRegexError } from './python-regex.js';

/**
 * Splits one stream's text into whole lines (`docs/protocol/msgpack.md` §7; Python
 * `util/lineboundaries.py LineBoundaryFinder`): the held partial line is prepended, every
 * match of `newline_re` becomes "\n" (CRLF, a CR that is not last, ANSI cursor-position
 * and clear-screen sequences, runs of backspace), whole lines are emitted and the rest is
 * held. A CR at the very end stays held until the next data decides what it is.
 *
 * Long lines: a line whose text (without its "\n") is longer than `maxLineLength` is cut
 * into pieces of exactly `maxLineLength` characters, each ended by "\n", and the rest
 * continues as usual. No character is lost. This deliberately differs from the Python
 * worker, whose cut slices with an absolute end index (`text[first:max - 1]`) and so
 * drops most of every piece after the first (issues #8725, #4906; `docs/python-worker.md` §11), and
 * which even when correct would drop one character per piece. The held tail is cut the
 * same way, so it never exceeds `maxLineLength` characters.
 *
 * Lengths are counted in UTF-16 units, and a cut never splits a surrogate pair (a piece
 * may then be one unit shorter); for text without astral characters that is the Python
 * count exactly. `newlines` in the emitted chunk are code-point indexes (Python string
 * indexes), as the master expects.
 */
export class LineSplitter {
  private pending = '';
  private pendingTime = 0;
  private readonly max: number;

  constructor(
    private readonly newline: RegExp,
    maxLineLength: number,
  ) {
    if (!newline.global) throw new TypeError('the newline RegExp must be global');
    this.max = Number.isSafeInteger(maxLineLength) && maxLineLength >= 1 ? maxLineLength : DEFAULT_OUTPUT_SETTINGS.maxLineLength;
  }

  /** Length (UTF-16 units) of the held partial line. */
  get pendingLength(): number {
    return this.pending.length;
  }

  /**
   * Add text that arrived at `time` (epoch seconds); returns the whole lines it completed,
   * or null. The first returned line keeps the time of its held beginning.
   */
  push(text: string, time: number): LogChunk | null {
    const hadPartial = this.pending.length > 0;
    if (!hadPartial && text.length === 0) return null;
    const firstTime = hadPartial ? this.pendingTime : time;
    const s = (hadPartial ? this.pending + text : text).replace(this.newline, '\n');
    const max = this.max;
    const astral = hasSurrogate(s);

    const newlines: number[] = [];
    const times: number[] = [];
    // Output is s itself up to the last emitted line unless a cut inserts "\n"s; only
    // then is a new string assembled.
    let out = '';
    let copied = 0; // s[0, copied) is already in `out`
    let cuts = 0; // "\n"s inserted so far (shift from s indexes to output indexes)
    let pairs = 0; // surrogate pairs in s[0, scanned) (shift from UTF-16 to code points)
    let scanned = 0;
    let start = 0; // start of the current line in s

    const emitNewlineAt = (sIndex: number, inserted: boolean): void => {
      // sIndex: index in s where the "\n" is (or is inserted before).
      if (astral) {
        pairs += countPairs(s, scanned, sIndex);
        scanned = sIndex;
      }
      newlines.push(sIndex + cuts - pairs);
      times.push(newlines.length === 1 ? firstTime : time);
      if (inserted) cuts++;
    };
    const cutFrom = (from: number): number => {
      const at = cutPoint(from);
      out += s.slice(copied, at) + '\n';
      copied = at;
      emitNewlineAt(at, true);
      return at;
    };
    function cutPoint(from: number): number {
      let c = from + max;
      if (isHigh(s.charCodeAt(c - 1)) && isLow(s.charCodeAt(c))) c = c - 1 > from ? c - 1 : c + 1;
      return c;
    }

    let nl = s.indexOf('\n');
    while (nl >= 0) {
      while (nl - start > max) start = cutFrom(start);
      emitNewlineAt(nl, false);
      start = nl + 1;
      nl = s.indexOf('\n', start);
    }
    while (s.length - start > max) start = cutFrom(start);

    if (newlines.length === 0) {
      this.pending = s;
      if (!hadPartial) this.pendingTime = time;
      return null;
    }
    const text_ = copied === 0 ? s.slice(0, start) : out + s.slice(copied, start);
    this.pending = start < s.length ? s.slice(start) : '';
    this.pendingTime = time;
    return { text: text_, newlines, times };
  }

  /** End of the stream: a held partial line is returned with "\n" appended. */
  flush(): LogChunk | null {
    if (this.pending.length === 0) return null;
    return this.push('\n', this.pendingTime);
  }
}

function isHigh(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function isLow(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

const SURROGATE = /[\ud800-\udfff]/;

function hasSurrogate(s: string): boolean {
  return SURROGATE.test(s);
}

/** Surrogate pairs starting in s[from, to). */
function countPairs(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    if (isHigh(s.charCodeAt(i)) && isLow(s.charCodeAt(i + 1))) {
      n++;
      i++;
    }
  }
  return n;
}

/** The newline RegExp for a settings pattern, falling back to the default pattern when it cannot be used. */
export function newlineRegExp(pattern: string): { regexp: RegExp; error?: UnsupportedRegexError } {
  try {
    return { regexp: compilePythonRegex(pattern) };
  } catch (err) {
    if (!(err instanceof UnsupportedRegexError)) throw err;
    return { regexp: compilePythonRegex(DEFAULT_OUTPUT_SETTINGS.newlineRe), error: err };
  }
}
