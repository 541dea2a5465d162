import pino from 'pino';
import type { UpdateEntry } from '../../src/commands/update.js';
import type { CommandChannel, CommandFailure, StartCommandRequest } from '../../src/worker/handlers.js';
import type { CommandArgs } from '../../src/commands/context.js';

/** A CommandChannel that records every update and the completion. */
export class FakeChannel implements CommandChannel {
  readonly batches: UpdateEntry[][] = [];
  completed: { failure: CommandFailure | null } | undefined;
  readonly events: string[] = [];
  private resolveDone!: () => void;
  readonly done = new Promise<void>((r) => (this.resolveDone = r));

  async sendUpdates(entries: UpdateEntry[]): Promise<void> {
    this.batches.push(entries);
    this.events.push('update');
  }

  async complete(failure: CommandFailure | null): Promise<void> {
    this.events.push('complete');
    this.completed = { failure };
    this.resolveDone();
  }

  get entries(): UpdateEntry[] {
    return this.batches.flat();
  }

  /** All text of one output stream (or logfile name), concatenated. */
  text(stream: string): string {
    return this.entries.map((e) => (e.kind === 'output' && e.stream === stream ? e.chunk.text : e.kind === 'logfile' && e.name === stream ? e.chunk.text : '')).join('');
  }

  statuses(key: string): unknown[] {
    return this.entries.flatMap((e) => (e.kind === 'status' && e.key === key ? [e.value] : []));
  }
}

export function request(commandName: string, args: CommandArgs, commandId = '1', channel = new FakeChannel()): StartCommandRequest & { channel: FakeChannel } {
  return { commandId, commandName, args, channel };
}

export const silentLog = pino({ level: 'silent' });
