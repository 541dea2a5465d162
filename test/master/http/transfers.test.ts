import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startMasterHttp } from '../../../src/master/http/http-server.js';
import { MasterClient, MasterClientError } from '../../helpers/master-client.js';
import { startFixture, type HttpFixture } from './fixture.js';

/** Transfers through the REST API: an upload's bytes, a download from the transfer directory, file commands' results. */

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('transfers through /api/v1 jobs', () => {
  let fx: HttpFixture;
  let client: MasterClient;
  let transferDir: string;
  let builddir: string;
  before(async () => {
    transferDir = fs.mkdtempSync(path.join(os.tmpdir(), 'http-transfer-'));
    fx = await startFixture({ protocol: 'msgpack', transferDir });
    client = MasterClient.of(fx.web);
    builddir = path.join(fx.worker!.basedir, 'builder', 'build');
    fs.mkdirSync(builddir, { recursive: true });
  });
  after(async () => {
    await fx?.close();
    fs.rmSync(transferDir, { recursive: true, force: true });
  });

  test('uploadFile with keep: the bytes at steps/:n/upload, the writer in transfer', async () => {
    const data = randomBytes(300_000);
    fs.writeFileSync(path.join(builddir, 'up.bin'), data);
    const r = await client.runStep(fx.name, { command: 'uploadFile', args: { workersrc: 'up.bin', workdir: 'build', keepstamp: true }, keep: true });
    assert.equal(r.status, 'SUCCESS', JSON.stringify(r));
    assert.equal(sha256(await client.upload(r.jobId, 0)), sha256(data));
    assert.equal(r.transfer!.bytes, data.length);
    assert.equal(r.transfer!.closed, true);
    assert.equal(r.transfer!.kept, true);
    // msgpack: the master records the times (not the 3.7 master's TypeError).
    assert.ok(Array.isArray(r.transfer!.utime));
  });

  test('an upload without keep is counted, not kept; other steps have no upload', async () => {
    fs.writeFileSync(path.join(builddir, 'small.bin'), 'twelve bytes');
    const r = await client.runStep(fx.name, { command: 'uploadFile', args: { workersrc: 'small.bin', workdir: 'build' } });
    assert.equal(r.status, 'SUCCESS');
    assert.equal(r.transfer!.bytes, 12);
    await assert.rejects(client.upload(r.jobId, 0), (e: MasterClientError) => e.status === 404 && /keep/.test(e.message));
    const sh = await client.runStep(fx.name, { command: 'shell', args: { command: 'true' } });
    await assert.rejects(client.upload(sh.jobId, 0), (e: MasterClientError) => e.status === 404 && /not an upload/.test(e.message));
  });

  test('downloadFile from mastersrc: the file under the transfer directory arrives whole', async () => {
    const data = randomBytes(700_000);
    fs.writeFileSync(path.join(transferDir, 'payload.bin'), data);
    const r = await client.runStep(fx.name, { command: 'downloadFile', args: { workerdest: 'got.bin', workdir: 'build' }, mastersrc: 'payload.bin' });
    assert.equal(r.status, 'SUCCESS', JSON.stringify(r));
    assert.equal(sha256(fs.readFileSync(path.join(builddir, 'got.bin'))), sha256(data));
    assert.equal(r.transfer!.bytes, data.length);
  });

  test('mastersrc: missing, escaping by symlink, bad paths, no transfer directory', async () => {
    const missing = await client.runStep(fx.name, { command: 'downloadFile', args: { workerdest: 'x.bin' }, mastersrc: 'nope.bin' });
    assert.equal(missing.status, 'EXCEPTION');
    assert.match(missing.startError ?? '', /not available at master/);
    fs.symlinkSync('/etc/hostname', path.join(transferDir, 'escape'));
    const escaped = await client.runStep(fx.name, { command: 'downloadFile', args: { workerdest: 'x.bin' }, mastersrc: 'escape' });
    assert.equal(escaped.status, 'EXCEPTION');
    assert.match(escaped.startError ?? '', /outside the transfer directory/);
    assert.ok(!fs.existsSync(path.join(builddir, 'x.bin')));
    for (const [step, why] of [
      [{ command: 'downloadFile', args: {}, mastersrc: '../etc/passwd' }, /relative path/],
      [{ command: 'downloadFile', args: {}, mastersrc: '/etc/passwd' }, /relative path/],
      [{ command: 'uploadFile', args: {}, mastersrc: 'a' }, /only for downloadFile/],
      [{ command: 'downloadFile', args: {}, mastersrc: 'a', data: 'b' }, /either data or mastersrc/],
      [{ command: 'shell', args: { command: 'true' }, keep: true }, /only for uploadFile and uploadDirectory/],
      [{ command: 'uploadFile', args: {}, keep: 'yes' }, /true or false/],
    ] as const) {
      await assert.rejects(client.submit({ worker: fx.name, steps: [step as never] }), (e: MasterClientError) => e.status === 400 && why.test(e.message), JSON.stringify(step));
    }
    const bare = await startMasterHttp({ master: fx.master, workers: [fx.name], port: 0 });
    try {
      await assert.rejects(
        MasterClient.of(bare).submit({ worker: fx.name, steps: [{ command: 'downloadFile', args: {}, mastersrc: 'payload.bin' }] }),
        (e: MasterClientError) => e.status === 400 && /--transfer-dir/.test(e.message),
      );
    } finally {
      await bare.close();
    }
  });

  test('file commands: their results are the step updates', async () => {
    fs.writeFileSync(path.join(builddir, 'f.txt'), 'abc');
    const [st, ls] = await client.run({
      worker: fx.name,
      steps: [
        { command: 'stat', args: { file: 'f.txt', workdir: 'build' } },
        { command: 'listdir', args: { dir: 'build' } },
      ],
    });
    assert.equal(st!.rc, 0);
    const stat = st!.updates.find(([k]) => k === 'stat')?.[1] as number[];
    assert.equal(stat[6], 3, 'st_size');
    assert.ok((ls!.updates.find(([k]) => k === 'files')?.[1] as string[]).includes('f.txt'));
  });
});
