import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { WORKER_BIN } from '../../src/cli/local-worker.js';
import { startMasterHttp, type MasterHttpServer } from '../../src/master/http/http-server.js';
import { startTestMaster, type TestMaster } from '../../src/master/test-master.js';
import { MasterClient } from '../helpers/master-client.js';

/**
 * A basedir made by the Python `buildbot-worker create-worker` (Debian's package) starts
 * unchanged under this worker: same buildbot.tac, same info/ files.
 */

const PYTHON_WORKER = '/usr/bin/buildbot-worker';
const skip = existsSync(PYTHON_WORKER) ? false : `${PYTHON_WORKER} is not installed (apt-get install -y buildbot-worker)`;

describe('a basedir created by the Python worker', { skip }, () => {
  let master: TestMaster | undefined;
  let web: MasterHttpServer | undefined;
  const workers = ['py-pb', 'py-msgpack_experimental_v7'];
  after(async () => {
    await web?.close();
    await master?.close();
  });

  for (const protocol of ['pb', 'msgpack_experimental_v7'] as const) {
    test(`starts unchanged (${protocol})`, async () => {
      master ??= await startTestMaster({ workers: Object.fromEntries(workers.map((w) => [w, 'py-pass'])) });
      web ??= await startMasterHttp({ master, workers, port: 0 });
      const name = `py-${protocol}`;
      const port = protocol === 'pb' ? master.pbPort : master.msgpackPort;
      const basedir = path.join(mkdtempSync(path.join(os.tmpdir(), 'pybasedir-')), 'worker');
      const created = spawnSync(PYTHON_WORKER, ['create-worker', '--protocol', protocol, basedir, `127.0.0.1:${port}`, name, 'py-pass'], { encoding: 'utf8' });
      assert.equal(created.status, 0, created.stderr + created.stdout);
      const attached = master.waitForWorker(name, { timeoutMs: 20_000 });
      const child = spawn(process.execPath, [WORKER_BIN, 'start', '--nodaemon', basedir], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      try {
        const handle = await attached.catch((err: Error) => assert.fail(`${err.message}\n${out}`));
        assert.equal(path.resolve(String(handle.info.basedir)), path.resolve(basedir));
        assert.match(String(handle.info.admin), /Your Name Here/, 'info/admin written by the Python worker is sent');
        const r = await MasterClient.of(web).runStep(name, { command: 'shell', args: { command: ['echo', 'from a python basedir'], workdir: 'build' } });
        assert.equal(r.logs.stdout, 'from a python basedir\n');
      } finally {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('close', resolve));
      }
    });
  }
});
