import type { Logger } from 'pino';
import { RemoteRef, toPlain, type JellyValue } from '../../protocol/jelly.js';
import type { CommandArgs } from '../../commands/context.js';
import type { WorkerHandlers } from '../../worker/handlers.js';
import { PyTuple } from '../../values.js';
import { type Broker, PbFailure, Referenceable, collectRemoteRefs } from '../../engine/pb/broker.js';
import { PbCommandChannel } from './command-channel.js';
import { posixJoin } from '../../util/python-path.js';
import { resolvePbArgs, workerHome } from './paths.js';

/**
 * The worker's PB objects (`docs/protocol/pb.md` §6.1–§6.3, §6.8, §6.10): the Bot
 * (the "mind" handed over at login) and one WorkerForBuilder per builder. They translate
 * the master's calls into the protocol-neutral WorkerHandlers.
 */

const utf8 = new TextDecoder('utf-8');

/** Text as the master sends it; old masters may send bytes. */
function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return utf8.decode(value);
  return undefined;
}

function badArgs(message: string): PbFailure {
  return new PbFailure('builtins.TypeError', message);
}

function items(value: unknown): readonly unknown[] | undefined {
  if (value instanceof PyTuple) return value.items;
  if (Array.isArray(value)) return value;
  return undefined;
}

/** A dictionary with text keys (3.x masters), or bytes keys (older masters); undefined otherwise. */
function textDict(value: unknown): Record<string, JellyValue> | undefined {
  if (value instanceof Map) {
    const out: Record<string, JellyValue> = Object.create(null);
    for (const [k, v] of value) {
      const key = text(k);
      if (key === undefined) return undefined;
      out[key] = v as JellyValue;
    }
    return out;
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array)) {
    const proto = Object.getPrototypeOf(value);
    if (proto === null || proto === Object.prototype) return value as Record<string, JellyValue>;
  }
  return undefined;
}

/** The message of `print`: keyword `message` (3.x masters) or the first positional argument. */
function printMessage(args: JellyValue[], kwargs: Record<string, JellyValue>): string {
  const m = 'message' in kwargs ? kwargs.message : args[0];
  return text(m) ?? String(m);
}

export interface BotOptions {
  broker: Broker;
  handlers: WorkerHandlers;
  log: Logger;
  /** Home directory for `~` in transfer paths (default: the worker's own). */
  home?: string;
}

export class WorkerForBuilder extends Referenceable {
  /** Absolute builder directory, from the last `setBuilderList`. */
  builderDir: string;
  private current: { id: string; channel: PbCommandChannel } | undefined;

  constructor(
    readonly builderName: string,
    builderDir: string,
    private readonly opts: BotOptions,
  ) {
    super(`WorkerForBuilder(${builderName})`);
    this.expose({
      startBuild: () => null,
      startCommand: (args) => this.startCommand(args),
      interruptCommand: (args) => this.interruptCommand(args),
      // Only masters older than 3.x call these.
      setMaster: (args, kwargs) => {
        opts.broker.releaseAll(args);
        opts.broker.releaseAll(kwargs);
        return null;
      },
      print: (args, kwargs) => {
        opts.handlers.print(printMessage(args, kwargs));
        return null;
      },
      shutdown: () => {
        // Answer first, then shut down (the fallback of Bot.shutdown).
        queueMicrotask(() => opts.handlers.shutdown());
        return null;
      },
    });
    this.builderDir = builderDir;
  }

  /** The id of the command running on this builder, if any. */
  get runningCommand(): string | undefined {
    return this.current && !this.current.channel.isComplete ? this.current.id : undefined;
  }

