import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { CommandError } from '../../../src/errors.js';
import { encodeMessage } from '../../../src/protocol/msgpack.js';
import { joinBasedir, resolveMsgpackArgs } from '../../../src/session/msgpack/args.js';
import { transferKind } from '../../../src/session/msgpack/channel.js';
import {
  completeRequest,
  failureText,
  parseWorkerSettings,
  readFileRequest,
  responseMessage,
  toWire,
  updatePair,
  updateRequest,
  uploadFileUtimeRequest,
  uploadFileWriteRequest,
} from '../../../src/session/msgpack/wire.js';
import { float, tuple } from '../../../src/values.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('the response to print (#5) is byte-identical to the Python worker’s, without is_exception', () => {
  assert.deepEqual(encodeMessage(responseMessage(0, null)), hex('83 a2 6f 70 a8 72 65 73 70 6f 6e 73 65 aa 73 65 71 5f 6e 75 6d 62 65 72 00 a6 72 65 73 75 6c 74 c0'));
  assert.deepEqual(responseMessage(3, 'x', true), { op: 'response', seq_number: 3, result: 'x', is_exception: true });
  assert.equal('is_exception' in responseMessage(3, null), false);
});

test('update pairs: output and logfile chunks as [text, newlines, times], statuses with Python types', () => {
  const chunk = { text: 'a\nb\n', newlines: [1, 3], times: [1.5, 2.5] };
  assert.deepEqual(updatePair({ kind: 'output', stream: 'stderr', chunk }), ['stderr', ['a\nb\n', [1, 3], [1.5, 2.5]]]);
  assert.deepEqual(updatePair({ kind: 'logfile', name: 'custom', chunk }), ['log', ['custom', ['a\nb\n', [1, 3], [1.5, 2.5]]]]);
  assert.deepEqual(updatePair({ kind: 'status', key: 'stat', value: tuple(33184, 2155797, 65024, 1, 0, 0, 0, 1795343333, 1795343333, 1795343333) }), [
    'stat',
    [33184, 2155797, 65024, 1, 0, 0, 0, 1795343333, 1795343333, 1795343333],
  ]);
  assert.deepEqual(updatePair({ kind: 'status', key: 'elapsed', value: float(0.5) }), ['elapsed', 0.5]);
  // Captured #65 'stat' pair: ints in their smallest forms (cd/ce), like Python.
  const captured65 = hex('92 a4 73 74 61 74 9a cd 81 a0 ce 00 20 e5 15 cd fe 00 01 00 00 00 ce 6b 02 c3 e5 ce 6b 02 c3 e5 ce 6b 02 c3 e5');
  assert.deepEqual(
    Buffer.from(encodeMessage({ x: updatePair({ kind: 'status', key: 'stat', value: tuple(33184, 2155797, 65024, 1, 0, 0, 0, 1795343333, 1795343333, 1795343333) }) })).subarray(3),
    captured65,
  );
});

test('toWire: markers become plain values, 64-bit ints stay ints, undefined becomes null', () => {
  assert.deepEqual(toWire({ a: [float(1.25), tuple(1, 'x')], b: Buffer.from('z'), c: null }), { a: [1.25, [1, 'x']], b: Buffer.from('z'), c: null });
  assert.equal(toWire(2 ** 40), 2n ** 40n);
  assert.equal(toWire(-(2 ** 40)), -(2n ** 40n));
  assert.equal(toWire(0xffff_ffff), 0xffff_ffff);
  assert.equal(toWire(undefined), null);
  // Python writes a big ino as int64/uint64 (d3/cf), never as float64 (cb).
  assert.equal(encodeMessage({ i: toWire(2 ** 40) as never })[3], 0xd3);
});

test('worker requests carry the Python key order and bin file data', () => {
  assert.deepEqual(Object.keys(updateRequest('1', [])), ['op', 'args', 'command_id']);
  assert.deepEqual(completeRequest('1', null), { op: 'complete', args: null, command_id: '1' });
  assert.deepEqual(Object.keys(uploadFileUtimeRequest('9', 1, 2)), ['op', 'access_time', 'modified_time', 'command_id']);
  assert.deepEqual(Object.keys(readFileRequest('3', 16384)), ['op', 'length', 'command_id']);
  const w = uploadFileWriteRequest('9', new Uint8Array([0xff, 0]));
  assert.ok(Buffer.isBuffer(w.args));
  // bin8 (c4), never str: capture #82.
  assert.deepEqual(encodeMessage({ ...w, seq_number: 22 }).subarray(0, 34), hex('84 a2 6f 70 b8 75 70 64 61 74 65 5f 75 70 6c 6f 61 64 5f 66 69 6c 65 5f 77 72 69 74 65 a4 61 72 67 73'));
  assert.equal(encodeMessage({ ...w, seq_number: 22 })[34], 0xc4);
});

