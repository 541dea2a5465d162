import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { startTestMaster, type TestMaster } from '../../src/master/test-master.js';
import type { WorkerHandle } from '../../src/master/worker-handle.js';
import { attachWorker, liveInGroup, processesWith, processGroupOf, uniqueMarker, zombieChildren, type Protocol } from './harness.js';
import { eventually } from '../helpers/eventually.js';

/**
 * The master goes away in the middle of a build and comes back on the same port, again
 * and again: the worker must reconnect every time, and the command that was running when
 * the connection died must be gone with its whole process group, leaving no zombie.
 */

export const RESTARTS = 20;
const PASSWORD = 'restart-Secret-pw';

async function restartCycle(protocol: Protocol, diagnostic: (msg: string) => void): Promise<void> {
  const name = `restart-${protocol}`;
  const workers = { [name]: PASSWORD };
  const listenOn = (pb: number, mp: number) => (protocol === 'pb' ? { pbPort: pb, msgpackPort: null } : { pbPort: null, msgpackPort: mp });
  let master: TestMaster = await startTestMaster({ workers, ...listenOn(0, 0) });
  const port = protocol === 'pb' ? master.pbPort : master.msgpackPort;
  // --maxdelay 1 caps the back-off (1-2 s) so 20 cycles fit in the suite's time.
  let { worker, handle } = await attachWorker(master, { protocol, port, name, password: PASSWORD, extraCreateArgs: ['--maxdelay', '1'] });
  mkdirSync(path.join(worker.basedir, 'builder', 'build'), { recursive: true });
  const workerPid = worker.child.pid!;
  let survived = 0;
  try {
    for (let i = 0; i < RESTARTS; i++) {
      const m = uniqueMarker();
      const run = handle.startCommand('builder', 'shell', { command: ['sh', '-c', `sleep 7${m} & sleep 8${m}; echo never`], workdir: 'build' });
      await eventually(() => processesWith(`sleep 7${m}`).length > 0 && processesWith(`sleep 8${m}`).length > 0, `cycle ${i}: the build's processes to start`, 10_000);
      const pgid = processGroupOf(processesWith(`sleep 8${m}`)[0]!);
      assert.ok(pgid !== undefined && pgid !== processGroupOf(workerPid), 'the step runs in its own process group');

      await master.close();
      const r = await run.done;
      assert.ok(r.connectionLost, `cycle ${i}: the master saw the connection drop`);
      await eventually(
        () => processesWith(m).length === 0 && liveInGroup(pgid!).length === 0 && zombieChildren(workerPid).length === 0,
        `cycle ${i}: the interrupted command's process group to be gone, no zombie`,
        10_000,
      );

      master = await startTestMaster({ workers, ...listenOn(port, port) });
      assert.equal(protocol === 'pb' ? master.pbPort : master.msgpackPort, port, 'same port again');
      handle = (await master.waitForWorker(name, { timeoutMs: 20_000 })) as WorkerHandle;
      const echo = await handle.startCommand('builder', 'shell', { command: ['echo', `back ${i}`], workdir: 'build' }).done;
      assert.equal(echo.logs.stdout, `back ${i}\n`, `cycle ${i}: the reconnected worker serves`);
      survived++;
    }
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- worker output (tail) ---\n${worker.output().slice(-4000)}`, { cause: err });
  } finally {
    diagnostic(`${protocol}: ${survived} master restarts survived`);
    await worker.stop();
    await master.close();
  }
  assert.equal(survived, RESTARTS);
  assert.deepEqual(zombieChildren(workerPid), []);
}

describe('master restarts mid-build', { concurrency: true }, () => {
  for (const protocol of ['pb', 'msgpack'] as Protocol[]) {
    test(`${protocol}: ${RESTARTS} restarts on the same port, reconnect each time, no survivor, no zombie`, { timeout: 150_000 }, async (t) => {
      await restartCycle(protocol, (msg) => t.diagnostic(msg));
    });
  }
});
