import type { OutputSettings, UpdateEntry } from '../../src/commands/update.js';
import { CommandError, ERR } from '../../src/errors.js';
import type { StartCommandRequest, WorkerHandlers, WorkerInfo } from '../../src/worker/handlers.js';
import { posixJoin } from '../../src/util/python-path.js';
import { float, type PyValue } from '../../src/values.js';

/** Every call the session made, in order. */
export type HandlerEvent = ['print', string] | ['setBuilderList', Array<[string, string]>] | ['startCommand', StartCommandRequest] | ['interrupt', string, string] | ['shutdown'] | ['connectionLost'];

export interface FakeHandlersOptions {
  basedir?: string;
  /** What getWorkerInfo answers; default a full posix worker. */
  info?: WorkerInfo;
  /** Called for every started command instead of running a script (the caller drives it). */
  onStart?: (req: StartCommandRequest) => void;
}

/** A script standing in for a command: it drives the channel like a real command would. */
export type FakeCommand = (req: StartCommandRequest, handlers: FakeHandlers) => Promise<void>;

export const now = (): number => 1_700_000_000.25;

/** `[text, newlines, times]` for whole lines, with code-point newline indexes. */
export function lines(text: string): { text: string; newlines: number[]; times: number[] } {
  const newlines: number[] = [];
  let i = 0;
  for (const ch of text) {
    if (ch === '\n') newlines.push(i);
    i++;
  }
  return { text, newlines, times: newlines.map(() => now()) };
}

export const out = (stream: 'stdout' | 'stderr' | 'header', text: string): UpdateEntry => ({ kind: 'output', stream, chunk: lines(text) });
export const status = (key: string, value: PyValue): UpdateEntry => ({ kind: 'status', key, value });

/** What the setup commands of the master's attach sequence need (msgpack.md §4). */
async function setupCommand(req: StartCommandRequest): Promise<void> {
  const updates: UpdateEntry[] = [];
  if (req.commandName === 'listdir') updates.push(status('files', []));
  if (req.commandName === 'stat') updates.push(status('stat', [0o100644, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
  updates.push(status('rc', 0), status('elapsed', float(0.001)));
  await req.channel.sendUpdates(updates);
  await req.channel.complete(null);
}

/**
 * The WorkerHandlers of the session tests (both protocols): records every call in
 * `events`; commands are scripts keyed by command name (setup commands answer like the
 * stock worker unless overridden), or go to `onStart` when one is given.
 */
export class FakeHandlers implements WorkerHandlers {
  readonly events: HandlerEvent[] = [];
  readonly basedir: string;
  readonly prints: string[] = [];
  readonly started: StartCommandRequest[] = [];
  readonly interrupts: Array<[string, string]> = [];
  readonly errors: unknown[] = [];
  settings: OutputSettings | undefined;
  connectionLostCalls = 0;
  shutdownCalls = 0;
  readonly commands = new Map<string, FakeCommand>();
  /** Resolvers of commands waiting for an interrupt, by command id. */
  readonly interruptWaiters = new Map<string, (why: string) => void>();
  private readonly done: Array<Promise<void>> = [];

  constructor(private readonly opts: FakeHandlersOptions | string = {}) {
    this.basedir = typeof opts === 'string' ? opts : (opts.basedir ?? '/srv/worker');
    for (const name of ['listdir', 'mkdir', 'stat', 'rmdir']) this.commands.set(name, setupCommand);
  }

  private get options(): FakeHandlersOptions {
    return typeof this.opts === 'string' ? {} : this.opts;
  }

  print(message: string): void {
    this.prints.push(message);
    this.events.push(['print', message]);
  }

  async getWorkerInfo(): Promise<WorkerInfo> {
    if (this.options.info) return this.options.info;
    return {
      admin: 'Test <test@example.org>',
      host: 'test host',
      environ: { HOME: '/home/tester', PATH: '/usr/bin:/bin' },
      system: 'posix',
      basedir: this.basedir,
      numcpus: 2,
      version: '3.7.0',
      worker_commands: { shell: '3.1' },
      delete_leftover_dirs: false,
    };
  }

  getCommands(): Record<string, string> {
    return { shell: '3.1' };
  }

  getVersion(): string {
    return '3.7.0';
  }

  async setBuilderList(builders: Array<[string, string]>): Promise<Map<string, string>> {
    this.events.push(['setBuilderList', builders]);
    return new Map(builders.map(([name, dir]) => [name, posixJoin(this.basedir, dir)]));
  }

  setWorkerSettings(settings: OutputSettings): void {
    this.settings = settings;
  }

  startCommand(req: StartCommandRequest): void {
    if (this.options.onStart) {
      this.events.push(['startCommand', req]);
      this.started.push(req);
      this.options.onStart(req);
      return;
    }
    const script = this.commands.get(req.commandName);
    if (!script) throw new CommandError(`(command ${req.commandId}): unrecognized WorkerCommand '${req.commandName}'`, ERR.UNKNOWN_COMMAND);
    this.events.push(['startCommand', req]);
    this.started.push(req);
    this.done.push(
      (async () => {
        await Promise.resolve();
        try {
          await script(req, this);
        } catch (err) {
          this.errors.push(err);
        }
      })(),
    );
  }

  async interruptCommand(commandId: string, why: string): Promise<void> {
    this.interrupts.push([commandId, why]);
    this.events.push(['interrupt', commandId, why]);
    const waiter = this.interruptWaiters.get(commandId);
    this.interruptWaiters.delete(commandId);
    waiter?.(why);
  }

  /** Resolves when the master interrupts `commandId`. */
  interrupted(commandId: string): Promise<string> {
    return new Promise((resolve) => this.interruptWaiters.set(commandId, resolve));
  }

  shutdown(): void {
    this.shutdownCalls++;
    this.events.push(['shutdown']);
  }

  connectionLost(): void {
    this.connectionLostCalls++;
    this.events.push(['connectionLost']);
  }

  /** Wait for every started script to end. */
  async idle(): Promise<void> {
    await Promise.all(this.done);
  }
}

/**
 * Handlers for the PB tests: the master drives commands itself, so every start goes to
 * `onStart` (or is only recorded), and getWorkerInfo answers a minimal posix worker.
 */
export function fakeHandlers(opts: FakeHandlersOptions = {}): { handlers: FakeHandlers; events: HandlerEvent[] } {
  const basedir = opts.basedir ?? '/tmp/bbproto/pb/worker';
  const handlers = new FakeHandlers({ basedir, info: opts.info ?? { basedir, system: 'posix' }, onStart: opts.onStart ?? (() => undefined) });
  return { handlers, events: handlers.events };
}
