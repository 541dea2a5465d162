import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { startTestMaster, type TestMaster } from '../../src/master/test-master.js';
import type { CommandRun } from '../../src/master/command-run.js';
import type { WorkerHandle } from '../../src/master/worker-handle.js';
import { attachWorker, liveInGroup, processesWith, procStatus, uniqueMarker, zombieChildren, type Protocol, type RunningWorker } from './harness.js';
import { eventually } from '../helpers/eventually.js';

/**
 * Process trees run by the real worker: a step whose grandchild ignores SIGTERM and a step
 * that backgrounds a child are killed completely on interrupt, on timeout (no output) and on
 * maxTime — checked in the process table, not by exit codes. The Python worker signals only
 * the leader in several of these paths and leaves survivors. Children start with default
 * signal dispositions (buildbot issues #3153, #5152: an inherited SIGPIPE ignore).
 */

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'process', 'fixtures');
const GRANDCHILD_IGNORES_TERM = path.join(FIXTURES, 'grandchild-ignores-term.js');
const BACKGROUND_CHILD = path.join(FIXTURES, 'background-child.js');

type Tree = 'grandchild-ignores-term' | 'background-child';
type Trigger = 'interrupt' | 'timeout' | 'maxTime';

/** The step's command line; `marker` makes its leader findable in /proc. */
function treeCommand(tree: Tree, marker: string, trigger: Trigger): string[] {
  // For maxTime the step keeps printing, so that the no-output timeout is not what ends it.
  const keepBusy = trigger === 'maxTime' ? `while :; do echo tick; sleep 0.2; done` : `sleep 9${marker}`;
  if (tree === 'grandchild-ignores-term') {
    return ['sh', '-c', `"${process.execPath}" "${GRANDCHILD_IGNORES_TERM}" & ${keepBusy}; : ${marker}`];
  }
  return ['sh', '-c', `"${process.execPath}" "${BACKGROUND_CHILD}"; ${keepBusy}; : ${marker}`];
}

const TRIGGER_ARGS: Record<Trigger, Record<string, unknown>> = {
  interrupt: {},
  // TERM first, KILL after 1 s: the TERM-ignoring grandchild needs the second step.
  timeout: { timeout: 1, sigtermTime: 1 },
  maxTime: { maxTime: 2, sigtermTime: 1 },
};

/** Figures for the README, summed over both protocols. */
export const treeFigures = { trees: 0, survivors: 0 };

for (const protocol of ['pb', 'msgpack'] as Protocol[]) {
  describe(`process trees over ${protocol}`, { concurrency: false }, () => {
    let master: TestMaster;
    let worker: RunningWorker;
    let handle: WorkerHandle;
    const name = `trees-${protocol}`;

    before(async () => {
      master = await startTestMaster({ workers: { [name]: 'trees-pw' } });
      ({ worker, handle } = await attachWorker(master, { protocol, port: protocol === 'pb' ? master.pbPort : master.msgpackPort, name, password: 'trees-pw' }));
      mkdirSync(path.join(worker.basedir, 'builder', 'build'), { recursive: true });
    });

    after(async () => {
      await worker?.stop();
      await master?.close();
    });

    for (const tree of ['grandchild-ignores-term', 'background-child'] as Tree[]) {
      for (const trigger of ['interrupt', 'timeout', 'maxTime'] as Trigger[]) {
        test(`${tree}, ended by ${trigger}: zero survivors in the process table`, { timeout: 30_000 }, async () => {
          const marker = uniqueMarker();
          const run: CommandRun = handle.startCommand('builder', 'shell', { command: treeCommand(tree, marker, trigger), workdir: 'build', ...TRIGGER_ARGS[trigger] });
          // The leader (sh, with the marker in its command line) and its tree, all in one group.
          let pgid = 0;
          await eventually(
            () => {
              const leader = processesWith(`: ${marker}`)[0];
              if (leader === undefined) return false;
              pgid = leader;
              // sh + the busy loop/sleep + the node fixture and its grandchild, or the backgrounded child.
              return liveInGroup(pgid).length >= (tree === 'grandchild-ignores-term' ? 4 : 3);
            },
            'the process tree to start',
            10_000,
          );
          const members = liveInGroup(pgid);
          if (trigger === 'interrupt') await run.interrupt('reliability test says stop');
          const r = await run.done;
          assert.notEqual(r.rc, 0, 'the step did not succeed');
          if (trigger === 'timeout') assert.match(r.logs.stdio, /command timed out: 1 seconds without output/);
          if (trigger === 'maxTime') assert.match(r.logs.stdio, /command timed out: 2 seconds elapsed/);
          await eventually(() => liveInGroup(pgid).length === 0, `the group ${pgid} (${members.join(', ')}) to be gone`, 10_000);
          const survivors = members.filter((pid) => procStatus(pid, 'State') !== undefined && !/^[ZX]/.test(procStatus(pid, 'State')!));
          treeFigures.trees++;
          treeFigures.survivors += survivors.length;
          assert.deepEqual(survivors, [], 'no member of the tree survives');
          await eventually(() => zombieChildren(worker.child.pid!).length === 0, 'no zombie under the worker', 5_000);
        });
      }
    }

    test("a step's processes start with default signal dispositions and an empty signal mask", async () => {
      for (const usePTY of [false, true]) {
        // The program the worker starts reads its own status: a shell reading another
        // process's status could catch it inside fork(), where dash blocks every signal.
        const r = await handle.startCommand('builder', 'shell', { command: ['grep', '-E', '^Sig(Ign|Blk):', '/proc/self/status'], workdir: 'build', usePTY }).done;
        assert.equal(r.rc, 0, r.logs.stdio);
        const lines = r.logs.stdout.replaceAll('\r', '').trim().split('\n');
        assert.equal(lines.length, 2, r.logs.stdout);
        for (const line of lines) assert.match(line, /^Sig(Ign|Blk):\s+0{16}$/, `usePTY=${usePTY}: ${line}`);
      }
    });
  });
}
