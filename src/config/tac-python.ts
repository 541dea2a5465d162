import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { pyRepr, type PyLiteral } from './python-literal.js';
import { MAX_TAC_BYTES, parseTac, readTacFile } from './tac-reader.js';
import { TAC_MARKER } from './tac-template.js';
import type { WorkerConfig } from './worker-config.js';

/**
 * buildbot.tac is Python. The built-in reader (tac-reader.ts) understands the tacs that
 * create-worker writes and simple edits of them; a tac it does not understand (values read
 * from files, helper functions, loops) is evaluated by python3 when one is on PATH, with
 * stand-in `buildbot_worker.bot`, `twisted.application.service`, `twisted.python.log`,
 * `twisted.python.logfile` and `twisted.logger` modules that only record what the tac hands
 * to `Worker(...)` and to `LogFile`/the log observer. Twisted is never imported and nothing
 * is started. The recorded values are turned into a plain tac and read by the built-in
 * reader, so they are checked exactly like a tac written by create-worker.
 * See docs/buildbot-tac.md.
 */

/** How long python3 may take to evaluate a tac. */
export const PYTHON_TAC_TIMEOUT_MS = 30_000;
/** Prefix of the line carrying the recorded values (the tac may print things itself). */
const RESULT_MARKER = '@@buildbot-worker-ts-tac@@';

const STAND_INS = String.raw`
import json, os, sys, traceback, types

tac = sys.argv[1]
real_stdout = sys.stdout
record = {'worker': None, 'logfile': None, 'stdout': False}

class Stub(object):
    """Anything else a tac takes from Twisted: callable, with any attribute."""
    def __init__(self, *a, **kw):
        pass
    def __call__(self, *a, **kw):
        return Stub()
    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        return Stub()

def module(name):
    m = types.ModuleType(name)
    m.__getattr__ = lambda attr: Stub() if not attr.startswith('__') else (_ for _ in ()).throw(AttributeError(attr))
    sys.modules[name] = m
    parent, _, child = name.rpartition('.')
    if parent:
        setattr(sys.modules[parent], child, m)
    return m

for name in ('twisted', 'twisted.application', 'twisted.application.service', 'twisted.python',
             'twisted.python.log', 'twisted.python.logfile', 'twisted.logger', 'twisted.internet',
             'buildbot_worker', 'buildbot_worker.bot'):
    module(name)

class Application(Stub):
    def __init__(self, name, *a, **kw):
        self.name = name
    def setComponent(self, *a, **kw):
        pass

class Worker(object):
    def __init__(self, *args, **kwargs):
        record['worker'] = {'args': list(args), 'kwargs': kwargs}
    def setServiceParent(self, parent):
        pass
    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        return Stub()

class LogFile(Stub):
    def __init__(self, name, directory=None, rotateLength=1000000, defaultMode=None, maxRotatedFiles=None):
        record['logfile'] = {'rotateLength': rotateLength, 'maxRotatedFiles': maxRotatedFiles}
    @classmethod
    def fromFullPath(cls, filename, *args, **kwargs):
        return cls(os.path.basename(filename), os.path.dirname(filename), *args, **kwargs)

def observer(f=None, *a, **kw):
    if f is real_stdout or f is sys.stdout or f is sys.__stdout__ or f is sys.stderr or f is sys.__stderr__:
        record['stdout'] = True
    return Stub()

class FileLogObserver(Stub):
    def __init__(self, f=None, *a, **kw):
        observer(f)
    def emit(self, *a, **kw):
        pass

sys.modules['twisted.application.service'].Application = Application
sys.modules['buildbot_worker.bot'].Worker = Worker
sys.modules['twisted.python.logfile'].LogFile = LogFile
sys.modules['twisted.python.log'].FileLogObserver = FileLogObserver
sys.modules['twisted.logger'].FileLogObserver = FileLogObserver
sys.modules['twisted.logger'].textFileLogObserver = observer
sys.modules['twisted.logger'].jsonFileLogObserver = observer

def fail(kind, message, line):
    real_stdout.write(RESULT_MARKER + json.dumps({'error': {'kind': kind, 'message': message, 'line': line}}) + '\n')
    sys.exit(0)

try:
    with open(tac, 'rb') as f:
        source = f.read()
    code = compile(source, tac, 'exec')
    g = {'__file__': tac, '__name__': '__builtin__'}
    sys.stdout = sys.stderr
    exec(code, g)
except SystemExit:
    raise
except BaseException as e:
    line = None
    for frame in traceback.extract_tb(e.__traceback__):
        if frame.filename == tac:
            line = frame.lineno
    if isinstance(e, SyntaxError):
        line = e.lineno
    fail(type(e).__name__, str(e), line)

def plain(v, what):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    fail('TypeError', '%s is a %s, not a string, number, boolean or None' % (what, type(v).__name__), None)

if record['worker'] is None:
    fail('ValueError', 'the tac never called Worker(...)', None)
w = record['worker']
out = {
    'args': [plain(v, 'Worker argument %d' % i) for i, v in enumerate(w['args'])],
    'kwargs': dict((k, plain(v, 'Worker argument ' + k)) for k, v in w['kwargs'].items()),
    'logfile': None if record['logfile'] is None else dict((k, plain(v, k)) for k, v in record['logfile'].items()),
    'stdout': record['stdout'],
    'globals': dict((k, plain(g[k], k)) for k in ('metrics_port', 'metrics_host') if k in g),
}
real_stdout.write(RESULT_MARKER + json.dumps(out) + '\n')
`.replace(/RESULT_MARKER/g, JSON.stringify(RESULT_MARKER));

