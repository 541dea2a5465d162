import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { startMasterHttp } from '../src/master/http/http-server.js';
import type { MasterVersion } from '../test/interop/real-master.js';
import { startTestMaster, type TestMaster, type TestMasterOptions } from '../src/master/test-master.js';
import type { WorkerHandle } from '../src/master/worker-handle.js';
import { MasterClient } from '../test/helpers/master-client.js';
import { createWorker, pythonUnavailable, type ContenderId, type CreatedWorker, type Protocol, type RunningBenchWorker } from './contenders.js';

/**
 * Runs the same body for both workers on the same embedded master, one worker at a time
 * (so they never compete for the two cores), for every protocol asked for. Bodies drive
 * jobs through the master's REST API (`client`), as users do; the worker's figures come
 * from its pid, so the HTTP hop in the benchmark process does not enter them.
 */

export interface BenchContext {
  quick: boolean;
  /** Scratch directory of this run. */
  root: string;
  protocols: Protocol[];
  contenders: ContenderId[];
  progress(line: string): void;
  /** real-master: runs per worker and workload (medians with min–max are reported). */
  repeat?: number;
  /** real-master: which real masters to run against. */
  masters?: MasterVersion[];
  /** real-master: factor on the full sizes (1 = the embedded sections' sizes). */
  realScale?: number;
  /** real-master: only these workloads (default all). */
  workloads?: string[];
}

export interface Attached {
  contender: ContenderId;
  protocol: Protocol;
  master: TestMaster;
  /** The master's REST API; jobs for this worker go to `name`. The bench's scratch directory is its transfer directory. */
  client: MasterClient;
  /** The worker's name on the master. */
  name: string;
  handle: WorkerHandle;
  worker: RunningBenchWorker;
  created: CreatedWorker;
  /** ms from spawning `start --nodaemon` to the master seeing the attach sequence finish. */
  attachMs: number;
  /** The `build` workdir of a builder, created. */
  builddir(builder?: string): string;
}

export const ATTACH_TIMEOUT_MS = 60_000;
const PASSWORD = 'bench-Secret-pw';

export type PerContender<T> = Partial<Record<ContenderId, T>> & { missing?: Partial<Record<ContenderId, string>> };

/** Start a created worker and wait until the master has it attached. */
export async function attach(master: TestMaster, client: MasterClient, created: CreatedWorker, name: string, protocol: Protocol): Promise<Attached> {
  const attached = master.waitForWorker(name, { timeoutMs: ATTACH_TIMEOUT_MS });
  const worker = created.start();
  let handle: WorkerHandle;
  try {
    handle = await attached;
  } catch (err) {
    await worker.stop();
    throw new Error(`${created.contender} worker did not attach over ${protocol}: ${(err as Error).message}\n${worker.output()}`);
  }
  const attachMs = performance.now() - worker.startedAt;
  const builders = handle.builders;
  return {
    contender: created.contender,
    protocol,
    master,
    client,
    name,
    handle,
    worker,
    created,
    attachMs,
    builddir(builder = builders[0].name) {
      const b = builders.find((x) => x.name === builder);
      if (!b) throw new Error(`no builder ${builder}`);
      const dir = path.join(created.basedir, b.builddir, 'build');
      mkdirSync(dir, { recursive: true });
      return dir;
    },
  };
}

/** Stop the worker and wait until the master has seen it go. */
export async function detach(a: Attached): Promise<void> {
  await a.worker.stop();
  await Promise.race([a.handle.detached, new Promise((r) => setTimeout(r, 10_000))]);
}

export interface RepeatOptions<T> {
  /** Runs per worker, alternating between the workers (default 1). */
  repeat?: number;
  /** Which run to keep: the one with the highest score (noise on a shared machine only slows runs down). */
  score?: (t: T) => number;
}

/**
 * For each protocol: one master with both workers attached at once (idle while the other
 * runs), then `body` run for each worker in turn, `repeat` rounds alternating between them
 * so that load from elsewhere on the machine hits both alike; the best-scoring run is kept.
 */
export async function compareOnEmbeddedMaster<T>(
  ctx: BenchContext,
  masterOptions: Omit<TestMasterOptions, 'workers'>,
  body: (a: Attached) => Promise<T>,
  opts: RepeatOptions<T> = {},
): Promise<Map<Protocol, PerContender<T>>> {
  const repeat = Math.max(1, opts.repeat ?? 1);
  const out = new Map<Protocol, PerContender<T>>();
  for (const protocol of ctx.protocols) {
    const names: Record<ContenderId, string> = { ts: `ts-${protocol}`, python: `py-${protocol}` };
    const master = await startTestMaster({
      pbPort: protocol === 'pb' ? 0 : null,
      msgpackPort: protocol === 'msgpack' ? 0 : null,
      ...masterOptions,
      workers: { [names.ts]: PASSWORD, [names.python]: PASSWORD },
    });
    const port = protocol === 'pb' ? master.pbPort : master.msgpackPort;
    // Every job is read after its end; the 50 jobs of one concurrency run hold 400 MB of logs,
    // past the test master's default (256 MiB), and the oldest would be evicted before they are read.
    const web = await startMasterHttp({ master, workers: Object.values(names), port: 0, transferDir: ctx.root, maxFinishedLogBytes: 1024 ** 3 });
    const client = MasterClient.of(web);
    const results: PerContender<T> = {};
    const attached: Attached[] = [];
    try {
      for (const contender of ctx.contenders) {
        const why = contender === 'python' ? pythonUnavailable(protocol) : undefined;
        if (why) {
          (results.missing ??= {})[contender] = why;
          continue;
        }
        const created = await createWorker(contender, { port, protocol, name: names[contender], password: PASSWORD }, ctx.root);
        attached.push(await attach(master, client, created, names[contender], protocol));
      }
      for (let round = 0; round < repeat; round++) {
        for (let i = 0; i < attached.length; i++) {
          const a = attached[i];
          ctx.progress(`  ${protocol}: ${a.contender}${repeat > 1 ? ` (run ${round + 1}/${repeat})` : ''}`);
          const r = await body(a);
          // The body may have restarted the worker (startup): keep its latest attachment.
          attached[i] = latest(master, a);
          const prev = results[a.contender];
          if (prev === undefined || (opts.score && opts.score(r) > opts.score(prev as T))) results[a.contender] = r;
        }
      }
    } finally {
      for (const a of attached) await detach(latest(master, a));
      await web.close();
      await master.close();
    }
    out.set(protocol, results);
  }
  return out;
}

/** Restarts made by a body are recorded on the Attached through `reattach`. */
const restarted = new WeakMap<Attached, Attached>();

function latest(_master: TestMaster, a: Attached): Attached {
  let cur = a;
  for (let next = restarted.get(cur); next; next = restarted.get(cur)) cur = next;
  return cur;
}

/** Stop `a`'s worker and start it again (same directory); the new attachment replaces `a`. */
export async function reattach(a: Attached): Promise<Attached> {
  await detach(a);
  const b = await attach(a.master, a.client, a.created, a.name, a.protocol);
  restarted.set(a, b);
  return b;
}
