import path from 'node:path';
import type { Level, Logger } from 'pino';
import { requireCjs } from './require-cjs.js';
import { RotatingFile } from './rotating-file.js';

const { pino } = requireCjs('pino') as typeof import('pino');

/**
 * The worker's logger: pino records formatted as Twisted's text lines
 * (`2024-01-01 12:00:00+0100 [-] message`, `[Broker,client]` for what the PB connection
 * does), so twistd.log reads like the Python worker's and the lines users and scrapers grep
 * for (`message from master: attached`, `command finished with signal None, exit code 0,
 * elapsedTime: ...`) are there; or, with `--log-format json`, pino's JSON lines. Written to
 * `<basedir>/twistd.log` with size rotation and/or to stdout (and stderr with `--verbose`).
 * The password never reaches a destination: known fields are redacted by pino and the
 * literal text is masked. See docs/logging.md.
 */

export const LOG_FILE_NAME = 'twistd.log';
export const REDACTED = '<redacted>';
/** Shorter secrets are not masked in free text (masking one or two characters would garble every line). */
export const MIN_MASKED_SECRET_LENGTH = 4;

export interface LogOptions {
  /** Write `<basedir>/twistd.log`; omit for stdout only. */
  basedir?: string;
  /** Rotation of twistd.log; null: twistd's default 1 MB, unlimited files. */
  rotation?: { rotateLength: number; maxRotatedFiles: number | null } | null;
  /** Also (or only, without basedir) write to stdout. */
  stdout?: boolean;
  /** Texts to mask wherever they appear (the worker password). */
  secrets?: string[];
  level?: LogLevel;
  /** `text` (Twisted's lines, the default) or `json` (pino's JSON lines). */
  format?: LogFormat;
  /** Also write every line to stderr (`buildbot-worker --verbose`, like Twisted's startLogging(sys.stderr)). */
  stderr?: boolean;
  /** Where stdout lines go (tests). */
  stdoutWrite?: (line: string) => void;
}

export type LogFormat = 'text' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];
export type LogLevel = Level | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Twisted's log "system" of what the Python worker's PB client connection logs. */
export const PB_SYSTEM = 'Broker,client';
/** The same for its msgpack (autobahn WebSocket) client connection. */
export const MSGPACK_SYSTEM = 'BuildbotWebSocketClientProtocol,client';
/** The text log's system label of the `protocol` binding the sessions put on their loggers. */
const SYSTEM_OF_PROTOCOL: Record<string, string> = { pb: PB_SYSTEM, msgpack: MSGPACK_SYSTEM };

export interface WorkerLog {
  log: Logger;
  close(): void;
}

const REDACT_PATHS = ['password', 'passwd', '*.password', '*.passwd', 'opts.password', 'config.password', 'headers.authorization', 'headers.Authorization'];

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** Twisted's timestamp (`%Y-%m-%d %H:%M:%S%z`): local time with a ±HHMM offset. */
export function twistedTimestamp(ms: number): string {
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const a = Math.abs(off);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${sign}${pad(Math.floor(a / 60))}${pad(a % 60)}`;
}

/** Fields the text line does not repeat (commandId: the Python worker's command lines carry none; JSON keeps it). */
const SKIP_KEYS = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'err', 'system', 'protocol', 'commandId']);

/** One pino JSON record → one text line (plus the error's stack lines). */
export function formatRecord(rec: Record<string, unknown>): string {
  const system = typeof rec.system === 'string' ? rec.system : typeof rec.protocol === 'string' ? (SYSTEM_OF_PROTOCOL[rec.protocol] ?? rec.protocol) : '-';
  let line = `${twistedTimestamp(typeof rec.time === 'number' ? rec.time : Date.now())} [${system}] ${rec.msg ?? ''}`;
  const extras: string[] = [];
  for (const [k, v] of Object.entries(rec)) {
    if (SKIP_KEYS.has(k) || v === undefined) continue;
    extras.push(`${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
  if (extras.length) line += ` (${extras.join(' ')})`;
  const err = rec.err as { message?: string; stack?: string; type?: string } | undefined;
  if (err && typeof err === 'object') {
    if (err.stack) line += `\n\t${err.stack.split('\n').join('\n\t')}`;
    else if (err.message) line += `: ${err.message}`;
  }
  return line + '\n';
}

export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (s.length < MIN_MASKED_SECRET_LENGTH) continue;
    out = out.split(s).join(REDACTED);
    // The same secret as it appears inside JSON-escaped text.
    const json = JSON.stringify(s).slice(1, -1);
    if (json !== s) out = out.split(json).join(REDACTED);
  }
  return out;
}

export function createWorkerLog(opts: LogOptions): WorkerLog {
  const secrets = (opts.secrets ?? []).filter((s) => s.length > 0);
  const rotation = opts.rotation === undefined ? { rotateLength: 10_000_000, maxRotatedFiles: 10 } : (opts.rotation ?? { rotateLength: 1_000_000, maxRotatedFiles: null });
  const file = opts.basedir ? new RotatingFile(path.join(opts.basedir, LOG_FILE_NAME), rotation.rotateLength, rotation.maxRotatedFiles) : undefined;
  const toStdout = opts.stdout || !file;
  const stdoutWrite = opts.stdoutWrite ?? ((line: string) => void process.stdout.write(line));
  const json = opts.format === 'json';
  const destination = {
    write(record: string): void {
      let line: string;
      if (json) line = maskSecrets(record, secrets);
      else {
        try {
          line = formatRecord(JSON.parse(maskSecrets(record, secrets)) as Record<string, unknown>);
        } catch {
          line = record;
        }
        line = maskSecrets(line, secrets);
      }
      try {
        file?.write(line);
      } catch {
        /* a full disk must not crash the worker */
      }
      if (toStdout) {
        try {
          stdoutWrite(line);
        } catch {
          /* stdout closed */
        }
      }
      if (opts.stderr) {
        try {
          process.stderr.write(line);
        } catch {
          /* stderr closed */
        }
      }
    },
  };
  const log = pino({ level: opts.level ?? 'info', base: undefined, redact: { paths: REDACT_PATHS, censor: REDACTED } }, destination);
  return { log, close: () => file?.close() };
}
