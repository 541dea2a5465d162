import type { Logger } from 'pino';
import { CommandError, ERR } from '../../errors.js';
import type { MsgpackMessage } from '../../protocol/msgpack.js';
import type { WorkerHandlers } from '../../worker/handlers.js';
import { resolveMsgpackArgs } from './args.js';
import { MsgpackCommandChannel, type ReadBugNotice } from './channel.js';
import { requireKeys, type MsgpackPeer, type OpHandler } from '../../engine/msgpack/peer.js';
import { parseWorkerSettings, toWire } from './wire.js';

/**
 * The master → worker ops of `docs/protocol/msgpack.md` §3, served through the
 * protocol-neutral WorkerHandlers. Each handler's return value is the response's
 * `result`; a throw or rejection becomes an `is_exception` response with the error text.
 */

export interface OpContext {
  handlers: WorkerHandlers;
  log: Logger;
  peer: () => MsgpackPeer;
  /** Called after the response to `shutdown` went out (§3: respond, then stop). */
  afterShutdownResponse: (fn: () => void) => void;
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);

function text(msg: MsgpackMessage, key: string): string {
  const v = msg[key];
  if (typeof v !== 'string') throw new CommandError(`${String(msg.op)}: "${key}" must be a string, got ${v === null ? 'null' : typeof v}`, ERR.BAD_ARGS);
  return v;
}

/** The op table plus the commands whose channel is still open (by command id). */
export class WorkerOps {
  readonly table: Readonly<Record<string, OpHandler>>;
  private readonly channels = new Map<string, MsgpackCommandChannel>();
  private readonly readBug: ReadBugNotice = { logged: false };

  constructor(private readonly ctx: OpContext) {
    this.table = {
      print: (m) => this.print(m),
      keepalive: () => this.keepalive(),
      get_worker_info: () => this.getWorkerInfo(),
      set_worker_settings: (m) => this.setWorkerSettings(m),
      start_command: (m) => this.startCommand(m),
      interrupt_command: (m) => this.interruptCommand(m),
      shutdown: () => this.shutdown(),
    };
  }

  /** Commands started and not completed yet. */
  get activeCommands(): number {
    return this.channels.size;
  }

  private print(msg: MsgpackMessage): null {
    requireKeys(msg, ['message']);
    const message = typeof msg.message === 'string' ? msg.message : JSON.stringify(msg.message);
    this.ctx.handlers.print(message);
    return null;
  }

  /** §11: the master's only liveness check; nothing to do but answer. */
  private keepalive(): null {
    this.ctx.log.debug('keepalive from the master');
    return null;
  }

  /** §3.1: the master needs basedir, system, environ and delete_leftover_dirs from this. */
  private async getWorkerInfo(): Promise<unknown> {
    return toWire(await this.ctx.handlers.getWorkerInfo());
  }

  private setWorkerSettings(msg: MsgpackMessage): null {
    requireKeys(msg, ['args']);
    this.ctx.handlers.setWorkerSettings(parseWorkerSettings(msg.args));
    return null;
  }

  /**
   * §3/§5: start the command and answer at once; an unknown command or bad arguments
   * (CommandError from the handlers, synchronously) become the error response.
   */
  private startCommand(msg: MsgpackMessage): null {
    requireKeys(msg, ['command_id', 'command_name', 'args']);
    const commandId = text(msg, 'command_id');
    const commandName = text(msg, 'command_name');
    if (!isMap(msg.args)) throw new CommandError(`start_command: "args" must be a map`, ERR.BAD_ARGS);
    if (this.channels.has(commandId)) throw new CommandError(`command ${commandId} is already running`, ERR.DUPLICATE_COMMAND);
    const builderName = typeof msg.builder_name === 'string' ? msg.builder_name : undefined;
    const args = resolveMsgpackArgs(commandName, msg.args, this.ctx.handlers.basedir);
    const channel = new MsgpackCommandChannel(this.ctx.peer(), commandId, commandName, this.ctx.log, this.readBug, (id) => this.channels.delete(id));
    this.channels.set(commandId, channel);
    try {
      this.ctx.handlers.startCommand({ commandId, commandName, args, builderName, channel });
    } catch (err) {
      this.channels.delete(commandId);
      throw err;
    }
    return null;
  }

  /** §10: the handlers flush the command's output first, then interrupt it; unknown ids are only logged there. */
  private async interruptCommand(msg: MsgpackMessage): Promise<null> {
    requireKeys(msg, ['command_id', 'why']);
    const why = typeof msg.why === 'string' ? msg.why : String(msg.why);
    await this.ctx.handlers.interruptCommand(text(msg, 'command_id'), why);
    return null;
  }

  /** §3, §11: answer first, then let the worker stop. */
  private shutdown(): null {
    this.ctx.log.info('the master asked the worker to shut down');
    this.ctx.afterShutdownResponse(() => this.ctx.handlers.shutdown());
    return null;
  }
}
