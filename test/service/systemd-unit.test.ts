import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestMaster } from '../../src/master/test-master.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const UNIT = path.join(ROOT, 'contrib', 'systemd', 'buildbot-worker@.service');
const APP_DIR = '/opt/buildbot-worker';

/** `[Section] Key=Value` of a unit file (last value wins, as for these single-valued keys). */
function unitKeys(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let section = '';
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#') || t.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(t);
    if (s) section = s[1]!;
    else {
      const eq = t.indexOf('=');
      out[`${section}.${t.slice(0, eq)}`] = t.slice(eq + 1);
    }
  }
  return out;
}

const keys = unitKeys(fs.readFileSync(UNIT, 'utf8'));

test('the systemd unit drains on stop: SIGTERM to the worker only, a long stop timeout, restart on failure', () => {
  assert.equal(keys['Service.Type'], 'simple');
  assert.equal(keys['Service.KillSignal'], 'SIGTERM');
  assert.equal(keys['Service.KillMode'], 'mixed');
  assert.ok(Number(keys['Service.TimeoutStopSec']) >= 3600, keys['Service.TimeoutStopSec']);
  assert.equal(keys['Service.Restart'], 'on-failure');
  assert.match(keys['Service.ExecStart']!, / start --nodaemon \/var\/lib\/buildbot\/workers\/%i$/);
  assert.equal(keys['Service.User'], 'buildbot');
});

test('systemd-analyze verify accepts the unit without a warning', (t) => {
  const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  if (probe.error) return t.skip('systemd-analyze is not installed');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unit-'));
  let text = fs.readFileSync(UNIT, 'utf8');
  // verify checks that the executable exists; use this machine's node where /usr/bin/node is missing.
  if (!fs.existsSync('/usr/bin/node')) text = text.replaceAll('/usr/bin/node', process.execPath);
  for (const name of ['buildbot-worker@.service', 'buildbot-worker@w1.service']) {
    fs.writeFileSync(path.join(dir, name), text);
    const r = spawnSync('systemd-analyze', ['verify', path.join(dir, name)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', `warnings for ${name}: ${r.stderr}`);
  }
});

test("the unit's ExecStart, stopped the way systemd stops it (SIGTERM to the main process only), lets the build finish", async () => {
  const master = await startTestMaster({ workers: { w1: 'unit-secret' }, msgpackPort: null });
  const basedir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unit-workers-')), 'w1');
  const node = process.execPath;
  const created = spawnSync(node, [path.join(ROOT, 'bin', 'worker.js'), 'create-worker', '-q', basedir, `127.0.0.1:${master.pbPort}`, 'w1', 'unit-secret'], { encoding: 'utf8' });
  assert.equal(created.status, 0, created.stdout + created.stderr);
  const argv = keys['Service.ExecStart']!.split(/\s+/).map((a) => a.replace('/usr/bin/node', node).replace(APP_DIR, ROOT).replace('/var/lib/buildbot/workers/%i', basedir));
  const attached = master.waitForWorker('w1', { timeoutMs: 20_000 });
  const main = spawn(argv[0]!, argv.slice(1), { cwd: basedir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  main.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<number | null>((r) => main.on('exit', (code) => r(code)));
  try {
    const handle = await attached;
    const build = handle.startCommand('builder', 'shell', { command: ['sh', '-c', 'sleep 1.5; echo finished'], workdir: 'build' });
    await new Promise((r) => setTimeout(r, 500));
    main.kill(keys['Service.KillSignal'] as NodeJS.Signals);
    const r = await build.done;
    assert.equal(r.status, 'SUCCESS');
    assert.equal(r.logs.stdout, 'finished\n');
    assert.equal(await exited, 0, 'exit 0: Restart=on-failure does not restart it');
    assert.ok(output.includes('Received SIGTERM, shutting down.'), 'the journal (stdout) gets the log');
  } finally {
    main.kill('SIGKILL');
    await master.close();
  }
});
