import { ConnectionError } from '../../errors.js';
import { RemoteRef } from '../../protocol/jelly.js';
import { NO_SUCH_METHOD_TYPE, Referenceable, RemoteCallError, type Broker, type RemoteReference } from '../../engine/pb/broker.js';
import { parentsOf } from '../../protocol/python-failure.js';
import { PyTuple } from '../../values.js';
import type { CommandRun } from '../command-run.js';
import { PbFileReader, PbFileWriter, PbRemoteCommand, type CommandObjectHost } from './command-objects.js';
import { pyFailure } from './failure.js';
import { describe, dictEntries, isDict, pyDecode } from './values.js';
import { WorkerConnection, type MasterContext } from '../worker-connection.js';

/**
 * The master side of one logged-in PB worker, behaving like the 3.7 master's
 * `Connection` avatar (`docs/protocol/pb.md` §5, §6): the attach sequence before
 * `respond` is answered (print 'attached', getWorkerInfo with the legacy fallbacks,
 * setBuilderList, one print 'attached' per builder), the perspective's `keepalive` and
 * `shutdown`, startBuild / startCommand / interruptCommand on the WorkerForBuilders with a
 * RemoteCommand (and FileWriter/DirectoryWriter/FileReader) exported per command, and
 * `Bot.shutdown` with the old WorkerForBuilder fallback.
 */

/** The socket-level link a connection runs over (one per TCP connection). */
export interface PbLink {
  readonly broker: Broker;
  /** Drop TCP at once. */
  abort(): void;
}

/**
 * Argument order of the transfer steps in the 3.7 master (captures #55, #111, #132), so
 * that `startCommand` is byte-identical to the real master's; other keys follow.
 */
const PB_ARG_ORDER: Record<string, string[]> = {
  uploadFile: ['workdir', 'writer', 'maxsize', 'blocksize', 'keepstamp', 'workersrc'],
  uploadDirectory: ['workdir', 'writer', 'maxsize', 'blocksize', 'compress', 'workersrc'],
  downloadFile: ['maxsize', 'reader', 'blocksize', 'workdir', 'mode', 'workerdest'],
};

/** How `wireArgs` shows the references exported with a command. */
export const REF_MARKERS = {
  writer: '<FileWriter>',
  directoryWriter: '<DirectoryWriter>',
  reader: '<FileReader>',
} as const;

function isNoSuchMethod(err: unknown): boolean {
  return err instanceof RemoteCallError && err.isA(NO_SUCH_METHOD_TYPE);
}

export class PbWorkerConnection extends WorkerConnection {
  readonly protocol = 'pb' as const;
  /** The avatar the worker calls `keepalive` and `shutdown` on. */
  readonly perspective: Referenceable;
  private readonly mind: RemoteReference;
  private readonly workerForBuilders = new Map<string, RemoteReference>();
  private readonly host: CommandObjectHost;
  private shutdownCall?: Promise<void>;

  constructor(
    name: string,
    ctx: MasterContext,
    private readonly link: PbLink,
    mind: RemoteRef,
  ) {
    super(name, ctx, ctx.builders);
    this.mind = link.broker.reference(mind);
    this.perspective = new Referenceable(`perspective(${name})`, {
      keepalive: () => this.onKeepalive(),
      shutdown: () => this.onShutdownRequest(),
    });
    this.host = {
      violation: (message) => this.violation(message),
      updated: (run, key, value) => this.emitUpdate(run, key, value),
    };
  }

  /**
   * The attach sequence (§1 step 5, capture #18–#29). Resolves with the perspective, with
   * which the portal answers `respond`; the handle counts as attached once that answer is out.
   */
  async attach(): Promise<Referenceable> {
    await this.sendPrint('attached');
    this.info = await this.fetchWorkerInfo();
    await this.sendBuilderList();
    // One 'attached' per builder, sent back to back (capture #24–#26).
    await Promise.all(this.builders.map(() => this.sendPrint('attached')));
    // setImmediate: after the broker has written the answer to `respond`.
    setImmediate(() => this.markAttached());
    return this.perspective;
  }

