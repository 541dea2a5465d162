import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { parsePyNumber, parseStringLiteral, type PyLiteral } from './python-literal.js';
import { TAC_MARKER } from './tac-template.js';
import { PROTOCOLS, TWISTD_DEFAULT_ROTATION, defaultConfig, type Protocol, type WorkerConfig } from './worker-config.js';

/**
 * Read the configuration out of an existing buildbot.tac without running Python
 * (`docs/python-worker.md` §3 "Reading existing tacs"): the top-level `name = expression` statements and the
 * `Worker(...)` call are evaluated with a tiny interpreter that knows literals, variables,
 * `os.environ.get`/`os.environ[...]`, `int`/`str`/`bool` and the `os.path` functions tacs
 * use for `__file__`. This covers tacs written by every create-worker since 0.9 (including
 * positional `usepty`) and the Docker image's environment-driven tac.
 */

/** buildbot.tac files larger than this are refused. */
export const MAX_TAC_BYTES = 256 * 1024;

interface Statement {
  text: string;
  line: number;
  indented: boolean;
}

/**
 * Split Python source into logical statements (newlines inside brackets and strings
 * continue them). Linear in the source: each character is looked at once and appended
 * once; a statement is trimmed once, when it ends. `file` names the source in errors.
 */
export function splitStatements(source: string, file = '<tac>'): Statement[] {
  const out: Statement[] = [];
  let depth = 0;
  let cur = '';
  /** Whether `cur` holds more than whitespace. */
  let content = false;
  let line = 1;
  let startLine = 1;
  let i = 0;
  const push = () => {
    const text = content ? cur.trim() : '';
    if (text !== '') out.push({ text, line: startLine, indented: /^[ \t]/.test(cur) });
    cur = '';
    content = false;
  };
  while (i < source.length) {
    const ch = source[i]!;
    if (cur === '' && ch !== '\n') startLine = line;
    if (ch === '#') {
      while (i < source.length && source[i] !== '\n') i++;
      continue;
    }
    if (ch === "'" || ch === '"') {
      let end: number;
      try {
        ({ end } = parseStringLiteral(source, i));
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        throw new ConfigError(`${file}:${line}: ${err.message}`, { cause: err });
      }
      const lit = source.slice(i, end);
      content = true;
      line += (lit.match(/\n/g) ?? []).length;
      cur += lit;
      i = end;
      continue;
    }
    if (ch === '\\' && source[i + 1] === '\n') {
      i += 2;
      line++;
      cur += ' ';
      continue;
    }
    if ('([{'.includes(ch)) depth++;
    if (')]}'.includes(ch)) depth = Math.max(0, depth - 1);
    if (ch === '\n') {
      line++;
      if (depth === 0) {
        push();
        i++;
        continue;
      }
      cur += ' ';
      i++;
      continue;
    }
    cur += ch;
    if (ch !== ' ' && ch !== '\t' && ch !== '\r' && ch !== '\f' && ch !== '\v') content = true;
    i++;
  }
  push();
  return out;
}

type Expr =
  | { kind: 'lit'; value: PyLiteral }
  | { kind: 'name'; name: string }
  | { kind: 'call'; fn: string; args: Expr[]; kwargs: Record<string, Expr> }
  | { kind: 'index'; target: string; key: Expr }
  | { kind: 'neg'; expr: Expr };

