import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestMaster } from '../master/test-master.js';
import { startLocalWorker, type LocalProtocol } from './local-worker.js';

/**
 * `worker demo`: try the worker on this machine with nothing else installed. Starts the
 * embedded master on loopback, creates a worker in a temporary basedir for each protocol,
 * runs a shell step and a file upload on it, and prints what the master received.
 */

export async function runDemo(print: (line: string) => void = (l) => console.log(l)): Promise<number> {
  const password = randomBytes(12).toString('hex');
  const master = await startTestMaster({ workers: { 'demo-pb': password, 'demo-msgpack': password } });
  const root = mkdtempSync(path.join(os.tmpdir(), 'worker-demo-'));
  let failures = 0;
  try {
    for (const protocol of ['pb', 'msgpack'] as LocalProtocol[]) {
      const name = `demo-${protocol}`;
      const port = protocol === 'pb' ? master.pbPort : master.msgpackPort;
      const basedir = path.join(root, name);
      const t0 = Date.now();
      const attached = master.waitForWorker(name, { timeoutMs: 30_000 });
      const worker = await startLocalWorker({ basedir, protocol, port, name, password });
      try {
        const handle = await attached;
        print(`\n== ${protocol}: worker ${name} attached in ${Date.now() - t0} ms (basedir ${basedir})`);
        const shell = await handle.startCommand('builder', 'shell', { command: 'echo "hello from $(uname -sr)"; ls', workdir: 'build' }).done;
        print(`shell step: ${shell.status}, rc ${shell.rc}`);
        for (const line of shell.logs.stdout.split('\n')) if (line) print(`  | ${line}`);
        const data = randomBytes(4 * 1024 * 1024);
        mkdirSync(path.join(basedir, 'builder', 'build'), { recursive: true });
        writeFileSync(path.join(basedir, 'builder', 'build', 'artifact.bin'), data);
        const t1 = Date.now();
        const upload = await handle.startCommand('builder', 'uploadFile', { workersrc: 'artifact.bin', workdir: 'build' }, { upload: { collect: true } }).done;
        const same = upload.upload !== undefined && createHash('sha256').update(upload.upload.data).digest('hex') === createHash('sha256').update(data).digest('hex');
        print(`upload of 4 MiB: ${upload.status} in ${Date.now() - t1} ms, checksum ${same ? 'matches' : 'DIFFERS'}`);
        if (shell.status !== 'SUCCESS' || upload.status !== 'SUCCESS' || !same) failures++;
      } catch (err) {
        failures++;
        print(`${protocol}: ${(err as Error).message}\n${worker.output()}`);
      } finally {
        await worker.stop();
      }
    }
  } finally {
    await master.close();
    rmSync(root, { recursive: true, force: true });
  }
  print(failures === 0 ? '\ndemo: both protocols work' : `\ndemo: ${failures} protocol(s) failed`);
  return failures === 0 ? 0 : 1;
}
