import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { killGroup } from '../../src/process/kill-group.js';
import { spawnProcess } from '../../src/process/spawn.js';
import { systemClock } from '../../src/util/clock.js';
import { alive, liveInGroup, waitFor } from './proc-table.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}.js`, import.meta.url));

/** Start a fixture and wait for its first output line matching `re`. */
async function start(argv: string[], re: RegExp) {
  let out = '';
  let ready!: (m: RegExpMatchArray) => void;
  const matched = new Promise<RegExpMatchArray>((r) => (ready = r));
  const p = await spawnProcess({
    argv,
    cwd: '/tmp',
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    onStdout: (d) => {
      out += Buffer.from(d).toString();
      const m = re.exec(out);
      if (m) ready(m);
    },
    onStderr: () => {},
  });
  return { p, match: await matched };
}

test('TERM ignored by the leader: TERM, sigtermTime, then KILL; nothing survives', async () => {
  const { p } = await start([process.execPath, fixture('ignore-signals')], /ready/);
  const signals: string[] = [];
  await killGroup(p.pgid, { clock: systemClock, sigtermTime: 0.3, interruptSignal: 'SIGKILL', onSignal: (s) => signals.push(s) });
  assert.deepEqual(signals, ['SIGTERM', 'SIGKILL']);
  const exit = await p.ended;
  assert.equal(exit.signal, 9);
  assert.ok(await waitFor(() => liveInGroup(p.pgid).length === 0));
});

test('a grandchild that ignores TERM is killed with the group (Python kills only the leader)', async () => {
  const { p, match } = await start([process.execPath, fixture('grandchild-ignores-term')], /grandchild (\d+)/);
  const grandchild = Number(match[1]);
  assert.ok(alive(grandchild));
  const signals: string[] = [];
  await killGroup(p.pgid, { clock: systemClock, sigtermTime: 0.3, interruptSignal: 'SIGKILL', onSignal: (s) => signals.push(s) });
  assert.equal((await p.ended).signal, 15, 'the leader obeyed SIGTERM');
  assert.deepEqual(signals, ['SIGTERM', 'SIGKILL'], 'the group still had the grandchild after sigtermTime');
  assert.ok(await waitFor(() => !alive(grandchild)));
  assert.deepEqual(liveInGroup(p.pgid), []);
});

test('a backgrounded child outliving its parent is killed with the group', async () => {
  const { p, match } = await start([process.execPath, fixture('background-child')], /background (\d+)/);
  const bg = Number(match[1]);
  p.closeOutput();
  await p.ended;
  assert.ok(alive(bg), 'the background child still runs after its parent exited');
  await killGroup(p.pgid, { clock: systemClock, interruptSignal: 'SIGTERM' });
  assert.ok(await waitFor(() => !alive(bg)));
  assert.deepEqual(liveInGroup(p.pgid), []);
});

test('an interrupt signal that is ignored is followed by SIGKILL after the backup time', async () => {
  const { p } = await start([process.execPath, fixture('ignore-signals'), 'SIGINT'], /ready/);
  const signals: string[] = [];
  await killGroup(p.pgid, { clock: systemClock, interruptSignal: 'SIGINT', backupMs: 300, onSignal: (s) => signals.push(s) });
  assert.deepEqual(signals, ['SIGINT', 'SIGKILL']);
  assert.equal((await p.ended).signal, 9);
  assert.ok(await waitFor(() => liveInGroup(p.pgid).length === 0));
});

test('killing a group that is already gone sends nothing', async () => {
  const { p } = await start(['/bin/sh', '-c', 'echo ready'], /ready/);
  await p.ended;
  await waitFor(() => liveInGroup(p.pgid).length === 0);
  const signals: string[] = [];
  await killGroup(p.pgid, { clock: systemClock, interruptSignal: 'SIGKILL', onSignal: (s) => signals.push(s) });
  assert.deepEqual(signals, []);
});
