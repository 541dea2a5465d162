import pino from 'pino';
import type { WebSocket, RawData } from 'ws';
import { ConnectionError } from '../../errors.js';
import { keyErrorText, missingKeyText } from '../../engine/msgpack/messages.js';
import { MsgpackPeer, type OpHandler } from '../../engine/msgpack/peer.js';
import { PeerMistakeError } from '../../engine/peer-mistake.js';
import { describeMsgpackValue, toWire, type MsgpackMessage } from '../../protocol/msgpack.js';
import type { PyValue } from '../../values.js';
import { CommandRun } from '../command-run.js';
import { toMsgpackCommand } from './args.js';
import { pathRulesFor } from '../../util/python-path.js';
import { WorkerConnection, type MasterContext } from '../worker-connection.js';

/**
 * The master side of one `msgpack_experimental_v7` WebSocket connection, behaving like
 * the 3.7 master (`docs/protocol/msgpack.md`) over the shared msgpack engine in its
 * strict master role (sequence numbers and responses, §2.1): the connection setup sequence (§4), argument rewriting (§5), the
 * worker → master ops with their required-key checks and error texts (§6), output
 * updates (§7), transfers (§8) including the master's bugs (§9), keepalive and
 * shutdown (§11).
 */

/** `set_worker_settings` exactly as the 3.7 master sends it (§4, capture #8). */
export const MASTER_WORKER_SETTINGS = {
  newline_re: '(\\r\\n|\\r(?=.)|\\033\\[u|\\033\\[[0-9]+;[0-9]+[Hf]|\\033\\[2J|\\x08+)',
  max_line_length: 4096,
  buffer_timeout: 5,
  buffer_size: 64 * 1024,
} as const;

/** The 3.7 master's answer to `update_upload_file_utime` (§9.2, capture #87). */
export const UTIME_BUG_TEXT = 'FileWriter.remote_utime() takes 2 positional arguments but 3 were given';

const UNKNOWN_COMMAND_ID = keyErrorText('unknown "command_id"');

/** `stat.S_ISDIR` on the mode of a `stat` update. */
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;

/** A failure of the worker's side of the attach sequence (the master closes the connection). */
class AttachError extends Error {}

export class MsgpackWorkerConnection extends WorkerConnection {
  readonly protocol = 'msgpack' as const;
  private readonly peer: MsgpackPeer;
  /** command_id → command, writer and reader maps of the master's protocol object. */
  private readonly commandMap = new Map<string, CommandRun>();
  private readonly writerMap = new Map<string, CommandRun>();
  private readonly readerMap = new Map<string, CommandRun>();
  private readonly builderDirs = new Map<string, string>();

  constructor(
    private readonly ws: WebSocket,
    name: string,
    ctx: MasterContext,
  ) {
    super(name, ctx, ctx.builders);
    const handlers: Record<string, OpHandler> = {
      update: (m) => this.onUpdate(m),
      complete: (m) => this.onComplete(m),
      update_upload_file_write: (m) => this.onWrite(m),
      update_upload_file_close: (m) => this.withWriter(m, ['command_id'], (run) => run.uploadClose()),
      update_upload_file_utime: (m) => this.onUtime(m),
      update_upload_directory_write: (m) => this.onWrite(m),
      update_upload_directory_unpack: (m) => this.withWriter(m, ['command_id'], (run) => run.uploadUnpack()),
      update_read_file: (m) => this.onRead(m),
      update_read_file_close: (m) => this.withReader(m, ['command_id'], (run) => run.downloadClose()),
    };
    this.peer = new MsgpackPeer({
      role: 'master',
      strictness: 'drop',
      handlers,
      // The engine's own errors reach the master's log as they are; peer mistakes come as violations.
      log: pino({ level: 'error', base: undefined, timestamp: false }, { write: (line: string) => ctx.log(`msgpack: ${line.trimEnd()}`) }),
      send: (payload) => {
        if (!this.isGone) this.ws.send(payload, { binary: true });
      },
      onPeerMistake: (m) => this.violation(m.fatal ? `${m.message} (connection dropped)` : m.message),
    });
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('close', () => this.onClosed());
    ws.on('error', (err) => {
      this.violation(`WebSocket error: ${err.message}`);
      this.abort();
    });
  }