  /** The TCP connection is gone. */
  connectionLost(reason: string): void {
    this.markGone(reason);
  }

  liveReferences(): number {
    return this.link.broker.exportedCount;
  }

  // ---- master → worker ---------------------------------------------------------------

  protected async sendPrint(message: string): Promise<void> {
    await this.call(this.mind, 'print', [], { message });
  }

  protected async sendKeepalive(): Promise<void> {
    // Connection._do_keepalive: print(message='keepalive') (§6.9).
    await this.call(this.mind, 'print', [], { message: 'keepalive' });
  }

  protected async sendStartBuild(builderName: string): Promise<void> {
    await this.call(this.workerForBuilder(builderName), 'startBuild');
  }

  protected async sendStartCommand(run: CommandRun, args: Record<string, unknown>): Promise<void> {
    const wfb = this.workerForBuilder(run.builderName);
    const command = new PbRemoteCommand(run, this.host);
    const pbArgs: Record<string, unknown> = {};
    const shown: Record<string, unknown> = {};
    const put = (key: string, value: unknown, marker?: string): void => {
      pbArgs[key] = value;
      shown[key] = marker ?? value;
    };
    const refs: Record<string, { obj: Referenceable; marker: string }> = {};
    if (run.hasWriter) {
      const directory = run.commandName === 'uploadDirectory';
      refs.writer = { obj: new PbFileWriter(run, this.host, directory), marker: directory ? REF_MARKERS.directoryWriter : REF_MARKERS.writer };
    }
    if (run.hasReader) refs.reader = { obj: new PbFileReader(run, this.host), marker: REF_MARKERS.reader };
    const order = PB_ARG_ORDER[run.commandName] ?? [];
    for (const key of order) {
      if (refs[key]) put(key, refs[key].obj, refs[key].marker);
      else if (Object.hasOwn(args, key)) put(key, args[key]);
    }
    for (const [key, value] of Object.entries(args)) if (!Object.hasOwn(pbArgs, key) && !refs[key]) put(key, value);
    for (const [key, r] of Object.entries(refs)) if (!Object.hasOwn(pbArgs, key)) put(key, r.obj, r.marker);
    run.wireName = run.commandName;
    run.wireArgs = shown;
    // Connection.remoteStartCommand: (RemoteCommand, commandId, commandName, args) (§6.3).
    await this.call(wfb, 'startCommand', [command, run.commandId, run.commandName, pbArgs]);
  }

  protected async sendInterrupt(run: CommandRun, why: string): Promise<void> {
    await this.call(this.workerForBuilder(run.builderName), 'interruptCommand', [run.commandId, why]);
  }

  /**
   * Connection.remoteShutdown: `Bot.shutdown()`; a worker without it (NoSuchMethod) gets
   * the old way, `shutdown()` on a WorkerForBuilder; a lost connection counts as done.
   */
  protected sendShutdown(): Promise<void> {
    this.shutdownCall ??= (async () => {
      try {
        await this.link.broker.callRemote(this.mind.ref, 'shutdown');
        return;
      } catch (err) {
        if (err instanceof ConnectionError) return;
        if (!isNoSuchMethod(err)) throw err;
      }
      const first = this.workerForBuilders.values().next();
      if (first.done) return;
      try {
        await this.link.broker.callRemote(first.value.ref, 'shutdown');
      } catch (err) {
        if (!(err instanceof ConnectionError)) throw err;
      }
    })().finally(() => (this.shutdownCall = undefined));
    return this.shutdownCall;
  }

  protected abort(): void {
    this.link.abort();
  }

  protected override afterRunFinished(): void {
    // A worker that asked for a graceful shutdown is shut down once idle (§6.10).
    if (this.shutdownRequested && this.runningCommands().length === 0 && !this.isGone) this.sendShutdown().catch(() => undefined);
  }

