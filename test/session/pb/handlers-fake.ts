import type { StartCommandRequest, WorkerHandlers, WorkerInfo } from '../../../src/worker/handlers.js';
import { posixJoin } from '../../../src/util/python-path.js';

export type HandlerEvent =
  | ['print', string]
  | ['setBuilderList', Array<[string, string]>]
  | ['startCommand', StartCommandRequest]
  | ['interrupt', string, string]
  | ['shutdown']
  | ['connectionLost'];

/** WorkerHandlers that record what the session asks of the worker. */
export function fakeHandlers(opts: { basedir?: string; info?: WorkerInfo; onStart?: (req: StartCommandRequest) => void } = {}) {
  const events: HandlerEvent[] = [];
  const basedir = opts.basedir ?? '/tmp/bbproto/pb/worker';
  const handlers: WorkerHandlers = {
    basedir,
    print: (m) => void events.push(['print', m]),
    getWorkerInfo: async () => opts.info ?? { basedir, system: 'posix' },
    getCommands: () => ({ shell: '3.1' }),
    getVersion: () => '3.7.0',
    setBuilderList: async (builders) => {
      events.push(['setBuilderList', builders]);
      return new Map(builders.map(([name, dir]) => [name, posixJoin(basedir, dir)]));
    },
    setWorkerSettings: () => {},
    startCommand: (req) => {
      events.push(['startCommand', req]);
      opts.onStart?.(req);
    },
    interruptCommand: async (id, why) => void events.push(['interrupt', id, why]),
    shutdown: () => void events.push(['shutdown']),
    connectionLost: () => void events.push(['connectionLost']),
  };
  return { handlers, events };
}