/** What python3 recorded from the tac. */
export interface TacRecord {
  args: PyLiteral[];
  kwargs: Record<string, PyLiteral>;
  logfile: { rotateLength: PyLiteral; maxRotatedFiles: PyLiteral } | null;
  stdout: boolean;
  globals: Record<string, PyLiteral>;
}

/** The first executable `python3` on PATH, or undefined. */
export function findPython3(env: Readonly<Record<string, string | undefined>> = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'python3');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** Run the tac with python3 and the stand-in modules; the recorded Worker arguments and log settings. */
export function evaluateTacWithPython(python: string, tacFile: string, env: Readonly<Record<string, string | undefined>>): TacRecord {
  // -I: ignore PYTHONPATH and the user's site-packages, so no real Twisted can be imported by accident.
  const r = spawnSync(python, ['-I', '-c', STAND_INS, tacFile], {
    cwd: path.dirname(tacFile),
    env: env as NodeJS.ProcessEnv,
    encoding: 'utf8',
    timeout: PYTHON_TAC_TIMEOUT_MS,
    maxBuffer: 4 * 1024 * 1024,
  });
  if (r.error) throw new ConfigError(`${tacFile}: cannot run ${python}: ${r.error.message}`, { cause: r.error });
  const line = (r.stdout ?? '')
    .split('\n')
    .reverse()
    .find((l) => l.startsWith(RESULT_MARKER));
  if (!line) throw new ConfigError(`${tacFile}: ${python} did not evaluate it (exit ${r.status ?? r.signal})`);
  const result = JSON.parse(line.slice(RESULT_MARKER.length)) as TacRecord | { error: { kind: string; message: string; line: number | null } };
  if ('error' in result) {
    const where = result.error.line ? `${tacFile}:${result.error.line}` : tacFile;
    throw new ConfigError(`${where}: ${result.error.kind}: ${result.error.message}`);
  }
  return result;
}

function literal(v: PyLiteral): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'None';
  return pyRepr(v);
}

/** A plain tac with the recorded values, for the built-in reader (which checks them). */
export function tacFromRecord(rec: TacRecord): string {
  const lines = ['from buildbot_worker.bot import Worker', 'from twisted.application import service', `application = service.Application('buildbot-worker')`];
  for (const [k, v] of Object.entries(rec.globals)) if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) lines.push(`${k} = ${literal(v)}`);
  if (rec.stdout) lines.push('application.setComponent(ILogObserver, FileLogObserver(sys.stdout).emit)');
  else if (rec.logfile) {
    lines.push(`rotateLength = ${literal(rec.logfile.rotateLength)}`, `maxRotatedFiles = ${literal(rec.logfile.maxRotatedFiles)}`);
    lines.push('logfile = LogFile.fromFullPath("twistd.log", rotateLength=rotateLength, maxRotatedFiles=maxRotatedFiles)');
  }
  const kwargs = Object.entries(rec.kwargs).filter(([k]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k));
  const call = [...rec.args.map(literal), ...kwargs.map(([k, v]) => `${k}=${literal(v)}`)].join(', ');
  lines.push(`s = Worker(${call})`, 's.setServiceParent(application)');
  return lines.join('\n') + '\n';
}

export interface LoadedTac {
  config: WorkerConfig;
  /** Set when the built-in reader gave up and python3 evaluated the tac: its path and why. */
  evaluatedBy?: { python: string; readerError: string };
}

/**
 * Read `<basedir>/buildbot.tac`: with the built-in reader, or, when it does not understand
 * the tac and python3 is on PATH, by evaluating it with python3. With no python3 the
 * reader's error (naming the line) stands.
 */
export function loadTac(basedir: string, env: Readonly<Record<string, string | undefined>> = process.env): LoadedTac {
  try {
    return { config: readTacFile(basedir, env) };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const tacFile = path.join(path.resolve(basedir), 'buildbot.tac');
    // Not a tac at all (missing, too large, not a worker's): nothing for python3 to do.
    let source: string;
    try {
      if (fs.statSync(tacFile).size > MAX_TAC_BYTES) throw err;
      source = fs.readFileSync(tacFile, 'utf8');
    } catch {
      throw err;
    }
    if (!source.includes(TAC_MARKER)) throw err;
    const python = findPython3(env);
    if (!python) throw err;
    let rec: TacRecord;
    try {
      rec = evaluateTacWithPython(python, tacFile, env);
    } catch (pyErr) {
      throw new ConfigError(`${err.message}; evaluated with ${python}: ${(pyErr as Error).message}`, { cause: pyErr });
    }
    const config = parseTac(tacFromRecord(rec), tacFile, env);
    return { config, evaluatedBy: { python, readerError: err.message } };
  }
}