  private async call(target: RemoteReference, method: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}): Promise<unknown> {
    return this.link.broker.callRemote(target.ref, method, args, kwargs);
  }

  private workerForBuilder(builderName: string): RemoteReference {
    this.requireBuilder(builderName);
    const wfb = this.workerForBuilders.get(builderName);
    // Connection.remoteStartBuild on a builder the worker did not list: `None.callRemote`.
    if (!wfb) {
      const type = 'builtins.AttributeError';
      throw new RemoteCallError('startBuild', { type, value: "'NoneType' object has no attribute 'callRemote'", traceback: '', parents: parentsOf(type) });
    }
    return wfb;
  }

  // ---- attach ---------------------------------------------------------------------------

  /** Connection.remoteGetWorkerInfo, with the deprecated buildslave fallbacks. */
  private async fetchWorkerInfo(): Promise<Record<string, unknown>> {
    const { broker } = this.link;
    try {
      return this.infoDict(await broker.callRemote(this.mind.ref, 'getWorkerInfo'), 'getWorkerInfo');
    } catch (err) {
      if (!isNoSuchMethod(err)) throw err;
    }
    await this.sendPrint('buildbot-slave detected, failing back to deprecated buildslave API. (Ignoring missing getWorkerInfo method.)');
    let info: Record<string, unknown> = {};
    try {
      info = this.infoDict(await broker.callRemote(this.mind.ref, 'getSlaveInfo'), 'getSlaveInfo');
    } catch (err) {
      if (!isNoSuchMethod(err)) throw err;
    }
    if ('slave_commands' in info) {
      info.worker_commands = info.slave_commands;
      delete info.slave_commands;
      return info;
    }
    for (const [method, key] of [
      ['getCommands', 'worker_commands'],
      ['getVersion', 'version'],
    ] as const) {
      try {
        info[key] = pyDecode(await broker.callRemote(this.mind.ref, method));
      } catch (err) {
        if (!isNoSuchMethod(err)) throw err;
      }
    }
    return info;
  }

  private infoDict(value: unknown, method: string): Record<string, unknown> {
    if (!isDict(value)) {
      this.violation(`${method} answered ${describe(pyDecode(value))}, not a dictionary`);
      throw pyFailure('builtins.AttributeError', `'${typeof value}' object has no attribute 'get'`);
    }
    return pyDecode(value) as Record<string, unknown>;
  }

  /** setBuilderList([(name, builddir), ...]) → {name: WorkerForBuilder}. */
  private async sendBuilderList(): Promise<void> {
    const list = this.builders.map((b) => new PyTuple([b.name, b.builddir]));
    const answer = await this.call(this.mind, 'setBuilderList', [list]);
    if (!isDict(answer)) {
      this.link.broker.releaseAll(answer as never);
      this.violation(`setBuilderList answered ${describe(pyDecode(answer))}, not a dictionary`);
      throw pyFailure('builtins.AttributeError', `'${typeof answer}' object has no attribute 'get'`);
    }
    for (const [name, ref] of dictEntries(answer)) {
      if (!(ref instanceof RemoteRef)) {
        this.violation(`setBuilderList: builder ${JSON.stringify(name)} is not a WorkerForBuilder reference: ${describe(pyDecode(ref))}`);
        continue;
      }
      if (!this.builders.some((b) => b.name === name)) this.violation(`setBuilderList answered an unrequested builder ${JSON.stringify(name)}`);
      this.workerForBuilders.set(name, this.link.broker.reference(ref));
    }
    for (const b of this.builders) {
      if (!this.workerForBuilders.has(b.name)) this.violation(`setBuilderList answer lacks builder ${JSON.stringify(b.name)}`);
    }
  }

  // ---- worker → master (perspective) ----------------------------------------------------

  private onKeepalive(): null {
    this.keepalivesReceived++;
    this.ctx.emit({ type: 'keepalive', worker: this.name, protocol: 'pb' });
    return null;
  }

  /**
   * perspective_shutdown: graceful shutdown. With nothing running the master calls
   * `Bot.shutdown()` before it answers (capture #182–#184).
   */
  private onShutdownRequest(): null {
    this.shutdownRequested = true;
    this.ctx.emit({ type: 'shutdownRequest', worker: this.name, protocol: 'pb' });
    if (this.runningCommands().length === 0) this.sendShutdown().catch(() => undefined);
    return null;
  }
}
