import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolvePbArgs } from '../../../src/session/pb/paths.js';
import { CommandError } from '../../../src/errors.js';

const B = '/w/base/builder';
const plain = (o: object) => ({ ...o });

test('shell: workdir joined, everything else kept', () => {
  const args = { workdir: 'build', command: ['make'], env: {}, want_stdout: true, want_stderr: 0, timeout: 1200 };
  assert.deepEqual(plain(resolvePbArgs('shell', args, B)), {
    workdir: '/w/base/builder/build',
    command: ['make'],
    env: {},
    want_stdout: true,
    want_stderr: false,
    timeout: 1200,
  });
  assert.equal(resolvePbArgs('shell', { workdir: '/abs/dir' }, B).workdir, '/abs/dir');
  assert.deepEqual(args.workdir, 'build', 'input not modified');
});

test('mkdir and rmdir: dir (text or list) becomes paths', () => {
  assert.deepEqual(plain(resolvePbArgs('mkdir', { dir: 'build/newdir' }, B)), { paths: ['/w/base/builder/build/newdir'] });
  assert.deepEqual(plain(resolvePbArgs('rmdir', { dir: ['a', '/b'], timeout: 120, logEnviron: true }, B)), {
    paths: ['/w/base/builder/a', '/b'],
    timeout: 120,
    logEnviron: true,
  });
  assert.throws(() => resolvePbArgs('rmdir', { dir: 5 }, B), CommandError);
});

test('cpdir: fromdir/todir become from_path/to_path', () => {
  assert.deepEqual(plain(resolvePbArgs('cpdir', { fromdir: 'build/updir', todir: 'build/updir_copy', timeout: 120 }, B)), {
    from_path: '/w/base/builder/build/updir',
    to_path: '/w/base/builder/build/updir_copy',
    timeout: 120,
  });
});

test('stat: path = builderdir/workdir/file, workdir optional', () => {
  assert.deepEqual(plain(resolvePbArgs('stat', { file: 'build/downloaded.txt' }, B)), { path: '/w/base/builder/build/downloaded.txt' });
  assert.deepEqual(plain(resolvePbArgs('stat', { file: 'f', workdir: 'wd' }, B)), { path: '/w/base/builder/wd/f', workdir: 'wd' });
  assert.deepEqual(plain(resolvePbArgs('stat', { file: 'f', workdir: null }, B)), { path: '/w/base/builder/f', workdir: null });
});

test('glob, listdir, rmfile resolve to path', () => {
  assert.deepEqual(plain(resolvePbArgs('glob', { path: 'build/*.txt' }, B)), { path: '/w/base/builder/build/*.txt' });
  assert.deepEqual(plain(resolvePbArgs('listdir', { dir: 'build' }, B)), { path: '/w/base/builder/build' });
  assert.deepEqual(plain(resolvePbArgs('rmfile', { path: 'build/x' }, B, '/home/u')), { path: '/w/base/builder/build/x' });
  assert.deepEqual(plain(resolvePbArgs('rmfile', { path: '~/x' }, B, '/home/u')), { path: '/home/u/x' });
});

test('transfers: path joined with expanduser, writer/reader removed, other keys kept', () => {
  const writer = { luid: 13 };
  assert.deepEqual(plain(resolvePbArgs('uploadFile', { workdir: 'build', writer, maxsize: null, blocksize: 262144, keepstamp: true, workersrc: 'out.txt' }, B)), {
    path: '/w/base/builder/build/out.txt',
    workdir: 'build',
    maxsize: null,
    blocksize: 262144,
    keepstamp: true,
    workersrc: 'out.txt',
  });
  assert.deepEqual(plain(resolvePbArgs('uploadDirectory', { workdir: 'build', writer, maxsize: null, blocksize: 16384, compress: null, workersrc: '~/updir' }, B, '/home/u')), {
    path: '/home/u/updir',
    workdir: 'build',
    maxsize: null,
    blocksize: 16384,
    compress: null,
    workersrc: '~/updir',
  });
  assert.deepEqual(plain(resolvePbArgs('downloadFile', { maxsize: null, reader: { luid: 5 }, blocksize: 16384, workdir: 'build', mode: 416, workerdest: 'downloaded.txt' }, B)), {
    path: '/w/base/builder/build/downloaded.txt',
    maxsize: null,
    blocksize: 16384,
    workdir: 'build',
    mode: 416,
    workerdest: 'downloaded.txt',
  });
  // Pre-3.0 argument names.
  assert.equal(resolvePbArgs('uploadFile', { workdir: 'build', slavesrc: 'o' }, B).path, '/w/base/builder/build/o');
  assert.equal(resolvePbArgs('downloadFile', { workdir: 'build', slavedest: '/abs/o' }, B).path, '/abs/o');
});

test('missing arguments stay missing for the command to report', () => {
  assert.deepEqual(plain(resolvePbArgs('mkdir', {}, B)), {});
  assert.deepEqual(plain(resolvePbArgs('uploadFile', { workdir: 'build' }, B)), { workdir: 'build' });
  assert.throws(() => resolvePbArgs('shell', { workdir: 3 }, B), /workdir/);
});
