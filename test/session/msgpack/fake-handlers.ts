import type { OutputSettings, UpdateEntry } from '../../../src/commands/update.js';
import { CommandError } from '../../../src/errors.js';
import type { StartCommandRequest, WorkerHandlers, WorkerInfo } from '../../../src/worker/handlers.js';
import { float, type PyValue } from '../../../src/values.js';

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
 * WorkerHandlers for tests: records every call; commands are scripts keyed by command
 * name (setup commands answer like the stock worker unless overridden).
 */
export class FakeHandlers implements WorkerHandlers {
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

  constructor(readonly basedir = '/srv/worker') {
    for (const name of ['listdir', 'mkdir', 'stat', 'rmdir']) this.commands.set(name, setupCommand);
  }

  print(message: string): void {
    this.prints.push(message);
  }

  async getWorkerInfo(): Promise<WorkerInfo> {
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

  setBuilderList(): Promise<Map<string, string>> {
    throw new Error('setBuilderList is PB only');
  }

  setWorkerSettings(settings: OutputSettings): void {
    this.settings = settings;
  }

  startCommand(req: StartCommandRequest): void {
    const script = this.commands.get(req.commandName);
    if (!script) throw new CommandError(`(command ${req.commandId}): unrecognized WorkerCommand '${req.commandName}'`, 'ERR_UNKNOWN_COMMAND');
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
  }

  connectionLost(): void {
    this.connectionLostCalls++;
  }

  /** Wait for every started script to end. */
  async idle(): Promise<void> {
    await Promise.all(this.done);
  }
}