  private startCommand(args: JellyValue[]): null {
    const { broker, handlers, log } = this.opts;
    const [commandRef, stepId, name, rawArgs] = args;
    const commandId = typeof stepId === 'number' ? String(stepId) : text(stepId);
    const commandName = text(name);
    const dict = textDict(rawArgs);
    if (!(commandRef instanceof RemoteRef) || commandId === undefined || commandName === undefined || !dict || args.length !== 4) {
      broker.releaseAll(args);
      throw badArgs('startCommand expects (commandRef, stepId, commandName, args)');
    }
    const writer = dict.writer instanceof RemoteRef ? dict.writer : undefined;
    const reader = dict.reader instanceof RemoteRef ? dict.reader : undefined;
    // Any other reference in the arguments is not used: give it back now.
    for (const ref of collectRemoteRefs(dict)) if (ref !== writer && ref !== reader) broker.release(ref);
    const channel = new PbCommandChannel(broker.reference(commandRef), writer && broker.reference(writer), reader && broker.reference(reader));

    let resolved: CommandArgs;
    try {
      resolved = resolvePbArgs(commandName, toPlain(dict) as CommandArgs, this.builderDir, this.opts.home ?? workerHome());
    } catch (err) {
      channel.release();
      throw err;
    }

    const leftover = this.runningCommand;
    if (leftover !== undefined) {
      // The Python worker runs one command per builder and drops a leftover one.
      log.warn({ builder: this.builderName, commandId: leftover }, 'leftover command, dropping it');
      handlers.interruptCommand(leftover, 'leftover command').catch((err) => log.warn({ err }, 'interrupting the leftover command failed'));
    }
    try {
      handlers.startCommand({ commandId, commandName, args: resolved, builderName: this.builderName, channel });
    } catch (err) {
      channel.release();
      throw err;
    }
    this.current = { id: commandId, channel };
    return null;
  }

  private interruptCommand(args: JellyValue[]): null {
    const { handlers, log } = this.opts;
    const commandId = typeof args[0] === 'number' ? String(args[0]) : text(args[0]);
    const why = text(args[1]) ?? '';
    if (commandId === undefined) throw badArgs('interruptCommand expects (stepId, why)');
    // Answered at once, as the Python worker does; the command reports through update/complete.
    handlers.interruptCommand(commandId, why).catch((err) => log.warn({ err, commandId }, 'interrupt failed'));
    return null;
  }

  /** The master no longer lists this builder: stop what it runs. */
  disown(): void {
    const running = this.runningCommand;
    if (running === undefined) return;
    this.opts.handlers.interruptCommand(running, 'builder removed').catch((err) => this.opts.log.warn({ err }, 'interrupt failed'));
  }
}

/**
 * The PB mind: the object the master knows as the worker's `Bot` (`docs/protocol/pb.md`
 * §6), translating its remote calls to WorkerHandlers. Not to be confused with the
 * worker itself (WorkerBot, src/worker/bot.ts), which implements those handlers.
 */
export class PbBot extends Referenceable {
  private readonly builders = new Map<string, WorkerForBuilder>();

  constructor(private readonly opts: BotOptions) {
    super('Bot');
    const { handlers } = opts;
    this.expose({
      print: (args, kwargs) => {
        handlers.print(printMessage(args, kwargs));
        return null;
      },
      getWorkerInfo: () => handlers.getWorkerInfo(),
      getCommands: () => handlers.getCommands(),
      getVersion: () => handlers.getVersion(),
      setBuilderList: (args) => this.setBuilderList(args),
      shutdown: () => {
        // The answer goes out first (synchronously), then the worker shuts down.
        queueMicrotask(() => handlers.shutdown());
        return null;
      },
    });
  }

  /** Current builders by name. */
  get builderMap(): ReadonlyMap<string, WorkerForBuilder> {
    return this.builders;
  }

  private async setBuilderList(args: JellyValue[]): Promise<Record<string, WorkerForBuilder>> {
    const list = items(args[0]);
    if (!list) throw badArgs('setBuilderList expects a list of (name, builddir)');
    const wanted: Array<[string, string]> = [];
    for (const entry of list) {
      const pair = items(entry);
      const name = text(pair?.[0]);
      const builddir = text(pair?.[1]);
      if (!pair || pair.length !== 2 || name === undefined || builddir === undefined) {
        throw badArgs('setBuilderList expects a list of (name, builddir) text pairs');
      }
      wanted.push([name, builddir]);
    }
    const dirs = await this.opts.handlers.setBuilderList(wanted);

    const answer: Record<string, WorkerForBuilder> = Object.create(null);
    const keep = new Set<string>();
    for (const [name, builddir] of wanted) {
      const dir = dirs.get(name) ?? posixJoin(this.opts.handlers.basedir, builddir);
      let wfb = this.builders.get(name);
      if (wfb) {
        if (wfb.builderDir !== dir) this.opts.log.info({ builder: name, from: wfb.builderDir, to: dir }, 'builder directory changed');
        wfb.builderDir = dir;
      } else {
        wfb = new WorkerForBuilder(name, dir, this.opts);
        this.builders.set(name, wfb);
      }
      keep.add(name);
      answer[name] = wfb;
    }
    for (const [name, wfb] of [...this.builders]) {
      if (keep.has(name)) continue;
      this.opts.log.info({ builder: name }, 'builder removed by the master');
      wfb.disown();
      this.builders.delete(name);
    }
    return answer;
  }
}