test('failure text: str(Failure) of the Python worker', () => {
  assert.equal(
    failureText({ type: 'builtins.FileNotFoundError', value: '[Errno 2] nope', traceback: 'a.py:1:f\nb.py:2:g\n' }),
    "[Failure instance: Traceback: <class 'FileNotFoundError'>: [Errno 2] nope\na.py:1:f\nb.py:2:g\n]",
  );
  assert.equal(
    failureText({ type: 'buildbot_worker.msgpack.RemoteWorkerError', value: 'x', traceback: '' }),
    "[Failure instance: Traceback: <class 'buildbot_worker.msgpack.RemoteWorkerError'>: x\n]",
  );
  assert.equal(failureText({ type: 'T', value: 'v', traceback: 'no newline' }), "[Failure instance: Traceback: <class 'T'>: v\nno newline\n]");
});

test('set_worker_settings: the four keys are required and typed', () => {
  assert.deepEqual(parseWorkerSettings({ newline_re: '(\\r\\n)', max_line_length: 4096, buffer_timeout: 5, buffer_size: 65536 }), {
    newlineRe: '(\\r\\n)',
    maxLineLength: 4096,
    bufferSize: 65536,
    bufferTimeout: 5,
  });
  assert.equal(parseWorkerSettings({ newline_re: 'x', max_line_length: 1, buffer_timeout: 0.5, buffer_size: 1 }).bufferTimeout, 0.5);
  assert.throws(() => parseWorkerSettings({ newline_re: 'x', max_line_length: 1, buffer_size: 1 }), { message: "'message did not contain obligatory settings for worker'" });
  assert.throws(() => parseWorkerSettings(null), CommandError);
  assert.throws(() => parseWorkerSettings({ newline_re: 1, max_line_length: 1, buffer_timeout: 1, buffer_size: 1 }), /newline_re/);
  assert.throws(() => parseWorkerSettings({ newline_re: 'x', max_line_length: 0, buffer_timeout: 1, buffer_size: 1 }), /max_line_length/);
  assert.throws(() => parseWorkerSettings({ newline_re: 'x', max_line_length: 1, buffer_timeout: -1, buffer_size: 1 }), /buffer_timeout/);
  assert.throws(() => parseWorkerSettings({ newline_re: 'x', max_line_length: 1, buffer_timeout: 1, buffer_size: 1.5 }), /buffer_size/);
});

test('start_command args: relative paths joined onto the basedir like os.path.join, transfer leftovers untouched', () => {
  assert.equal(joinBasedir('/b', 'x/../y', path.posix), '/b/x/../y');
  assert.equal(joinBasedir('/b/', 'x', path.posix), '/b/x');
  assert.equal(joinBasedir('/b', '/abs', path.posix), '/abs');
  assert.equal(joinBasedir('C:\\w', 'x', path.win32), 'C:\\w\\x');
  assert.equal(joinBasedir('C:\\w', 'D:\\y', path.win32), 'D:\\y');
  assert.deepEqual(resolveMsgpackArgs('mkdir', { paths: ['a', '/b', 3] }, '/w', path.posix), { paths: ['/w/a', '/b', 3] });
  assert.deepEqual(resolveMsgpackArgs('shell', { workdir: 'build', want_stdout: 1, want_stderr: 0, command: 'x' }, '/w', path.posix), {
    workdir: '/w/build',
    want_stdout: true,
    want_stderr: false,
    command: 'x',
  });
  assert.deepEqual(resolveMsgpackArgs('upload_file', { workdir: 'build', workersrc: 'out.txt', path: '/w/b/build/out.txt', writer: null }, '/w', path.posix), {
    workdir: 'build',
    workersrc: 'out.txt',
    path: '/w/b/build/out.txt',
  });
  const input = { path: 'rel' };
  resolveMsgpackArgs('stat', input, '/w', path.posix);
  assert.deepEqual(input, { path: 'rel' }, 'the input is not modified');
});

test('transfer kinds by command name (msgpack and PB spellings)', () => {
  assert.equal(transferKind('upload_file'), 'file-upload');
  assert.equal(transferKind('uploadDirectory'), 'directory-upload');
  assert.equal(transferKind('download_file'), 'download');
  assert.equal(transferKind('shell'), undefined);
});
