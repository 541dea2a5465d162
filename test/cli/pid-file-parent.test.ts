import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { claimPidFile, pidFilePath, readPid } from '../../src/cli/pid-file.js';
import { eventually } from '../helpers/eventually.js';

// A live process whose command line runs a worker in this basedir, as tini's does in a container
// (`tini -- node .../worker.js start --nodaemon /buildbot`).
test("twistd.pid naming our parent is stale even when the parent's command line names a worker of this basedir", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pid-parent-'));
  const fake = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'bin/worker.js', 'start', '--nodaemon', dir], { stdio: 'ignore' });
  try {
    await eventually(() => fs.existsSync(`/proc/${fake.pid}/cmdline`) && fs.readFileSync(`/proc/${fake.pid}/cmdline`, 'utf8').includes('worker.js'));
    fs.writeFileSync(pidFilePath(dir), `${fake.pid}\n`);
    assert.deepEqual(claimPidFile(dir, 4242, 4241), { ok: false, running: fake.pid }, 'an unrelated worker of this basedir is respected');
    assert.deepEqual(claimPidFile(dir, 4242, fake.pid!), { ok: true, stale: fake.pid });
    assert.equal(readPid(dir), 4242);
  } finally {
    fake.kill('SIGKILL');
  }
});

// After a container restart the old worker's pid can be a thread of a live process: /proc/N and
// kill(N, 0) answer for thread ids too, with the process's command line and working directory.
test('twistd.pid naming a thread (not a process) of a worker of this basedir is stale', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pid-thread-'));
  const fake = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'bin/worker.js', 'start', '--nodaemon', dir], { stdio: 'ignore' });
  try {
    const threads = () => fs.readdirSync(`/proc/${fake.pid}/task`).map(Number);
    await eventually(() => fs.existsSync(`/proc/${fake.pid}/cmdline`) && fs.readFileSync(`/proc/${fake.pid}/cmdline`, 'utf8').includes('worker.js') && threads().length > 1);
    const tid = threads().find((t) => t !== fake.pid)!;
    fs.writeFileSync(pidFilePath(dir), `${tid}\n`);
    assert.deepEqual(claimPidFile(dir, 4242, 4241), { ok: true, stale: tid });
    assert.equal(readPid(dir), 4242);
    // The process itself is still respected.
    fs.rmSync(pidFilePath(dir));
    fs.writeFileSync(pidFilePath(dir), `${fake.pid}\n`);
    assert.deepEqual(claimPidFile(dir, 4242, 4241), { ok: false, running: fake.pid });
  } finally {
    fake.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
