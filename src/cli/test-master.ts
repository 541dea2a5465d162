import { startTestMaster, type TestMaster } from '../master/test-master.js';
import type { MasterEvent } from '../master/events.js';
import { ConfigError } from '../errors.js';

/**
 * `worker test-master`: the embedded master run standalone, so a worker can be tried
 * without a Buildbot installation. It accepts the configured workers on both protocols
 * and logs what they do; `--run` starts one shell command on each worker that attaches.
 */

export interface TestMasterCommandOptions {
  host: string;
  pbPort: number;
  msgpackPort: number;
  /** `name:password` pairs. */
  worker: string[];
  builder: string;
  /** Shell command to run once on every attached worker. */
  run?: string;
}

export function parseWorkerCredentials(pairs: string[]): Record<string, string> {
  const workers: Record<string, string> = {};
  for (const pair of pairs) {
    const idx = pair.indexOf(':');
    if (idx <= 0) throw new ConfigError(`--worker expects NAME:PASSWORD, got ${JSON.stringify(pair.slice(0, 40))}`);
    workers[pair.slice(0, idx)] = pair.slice(idx + 1);
  }
  if (Object.keys(workers).length === 0) throw new ConfigError('give at least one --worker NAME:PASSWORD');
  return workers;
}

function describe(e: MasterEvent): string | undefined {
  switch (e.type) {
    case 'attach':
      return `worker ${e.worker} attached over ${e.protocol}`;
    case 'detach':
      return `worker ${e.worker} detached (${e.reason})`;
    case 'authFailure':
      return `refused login${e.worker ? ` of ${e.worker}` : ''} over ${e.protocol}: ${e.reason}`;
    case 'complete':
      return `command ${e.commandId} on ${e.worker}: ${e.result.status} (rc ${e.result.rc})`;
    case 'violation':
      return `protocol violation${e.worker ? ` by ${e.worker}` : ''}: ${e.message}`;
    default:
      return undefined;
  }
}

/** Start the master and serve until SIGINT/SIGTERM. Resolves with the exit code. */
export async function runTestMaster(opts: TestMasterCommandOptions, print: (line: string) => void = (l) => console.log(l)): Promise<number> {
  const workers = parseWorkerCredentials(opts.worker);
  const master: TestMaster = await startTestMaster({
    workers,
    host: opts.host,
    pbPort: opts.pbPort,
    msgpackPort: opts.msgpackPort,
    builders: [{ name: opts.builder, builddir: opts.builder }],
    log: (line) => print(line),
  });
  print(`test master: PB on ${opts.host}:${master.pbPort}, msgpack on ws://${opts.host}:${master.msgpackPort}; workers: ${Object.keys(workers).join(', ')}`);
  master.on('event', (e: MasterEvent) => {
    const line = describe(e);
    if (line) print(line);
    if (e.type === 'attach' && opts.run) {
      const run = e.handle.startCommand(opts.builder, 'shell', { command: opts.run, workdir: 'build' });
      void run.done.then((r) => {
        for (const l of r.logs.stdio.split('\n')) if (l) print(`  ${e.worker} | ${l}`);
      });
    }
  });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  print('test master: shutting down');
  await master.close();
  return 0;
}