  /**
   * Start the connection setup (§4). The first `print` is sent synchronously so that it
   * leaves in the same TCP write as the `101` when the caller corks the socket.
   */
  begin(): void {
    const attached = this.request({ op: 'print', message: 'attached' });
    this.setup(attached).catch((err: unknown) => {
      if (this.isGone) return;
      const text = err instanceof Error ? err.message : String(err);
      this.violation(`attach failed: ${text}`);
      // The real master's initialize() logs "Connection opening failed" and sends a Close frame.
      this.ws.close();
    });
  }

  /** The master's connection factory refused the worker: a Close frame right after the 101 (§11). */
  refuse(reason: string): void {
    this.ctx.log(`msgpack worker ${this.name}: ${reason}`);
    this.ws.close();
  }

  liveReferences(): number {
    return 0;
  }

  // ---- master → worker -------------------------------------------------------------

  protected sendPrint(message: string): Promise<void> {
    return this.request({ op: 'print', message }).then(() => undefined);
  }

  protected sendKeepalive(): Promise<void> {
    return this.request({ op: 'keepalive' }).then(() => undefined);
  }

  protected sendStartBuild(): Promise<void> {
    // The 3.7 master's remoteStartBuild sends nothing over msgpack.
    return Promise.resolve();
  }

  protected async sendStartCommand(run: CommandRun, args: Record<string, unknown>): Promise<void> {
    const builderDir = this.builderDirs.get(run.builderName);
    if (builderDir === undefined) throw new Error(`no builder directory for ${run.builderName}`);
    const env = this.info.environ;
    const cmd = toMsgpackCommand(run.commandName, args, {
      system: this.info.system,
      environ: env !== null && typeof env === 'object' ? (env as Record<string, unknown>) : {},
      builderDir,
    });
    run.wireName = cmd.commandName;
    run.wireArgs = cmd.args;
    this.registerCommand(run);
    try {
      await this.request({
        op: 'start_command',
        builder_name: run.builderName,
        command_id: run.commandId,
        command_name: cmd.commandName,
        args: cmd.args,
      });
    } catch (err) {
      this.forgetCommand(run.commandId);
      throw err;
    }
  }

  protected async sendInterrupt(run: CommandRun, why: string): Promise<void> {
    await this.request({ op: 'interrupt_command', builder_name: run.builderName, command_id: run.commandId, why });
  }

  protected async sendShutdown(): Promise<void> {
    await this.request({ op: 'shutdown' });
  }

  protected abort(): void {
    this.ws.terminate();
  }

  /** Send a request with the next sequence number; resolves with `result`, rejects with RemoteCallError on `is_exception`. */
  private request(msg: MsgpackMessage): Promise<unknown> {
    return this.peer.request(toWire(msg as PyValue) as MsgpackMessage);
  }

  // ---- connection setup (§4) -----------------------------------------------------------

  private async setup(firstPrint: Promise<unknown>): Promise<void> {
    await firstPrint;
    const info = await this.request({ op: 'get_worker_info' });
    if (info === null || typeof info !== 'object' || Array.isArray(info) || info instanceof Uint8Array) {
      throw new AttachError('get_worker_info did not answer a map');
    }
    this.info = info as Record<string, unknown>;
    await this.request({ op: 'set_worker_settings', args: { ...MASTER_WORKER_SETTINGS } });

    const basedir = this.info.basedir;
    if (typeof basedir !== 'string') throw new AttachError(`KeyError: 'basedir'`);
    const rules = pathRulesFor(this.info.system);
    const wanted = new Set(this.builders.map((b) => b.builddir));
    wanted.add('info');
    const toMkdir = new Set(wanted);

    const listing = await this.internalCommand('listdir', { path: basedir }, ['files'], 'Worker could not send a list of builder directories.');
    const files = listing.get('files');
    if (!Array.isArray(files)) throw new AttachError('listdir "files" is not a list');
    const toRmdir: string[] = [];
    for (const entry of files) {
      const dir = String(entry);
      toMkdir.delete(dir);
      if (wanted.has(dir)) continue;
      if (!('delete_leftover_dirs' in this.info)) throw new AttachError(`KeyError: 'delete_leftover_dirs'`);
      if (!this.info.delete_leftover_dirs) continue;
      const path = rules.join(basedir, dir);
      const st = await this.internalCommand('stat', { path }, ['stat'], 'Worker could not send status information about its files.');
      const mode = (st.get('stat') as unknown[] | undefined)?.[0];
      if (typeof mode === 'number' && (mode & S_IFMT) === S_IFDIR) toRmdir.push(path);
    }
    if (toRmdir.length > 0) await this.internalCommand('rmdir', { paths: toRmdir }, [], 'Worker could not remove directories.');
    const mkdirs = [...toMkdir].sort().map((d) => rules.join(basedir, d));
    if (mkdirs.length > 0) await this.internalCommand('mkdir', { paths: mkdirs }, [], 'Worker could not make directories.');

    for (const b of this.builders) this.builderDirs.set(b.name, rules.join(basedir, b.builddir));
    // One 'attached' per builder, sent back to back (capture #22–#24).
    await Promise.all(this.builders.map(() => this.request({ op: 'print', message: 'attached' })));
    this.markAttached();
  }

