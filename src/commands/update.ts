import type { PyValue } from '../values.js';

/**
 * A run of whole lines of log text, as the output pipeline produces it
 * (`docs/protocol/msgpack.md` §7): `text` ends with "\n"; `newlines` are the
 * indexes of every "\n" in `text` counted in Unicode code points (Python string
 * indexes); `times` holds one epoch timestamp (seconds, float) per line.
 */
export interface LogChunk {
  text: string;
  newlines: number[];
  times: number[];
}

export type OutputStream = 'stdout' | 'stderr' | 'header';

/**
 * One protocol-neutral update from a command to the master. PB sends only the text of
 * output chunks (`[{stdout: text}, 0]`); msgpack sends `[key, [text, newlines, times]]`.
 */
export type UpdateEntry = { kind: 'output'; stream: OutputStream; chunk: LogChunk } | { kind: 'logfile'; name: string; chunk: LogChunk } | { kind: 'status'; key: string; value: PyValue };

/** Settings of the output pipeline; msgpack masters send them in `set_worker_settings`. */
export interface OutputSettings {
  /** Python `re` syntax, as the master sends it. */
  newlineRe: string;
  maxLineLength: number;
  /** Bytes-ish cost (see msgpack.md §7) at which the queue is sent. */
  bufferSize: number;
  /** Seconds after the first queued item at which the queue is sent. */
  bufferTimeout: number;
}

/** The Python worker's defaults (`base.py BotBase.__init__`), also what 3.7 masters send. */
export const DEFAULT_OUTPUT_SETTINGS: Readonly<OutputSettings> = Object.freeze({
  newlineRe: '(\\r\\n|\\r(?=.)|\\033\\[u|\\033\\[[0-9]+;[0-9]+[Hf]|\\033\\[2J|\\x08+)',
  maxLineLength: 4096,
  bufferSize: 64 * 1024,
  bufferTimeout: 5,
});
