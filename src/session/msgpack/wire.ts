import type { LogChunk, OutputSettings, UpdateEntry } from '../../commands/update.js';
import { toWire, type MsgpackMessage } from '../../protocol/msgpack.js';
import type { CommandFailure } from '../../worker/handlers.js';
import { CommandError, ERR } from '../../errors.js';
import { keyErrorText, missingKeyText, responseMessage, unknownOpText } from '../../engine/msgpack/messages.js';

export { toWire };

/**
 * What the worker puts on the `msgpack_experimental_v7` wire (`docs/protocol/msgpack.md`),
 * as plain values for the codec of src/protocol/msgpack.ts. Pure functions, no I/O.
 * Keys are inserted in the order the Python worker uses, so that encoded frames are
 * byte-identical to the captured ones (nobody depends on key order, §2.2, but the
 * captures can then serve as test vectors).
 */

/** `[text, newline_indexes, line_times]` (§7). */
export function chunkValue(chunk: LogChunk): unknown[] {
  return [chunk.text, chunk.newlines, chunk.times];
}

/**
 * One `[key, value]` pair of an `update` (§7): output as `[stream, [text, idx, times]]`,
 * logfiles as `["log", [name, [text, idx, times]]]`, statuses as `[key, value]`.
 */
export function updatePair(entry: UpdateEntry): unknown[] {
  switch (entry.kind) {
    case 'output':
      return [entry.stream, chunkValue(entry.chunk)];
    case 'logfile':
      return ['log', [entry.name, chunkValue(entry.chunk)]];
    case 'status':
      return [entry.key, toWire(entry.value)];
  }
}

/** Python's `<class '...'>` spelling: builtins carry no module prefix. */
function pythonClassName(type: string): string {
  return type.startsWith('builtins.') ? type.slice('builtins.'.length) : type;
}

/**
 * `complete.args` for a failed command (§10): the Python worker sends `str(failure)`,
 * `[Failure instance: Traceback: <class 'T'>: value\n<frames>]`. The master only logs it.
 */
export function failureText(failure: CommandFailure): string {
  const tb = failure.traceback === '' || failure.traceback.endsWith('\n') ? failure.traceback : `${failure.traceback}\n`;
  return `[Failure instance: Traceback: <class '${pythonClassName(failure.type)}'>: ${failure.value}\n${tb}]`;
}

// ---- worker → master requests (§6), without seq_number (the peer stamps it) -----------

export const updateRequest = (commandId: string, entries: UpdateEntry[]): MsgpackMessage => ({
  op: 'update',
  args: entries.map(updatePair),
  command_id: commandId,
});

/** `args` must be present even when null (§6: the master checks for the key). */
export const completeRequest = (commandId: string, failure: CommandFailure | null): MsgpackMessage => ({
  op: 'complete',
  args: failure ? failureText(failure) : null,
  command_id: commandId,
});

/** File data always as bin (§2.2): a Buffer view, never a string. */
const bin = (data: Uint8Array): Buffer => Buffer.from(data.buffer, data.byteOffset, data.byteLength);

export const uploadFileWriteRequest = (commandId: string, data: Uint8Array): MsgpackMessage => ({
  op: 'update_upload_file_write',
  args: bin(data),
  command_id: commandId,
});

export const uploadFileCloseRequest = (commandId: string): MsgpackMessage => ({ op: 'update_upload_file_close', command_id: commandId });

export const uploadFileUtimeRequest = (commandId: string, accessTime: number, modifiedTime: number): MsgpackMessage => ({
  op: 'update_upload_file_utime',
  access_time: accessTime,
  modified_time: modifiedTime,
  command_id: commandId,
});

export const uploadDirectoryWriteRequest = (commandId: string, data: Uint8Array): MsgpackMessage => ({
  op: 'update_upload_directory_write',
  args: bin(data),
  command_id: commandId,
});

export const uploadDirectoryUnpackRequest = (commandId: string): MsgpackMessage => ({ op: 'update_upload_directory_unpack', command_id: commandId });

export const readFileRequest = (commandId: string, length: number): MsgpackMessage => ({ op: 'update_read_file', length, command_id: commandId });

export const readFileCloseRequest = (commandId: string): MsgpackMessage => ({ op: 'update_read_file_close', command_id: commandId });

// The response and error texts both ends share live in src/engine/msgpack/messages.ts.
export { keyErrorText, missingKeyText, responseMessage, unknownOpText };

// ---- set_worker_settings (§3) ------------------------------------------------------------

const SETTING_KEYS = ['buffer_size', 'buffer_timeout', 'newline_re', 'max_line_length'] as const;

/**
 * The master's settings as OutputSettings. All four keys are required (the stock worker's
 * error text when one is missing); their types are checked too, since a wrong one would
 * only break the output pipeline later.
 */
export function parseWorkerSettings(args: unknown): OutputSettings {
  if (args === null || typeof args !== 'object' || Array.isArray(args) || args instanceof Uint8Array) {
    throw new CommandError('set_worker_settings: args is not a map', ERR.BAD_SETTINGS);
  }
  const a = args as Record<string, unknown>;
  for (const key of SETTING_KEYS) {
    if (!Object.hasOwn(a, key)) throw new CommandError(keyErrorText('message did not contain obligatory settings for worker'), ERR.BAD_SETTINGS);
  }
  const int = (key: string, min: number): number => {
    const v = a[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      throw new CommandError(`set_worker_settings: ${key} must be an integer >= ${min}, got ${JSON.stringify(v)}`, ERR.BAD_SETTINGS);
    }
    return v;
  };
  const timeout = a.buffer_timeout;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0) {
    throw new CommandError(`set_worker_settings: buffer_timeout must be a number >= 0, got ${JSON.stringify(timeout)}`, ERR.BAD_SETTINGS);
  }
  if (typeof a.newline_re !== 'string') {
    throw new CommandError(`set_worker_settings: newline_re must be a string`, ERR.BAD_SETTINGS);
  }
  return {
    newlineRe: a.newline_re,
    maxLineLength: int('max_line_length', 1),
    bufferSize: int('buffer_size', 1),
    bufferTimeout: timeout,
  };
}