  /**
   * The master's internal setup commands (no builder_name): like its BasicRemoteCommand,
   * keep the first value of each update key and insist on rc = 0 and the expected keys.
   */
  private async internalCommand(name: string, args: Record<string, unknown>, expected: string[], errorMsg: string): Promise<Map<string, unknown>> {
    const run = new CommandRun(this.ctx.nextCommandId(), '', name, {}, { interrupt: async () => undefined }, () => undefined);
    run.wireArgs = args;
    this.commandMap.set(run.commandId, run);
    await this.request({ op: 'start_command', command_id: run.commandId, command_name: name, args });
    const result = await run.done;
    if (result.connectionLost) throw new ConnectionError('Connection lost');
    const first = new Map<string, unknown>();
    for (const [k, v] of result.updates) if (!first.has(k)) first.set(k, v);
    const prefix = `Worker ${this.name} reconfiguration or connection to master failed.`;
    if (!first.has('rc')) throw new AttachError(`${prefix} ${errorMsg}. 'rc' did not arrive.`);
    if (first.get('rc') !== 0) throw new AttachError(`${prefix} ${errorMsg}. Error number: ${String(first.get('rc'))}`);
    for (const key of expected) if (!first.has(key)) throw new AttachError(`${prefix} ${errorMsg} Key '${key}' is missing.`);
    return first;
  }

  // ---- worker → master (§2.1, §6) ------------------------------------------------------

