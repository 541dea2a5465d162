import pino from 'pino';
import { DEFAULT_OUTPUT_SETTINGS, type OutputSettings } from '../../src/commands/update.js';
import type { StartCommandRequest } from '../../src/worker/handlers.js';
import type { RunnerLike } from '../../src/worker/bot.js';

/** A logger that keeps every record, for assertions. */
export function memoryLogger(): { log: pino.Logger; lines: Array<Record<string, unknown>>; messages: () => string[] } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines, messages: () => lines.map((l) => String(l.msg)) };
}

/** A runner that records calls; `running` and idleness are set by the test. */
export class FakeRunner implements RunnerLike {
  settings: OutputSettings = { ...DEFAULT_OUTPUT_SETTINGS };
  started: StartCommandRequest[] = [];
  interrupts: Array<[string, string]> = [];
  interruptAlls: string[] = [];
  runningCount = 0;
  private idleWaiters: Array<() => void> = [];

  start(req: StartCommandRequest): void {
    this.started.push(req);
  }
  async interrupt(commandId: string, why: string): Promise<void> {
    this.interrupts.push([commandId, why]);
  }
  interruptAll(why: string): void {
    this.interruptAlls.push(why);
  }
  get running(): number {
    return this.runningCount;
  }
  whenIdle(): Promise<void> {
    if (this.runningCount === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }
  /** Make the runner idle and wake whoever waits. */
  finishAll(): void {
    this.runningCount = 0;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
