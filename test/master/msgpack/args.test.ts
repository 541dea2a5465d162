import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toMsgpackCommand } from '../../../src/master/msgpack/args.js';

const paths = { system: 'posix', environ: { HOME: '/home/t' }, builderDir: '/srv/w/b1' };

test('shell: workdir joined with the builder dir, want_* normalised like `== 1`', () => {
  const input = { workdir: 'build', command: ['true'], want_stdout: 1, want_stderr: 0, env: {} };
  const out = toMsgpackCommand('shell', input, paths);
  assert.equal(out.commandName, 'shell');
  assert.deepEqual(out.args, { workdir: '/srv/w/b1/build', command: ['true'], want_stdout: true, want_stderr: false, env: {} });
  assert.equal(input.workdir, 'build', 'the input is not modified');
  assert.equal(toMsgpackCommand('shell', { workdir: '/abs' }, paths).args.workdir, '/abs');
});

test('transfers get snake_case names, a joined path, and lose writer/reader (captured key order)', () => {
  const up = toMsgpackCommand('uploadFile', { workdir: 'build', writer: 'W', maxsize: null, blocksize: 262144, keepstamp: true, workersrc: 'out.txt' }, paths);
  assert.equal(up.commandName, 'upload_file');
  assert.deepEqual(Object.keys(up.args), ['workdir', 'maxsize', 'blocksize', 'keepstamp', 'workersrc', 'path']);
  assert.equal(up.args.path, '/srv/w/b1/build/out.txt');
  const dir = toMsgpackCommand('uploadDirectory', { workdir: 'build', writer: 'W', workersrc: '~/d' }, paths);
  assert.equal(dir.commandName, 'upload_directory');
  assert.equal(dir.args.path, '/home/t/d');
  const dl = toMsgpackCommand('downloadFile', { maxsize: null, reader: 'R', blocksize: 16384, workdir: 'build', mode: 416, workerdest: 'downloaded.txt' }, paths);
  assert.equal(dl.commandName, 'download_file');
  assert.deepEqual(dl.args, { maxsize: null, blocksize: 16384, workdir: 'build', mode: 416, workerdest: 'downloaded.txt', path: '/srv/w/b1/build/downloaded.txt' });
});

test('filesystem commands: dir/fromdir/todir/file become absolute path keys', () => {
  assert.deepEqual(toMsgpackCommand('mkdir', { dir: 'build/newdir' }, paths).args, { paths: ['/srv/w/b1/build/newdir'] });
  assert.deepEqual(toMsgpackCommand('rmdir', { dir: ['a', 'b'], timeout: 120 }, paths).args, { timeout: 120, paths: ['/srv/w/b1/a', '/srv/w/b1/b'] });
  assert.deepEqual(toMsgpackCommand('cpdir', { fromdir: 'build/updir', todir: 'build/copy', timeout: 120 }, paths).args, {
    timeout: 120,
    from_path: '/srv/w/b1/build/updir',
    to_path: '/srv/w/b1/build/copy',
  });
  assert.deepEqual(toMsgpackCommand('stat', { file: 'build/downloaded.txt' }, paths).args, { path: '/srv/w/b1/build/downloaded.txt' });
  assert.deepEqual(toMsgpackCommand('stat', { file: 'x', workdir: 'build' }, paths).args, { workdir: 'build', path: '/srv/w/b1/build/x' });
  assert.deepEqual(toMsgpackCommand('listdir', { dir: 'build' }, paths).args, { path: '/srv/w/b1/build' });
  assert.deepEqual(toMsgpackCommand('glob', { path: 'build/*.o' }, paths).args, { path: '/srv/w/b1/build/*.o' });
  assert.deepEqual(toMsgpackCommand('rmfile', { path: '~/x' }, paths).args, { path: '/srv/w/b1/~/x' }, '3.7 does not expand ~ for rmfile');
});

test('nt workers get ntpath joins and Windows home expansion', () => {
  const nt = { system: 'nt', environ: { USERPROFILE: 'C:\\Users\\t' }, builderDir: 'C:\\w\\b1' };
  assert.equal(toMsgpackCommand('shell', { workdir: 'build' }, nt).args.workdir, 'C:\\w\\b1\\build');
  assert.equal(toMsgpackCommand('downloadFile', { workdir: 'build', workerdest: '~\\f' }, nt).args.path, 'C:\\Users\\t\\f');
});