  private onMessage(data: RawData, isBinary: boolean): void {
    if (!isBinary) {
      this.ctx.log(`Message type from worker ${this.name} unsupported`);
      return;
    }
    try {
      this.peer.receive(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer));
    } catch (err) {
      // msgpack.unpackb raising, or a KeyError for an unknown seq_number, inside the real
      // master's onMessage drops the connection; the engine has reported the mistake.
      if (!(err instanceof PeerMistakeError)) this.violation(`message handling failed: ${err instanceof Error ? err.message : String(err)}`);
      this.abort();
    }
  }

  private requireKeys(msg: MsgpackMessage, keys: string[]): void {
    for (const k of keys) if (!(k in msg)) throw new Error(missingKeyText(k));
  }

  private lookup(map: Map<string, CommandRun>, msg: MsgpackMessage): CommandRun {
    const run = typeof msg.command_id === 'string' ? map.get(msg.command_id) : undefined;
    if (!run) throw new Error(UNKNOWN_COMMAND_ID);
    return run;
  }

  private onUpdate(msg: MsgpackMessage): null {
    this.requireKeys(msg, ['command_id', 'args']);
    const run = this.lookup(this.commandMap, msg);
    const args = msg.args;
    // remote_update_msgpack: a malformed update fails the command (EXCEPTION) but is answered with null.
    if (!Array.isArray(args)) {
      this.failRun(run, `update args is not a list of [key, value] pairs`);
      return null;
    }
    for (const pair of args) {
      if (!run.active) break;
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string') {
        this.failRun(run, `malformed update entry ${describeMsgpackValue(pair)}`);
        break;
      }
      const [key, value] = pair as [string, unknown];
      const problem = this.recordUpdate(run, key, value);
      if (problem) {
        this.failRun(run, problem);
        break;
      }
    }
    return null;
  }

  /** Record one pair; returns a problem text when the master would choke on it. */
  private recordUpdate(run: CommandRun, key: string, value: unknown): string | undefined {
    if (key === 'stdout' || key === 'stderr' || key === 'header') {
      const text = Array.isArray(value) ? value[0] : undefined;
      if (typeof text !== 'string') return `${key} update is not [text, newline_indexes, line_times]: ${describeMsgpackValue(value)}`;
      if (text !== '' && !text.endsWith('\n')) return `${key} text does not end with a newline (the master asserts whole lines): ${describeMsgpackValue(text)}`;
      run.recordUpdate(key, value, { log: key, text });
    } else if (key === 'log') {
      const name = Array.isArray(value) ? value[0] : undefined;
      const inner = Array.isArray(value) ? value[1] : undefined;
      const text = Array.isArray(inner) ? inner[0] : undefined;
      if (!Array.isArray(value) || value.length !== 2 || typeof name !== 'string' || typeof text !== 'string') {
        return `log update is not [logname, [text, newline_indexes, line_times]]: ${describeMsgpackValue(value)}`;
      }
      if (text !== '' && !text.endsWith('\n')) return `log ${name} text does not end with a newline: ${describeMsgpackValue(text)}`;
      run.recordUpdate(key, value, { log: name, text });
    } else {
      run.recordUpdate(key, value);
    }
    // Setup commands (no builder) belong to the master itself, not to a step.
    if (run.builderName !== '') this.emitUpdate(run, key, value);
    return undefined;
  }

  private failRun(run: CommandRun, problem: string): void {
    this.violation(`command ${run.commandId}: ${problem}`);
    run.recordViolation(problem);
    run.recordComplete(`malformed update: ${problem}`);
  }

  private onComplete(msg: MsgpackMessage): null {
    this.requireKeys(msg, ['command_id', 'args']);
    const run = this.lookup(this.commandMap, msg);
    const failure = msg.args === null ? null : typeof msg.args === 'string' ? msg.args : describeMsgpackValue(msg.args);
    run.recordComplete(failure);
    for (const v of run.violations) if (v.startsWith('complete without')) this.violation(`command ${run.commandId}: ${v}`);
    this.forgetCommand(run.commandId);
    return null;
  }

  private onWrite(msg: MsgpackMessage): null {
    return this.withWriter(msg, ['command_id', 'args'], (run) => {
      let data = msg.args;
      if (typeof data === 'string') {
        // The master UTF-8-encodes a str, which corrupts binary data (§2.2): accept, but flag it.
        this.violation(`command ${run.commandId}: ${String(msg.op)} sent str instead of bin`);
        data = Buffer.from(data, 'utf8');
      }
      if (!(data instanceof Uint8Array)) throw new Error(`a bytes-like object is required, not '${pyTypeName(data)}'`);
      run.uploadWrite(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    });
  }

  private onUtime(msg: MsgpackMessage): null {
    return this.withWriter(msg, ['command_id', 'access_time', 'modified_time'], (run) => {
      if (run.options.faithfulUtimeBug ?? true) throw new Error(UTIME_BUG_TEXT);
      run.uploadUtime(Number(msg.access_time), Number(msg.modified_time));
    });
  }

  private onRead(msg: MsgpackMessage): Buffer | null {
    let block: Buffer | null = null;
    this.withReader(msg, ['command_id', 'length'], (run) => {
      const length = msg.length;
      if (typeof length !== 'number' || !Number.isInteger(length)) throw new Error(`length is not an integer: ${describeMsgpackValue(length)}`);
      const data = run.downloadRead(length);
      // §9.1: the 3.7 master reads the block and answers null anyway.
      block = (run.options.download?.faithfulReadBug ?? true) ? null : data;
    });
    return block;
  }

  private withWriter(msg: MsgpackMessage, keys: string[], fn: (run: CommandRun) => void): null {
    this.requireKeys(msg, keys);
    fn(this.lookup(this.writerMap, msg));
    return null;
  }

  private withReader(msg: MsgpackMessage, keys: string[], fn: (run: CommandRun) => void): null {
    this.requireKeys(msg, keys);
    fn(this.lookup(this.readerMap, msg));
    return null;
  }

  private registerCommand(run: CommandRun): void {
    this.commandMap.set(run.commandId, run);
    if (run.hasWriter) this.writerMap.set(run.commandId, run);
    if (run.hasReader) this.readerMap.set(run.commandId, run);
  }

  private forgetCommand(commandId: string): void {
    this.commandMap.delete(commandId);
    this.writerMap.delete(commandId);
    this.readerMap.delete(commandId);
  }

  private onClosed(): void {
    this.peer.connectionLost(new ConnectionError('Connection lost'));
    for (const run of this.commandMap.values()) run.recordConnectionLost();
    this.commandMap.clear();
    this.writerMap.clear();
    this.readerMap.clear();
    this.markGone('connection lost');
  }
}

function pyTypeName(value: unknown): string {
  if (value === null) return 'NoneType';
  if (Array.isArray(value)) return 'list';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'object') return 'dict';
  return typeof value;
}