// Sticky: matched at a position of the statement, so parsing stays linear in its length.
const STRING_START = /[rRuUbB]{0,2}['"]/y;
const NUMBER = /[0-9][0-9a-fA-FxXoObB_.]*([eE][-+]?[0-9]+)?/y;
const DOTTED_NAME = /[A-Za-z_][A-Za-z0-9_]*(\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*/y;
const KEYWORD = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)/y;

class ExprParser {
  pos = 0;
  constructor(readonly text: string) {}

  private ws(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  peek(): string {
    this.ws();
    return this.text[this.pos] ?? '';
  }

  expect(ch: string): void {
    if (this.peek() !== ch) throw new ConfigError(`expected '${ch}' at offset ${this.pos} in: ${this.text}`);
    this.pos++;
  }

  atEnd(): boolean {
    return this.peek() === '';
  }

  /** `re` (sticky) matched at the current position, without copying the rest of the text. */
  private match(re: RegExp): RegExpExecArray | null {
    re.lastIndex = this.pos;
    return re.exec(this.text);
  }

  parse(): Expr {
    this.ws();
    if (this.match(STRING_START)) {
      const { value, end } = parseStringLiteral(this.text, this.pos);
      this.pos = end;
      return { kind: 'lit', value };
    }
    if (this.text[this.pos] === '-') {
      this.pos++;
      return { kind: 'neg', expr: this.parse() };
    }
    const num = this.match(NUMBER);
    if (num) {
      const value = parsePyNumber(num[0]);
      if (value === undefined) throw new ConfigError(`bad number '${num[0]}'`);
      this.pos += num[0].length;
      return { kind: 'lit', value };
    }
    const ident = this.match(DOTTED_NAME);
    if (!ident) throw new ConfigError(`cannot understand '${this.text.slice(this.pos)}'`);
    this.pos += ident[0].length;
    const name = ident[0].replace(/\s+/g, '');
    if (name === 'None') return { kind: 'lit', value: null };
    if (name === 'True') return { kind: 'lit', value: true };
    if (name === 'False') return { kind: 'lit', value: false };
    const next = this.peek();
    if (next === '(') {
      this.pos++;
      const args: Expr[] = [];
      const kwargs: Record<string, Expr> = {};
      while (this.peek() !== ')') {
        if (this.atEnd()) throw new ConfigError(`unclosed call of ${name}`);
        const kw = this.match(KEYWORD);
        if (kw) {
          this.pos += kw[0].length;
          kwargs[kw[1]!] = this.parse();
        } else args.push(this.parse());
        if (this.peek() === ',') this.pos++;
        else if (this.peek() !== ')') throw new ConfigError(`expected ',' or ')' in call of ${name}`);
      }
      this.pos++;
      return { kind: 'call', fn: name, args, kwargs };
    }
    if (next === '[') {
      this.pos++;
      const key = this.parse();
      this.expect(']');
      return { kind: 'index', target: name, key };
    }
    return { kind: 'name', name };
  }
}

export function parseExpression(text: string): Expr {
  const p = new ExprParser(text);
  const e = p.parse();
  if (!p.atEnd()) throw new ConfigError(`unexpected text in: ${text}`);
  return e;
}

interface EvalContext {
  vars: Map<string, PyLiteral | Error>;
  env: Readonly<Record<string, string | undefined>>;
  tacFile: string;
}

function evaluate(e: Expr, ctx: EvalContext): PyLiteral {
  switch (e.kind) {
    case 'lit':
      return e.value;
    case 'neg': {
      const v = evaluate(e.expr, ctx);
      if (typeof v !== 'number') throw new ConfigError('unary minus on a non-number');
      return -v;
    }
    case 'name': {
      if (e.name === '__file__') return ctx.tacFile;
      const v = ctx.vars.get(e.name);
      if (v === undefined) throw new ConfigError(`'${e.name}' is not defined`);
      if (v instanceof Error) throw v;
      return v;
    }
    case 'index': {
      if (e.target !== 'os.environ') throw new ConfigError(`cannot index ${e.target}`);
      const key = String(evaluate(e.key, ctx));
      const v = ctx.env[key];
      if (v === undefined) throw new ConfigError(`environment variable ${key} is not set`);
      return v;
    }
    case 'call': {
      const args = e.args.map((a) => evaluate(a, ctx));
      switch (e.fn) {
        case 'os.environ.get':
        case 'os.getenv': {
          const v = ctx.env[String(args[0])];
          return v !== undefined ? v : (args[1] ?? (e.kwargs.default ? evaluate(e.kwargs.default, ctx) : null));
        }
        case 'int': {
          const a = args[0];
          if (typeof a === 'number') return Math.trunc(a);
          if (typeof a === 'boolean') return a ? 1 : 0;
          const n = typeof a === 'string' && /^\s*[-+]?[0-9_]+\s*$/.test(a) ? Number(a.trim().replace(/_/g, '')) : NaN;
          if (!Number.isFinite(n)) throw new ConfigError(`invalid literal for int(): ${JSON.stringify(a)}`);
          return n;
        }
        case 'str':
          return args[0] === null ? 'None' : String(args[0]);
        case 'bool':
          return Boolean(args[0]);
        case 'os.path.abspath':
          return path.resolve(path.dirname(ctx.tacFile), String(args[0]));
        case 'os.path.dirname':
          return path.dirname(String(args[0]));
        case 'os.path.expanduser':
          return String(args[0]).replace(/^~(?=$|\/)/, ctx.env.HOME ?? '~');
        case 'os.path.join':
          return args.reduce<string>((acc, a) => (String(a).startsWith('/') ? String(a) : acc === '' ? String(a) : acc.replace(/\/?$/, '/') + String(a)), '');
        case 'os.getcwd':
          return path.dirname(ctx.tacFile);
        default:
          throw new ConfigError(`unsupported call ${e.fn}()`);
      }
    }
  }
}

function asNumberOrNull(v: PyLiteral, what: string): number | null {
  if (v === null) return null;
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new ConfigError(`${what} must be a number or None, not ${JSON.stringify(v)}`);
}

function asStringOrNull(v: PyLiteral, what: string): string | null {
  if (v === null) return null;
  if (typeof v === 'string') return v;
  throw new ConfigError(`${what} must be a string or None, not ${JSON.stringify(v)}`);
}

/** Parse tac source text into a WorkerConfig; `tacFile` is its absolute path (for `__file__`). */
export function parseTac(source: string, tacFile: string, env: Readonly<Record<string, string | undefined>> = process.env): WorkerConfig {
  if (!source.includes(TAC_MARKER)) throw new ConfigError(`unexpected content in '${tacFile}'`);
  const ctx: EvalContext = { vars: new Map(), env, tacFile };
  let workerCall: { expr: Extract<Expr, { kind: 'call' }>; line: number } | undefined;
  let sawLogFile = false;
  let logToStdout = false;

  for (const st of splitStatements(source, tacFile)) {
    if (/LogFile(\.fromFullPath)?\s*\(/.test(st.text)) sawLogFile = true;
    if (/LogObserver\s*\(\s*sys\.stdout\s*\)/.test(st.text)) logToStdout = true;
    if (st.indented) continue;
    // `if basedir == '.': basedir = ...` (one-line or block form): resolved below.
    if (/^(import|from|if|for|while|def|class|try|except|else|elif|with)\b/.test(st.text)) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)\s*([\s\S]*)$/.exec(st.text);
    if (!m) continue;
    const [, name, exprText] = m as unknown as [string, string, string];
    let expr: Expr;
    try {
      expr = parseExpression(exprText);
    } catch (err) {
      ctx.vars.set(name, new ConfigError(`${tacFile}:${st.line}: cannot understand '${exprText}': ${(err as Error).message}`));
      continue;
    }
    if (expr.kind === 'call' && /(^|\.)Worker$/.test(expr.fn)) {
      workerCall = { expr, line: st.line };
      continue;
    }
    try {
      ctx.vars.set(name, evaluate(expr, ctx));
    } catch (err) {
      ctx.vars.set(name, new ConfigError(`${tacFile}:${st.line}: ${(err as Error).message}`, { cause: err }));
    }
  }
  if (!workerCall) throw new ConfigError(`${tacFile}: no Worker(...) call found`);

  const call = workerCall.expr;
  const where = `${tacFile}:${workerCall.line}`;
  const arg = (pos: number, kw: string): PyLiteral | undefined => {
    const e = pos < call.args.length ? call.args[pos] : call.kwargs[kw];
    if (!e) return undefined;
    try {
      return evaluate(e, ctx);
    } catch (err) {
      throw new ConfigError(`${where}: Worker argument ${kw}: ${(err as Error).message}`, { cause: err });
    }
  };
  const kwarg = (kw: string) => arg(Number.MAX_SAFE_INTEGER, kw);

  let basedir = asStringOrNull(arg(4, 'basedir') ?? null, 'basedir') ?? path.dirname(tacFile);
  if (basedir === '.') basedir = path.dirname(tacFile);
  const cfg = defaultConfig(path.resolve(path.dirname(tacFile), basedir));
  cfg.host = asStringOrNull(arg(0, 'buildmaster_host') ?? null, 'buildmaster_host');
  cfg.port = asNumberOrNull(arg(1, 'port') ?? null, 'port');
  cfg.workername = String(arg(2, 'name') ?? '');
  const passwd = arg(3, 'passwd');
  if (passwd === null || passwd === undefined) throw new ConfigError(`${where}: no password (passwd is None)`);
  cfg.password = String(passwd);
  cfg.keepalive = asNumberOrNull(arg(5, 'keepalive') ?? null, 'keepalive') ?? 0;
  cfg.umask = asNumberOrNull(kwarg('umask') ?? null, 'umask');
  cfg.maxdelay = asNumberOrNull(kwarg('maxdelay') ?? null, 'maxdelay') ?? cfg.maxdelay;
  cfg.numcpus = asNumberOrNull(kwarg('numcpus') ?? null, 'numcpus');
  const allow = asStringOrNull(kwarg('allow_shutdown') ?? null, 'allow_shutdown');
  if (allow !== null && allow !== 'signal' && allow !== 'file') throw new ConfigError(`${where}: allow_shutdown must be 'signal', 'file' or None`);
  cfg.allowShutdown = allow;
  cfg.maxretries = asNumberOrNull(kwarg('maxRetries') ?? null, 'maxRetries');
  const protocol = (asStringOrNull(kwarg('protocol') ?? null, 'protocol') ?? 'pb') as Protocol;
  if (!PROTOCOLS.includes(protocol)) throw new ConfigError(`Unknown protocol ${protocol}`);
  cfg.protocol = protocol;
  cfg.useTls = Boolean(kwarg('useTls') ?? false);
  cfg.deleteLeftoverDirs = Boolean(kwarg('delete_leftover_dirs') ?? false);
  cfg.connectionString = asStringOrNull(kwarg('connection_string') ?? null, 'connection_string');
  cfg.proxyConnectionString = asStringOrNull(kwarg('proxy_connection_string') ?? null, 'proxy_connection_string');
  cfg.path = asStringOrNull(kwarg('path') ?? null, 'path');
  if (cfg.connectionString && (cfg.host !== null || cfg.port !== null)) {
    throw new ConfigError(`${where}: If you want to supply a connection string, then set host and port to None`);
  }
  if (cfg.connectionString && cfg.proxyConnectionString) {
    throw new ConfigError(`${where}: connection_string and proxy_connection_string cannot be used together`);
  }
  if (!cfg.connectionString && (cfg.host === null || cfg.port === null)) throw new ConfigError(`${where}: no master host and port`);

  const lookupNumber = (name: string): number | null | undefined => {
    const v = ctx.vars.get(name);
    if (v === undefined || v instanceof Error) return undefined;
    return asNumberOrNull(v, name);
  };
  if (logToStdout) {
    cfg.logToStdout = true;
    cfg.logRotation = null;
  } else if (sawLogFile) {
    cfg.logRotation = {
      rotateLength: lookupNumber('rotateLength') ?? TWISTD_DEFAULT_ROTATION.rotateLength,
      maxRotatedFiles: lookupNumber('maxRotatedFiles') ?? null,
    };
  } else cfg.logRotation = null;
  readMetricsSettings(cfg, ctx.vars, tacFile);
  return cfg;
}

/** `metrics_port` / `metrics_host`: top-level assignments of this worker only (Python's Worker never sees them). */
function readMetricsSettings(cfg: WorkerConfig, vars: Map<string, PyLiteral | Error>, tacFile: string): void {
  const port = vars.get('metrics_port');
  if (port instanceof Error) throw port;
  if (port !== undefined && port !== null) {
    const n = typeof port === 'string' && /^\s*[0-9]+\s*$/.test(port) ? Number(port) : port;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) {
      throw new ConfigError(`${tacFile}: metrics_port must be a port number (0 to 65535) or None, not ${JSON.stringify(port)}`);
    }
    cfg.metricsPort = n;
  }
  const host = vars.get('metrics_host');
  if (host instanceof Error) throw host;
  if (host !== undefined && host !== null) cfg.metricsHost = asStringOrNull(host, 'metrics_host') ?? undefined;
}

/** Read `<basedir>/buildbot.tac`. */
export function readTacFile(basedir: string, env: Readonly<Record<string, string | undefined>> = process.env): WorkerConfig {
  const tacFile = path.join(path.resolve(basedir), 'buildbot.tac');
  let st: fs.Stats;
  try {
    st = fs.statSync(tacFile);
  } catch (err) {
    throw new ConfigError(`error reading '${tacFile}': ${(err as NodeJS.ErrnoException).message}`, { cause: err });
  }
  if (st.size > MAX_TAC_BYTES) throw new ConfigError(`'${tacFile}' is larger than ${MAX_TAC_BYTES} bytes`);
  return parseTac(fs.readFileSync(tacFile, 'utf8'), tacFile, env);
}
