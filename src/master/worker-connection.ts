import type { Clock, TimerHandle } from '../util/clock.js';
import { CommandRun, type CommandResult, type StartCommandOptions } from './command-run.js';
import type { MasterEvent, MasterProtocol } from './events.js';
import type { BuilderConfig, WorkerHandle } from './worker-handle.js';

/** What a connection needs from the master that owns it. */
export interface MasterContext {
  readonly clock: Clock;
  /** 0 disables the master's periodic keepalive. */
  readonly keepaliveIntervalMs: number;
  readonly builders: readonly BuilderConfig[];
  log(message: string): void;
  emit(event: MasterEvent): void;
  /** Master-wide command id counter (decimal strings, shared by all workers). */
  nextCommandId(): string;
  /** The configured password, or undefined for an unknown worker. */
  password(workerName: string): string | undefined;
  /** Called once the attach sequence finished. */
  registerAttached(handle: WorkerConnection): void;
  /** Called once when the connection is gone. */
  registerDetached(handle: WorkerConnection): void;
}

/**
 * Default arguments the master's transfer steps always send (captured values,
 * `docs/protocol/pb.md` §6.6), so tests only pass what matters to them.
 */
const TRANSFER_DEFAULTS: Record<string, Record<string, unknown>> = {
  uploadFile: { workdir: 'build', maxsize: null, blocksize: 262144, keepstamp: false },
  uploadDirectory: { workdir: 'build', maxsize: null, blocksize: 16384, compress: null },
  downloadFile: { workdir: 'build', maxsize: null, blocksize: 16384, mode: null },
};

/**
 * The protocol-neutral half of an attached worker: builders, command bookkeeping,
 * build starts, keepalive timer, detach. PB and msgpack connections extend it.
 */
export abstract class WorkerConnection implements WorkerHandle {
  abstract readonly protocol: MasterProtocol;
  info: Record<string, unknown> = {};
  readonly violations: string[] = [];
  keepalivesReceived = 0;
  shutdownRequested = false;
  readonly detached: Promise<string>;

  protected readonly runs = new Map<string, CommandRun>();
  private readonly buildStarts = new Map<string, Promise<void>>();
  private attachedFlag = false;
  private gone = false;
  private keepaliveTimer?: TimerHandle;
  private resolveDetached!: (reason: string) => void;

  constructor(
    readonly name: string,
    protected readonly ctx: MasterContext,
    public builders: readonly BuilderConfig[],
  ) {
    this.detached = new Promise((resolve) => (this.resolveDetached = resolve));
  }

  get attached(): boolean {
    return this.attachedFlag;
  }

  /** True once the connection is gone. */
  get isGone(): boolean {
    return this.gone;
  }

  // ---- protocol-specific ---------------------------------------------------------------

  protected abstract sendPrint(message: string): Promise<void>;
  protected abstract sendKeepalive(): Promise<void>;
  /** PB: WorkerForBuilder.startBuild(); msgpack: nothing (the 3.7 master sends nothing). */
  protected abstract sendStartBuild(builderName: string): Promise<void>;
  /** Send the start; resolve when the worker answered it, reject with the error text. */
  protected abstract sendStartCommand(run: CommandRun, args: Record<string, unknown>): Promise<void>;
  protected abstract sendInterrupt(run: CommandRun, why: string): Promise<void>;
  protected abstract sendShutdown(): Promise<void>;
  protected abstract abort(): void;
  abstract liveReferences(): number;

  // ---- WorkerHandle --------------------------------------------------------------------

  print(message: string): Promise<void> {
    return this.sendPrint(message);
  }

  keepalive(): Promise<void> {
    return this.sendKeepalive();
  }

  startBuild(builderName: string): Promise<void> {
    this.requireBuilder(builderName);
    const started = (async () => {
      await this.sendPrint('ping');
      await this.sendStartBuild(builderName);
    })();
    this.buildStarts.set(
      builderName,
      started.catch(() => undefined),
    );
    return started;
  }

  startCommand(builderName: string, commandName: string, args: Record<string, unknown>, opts: StartCommandOptions = {}): CommandRun {
    if (!this.attachedFlag) throw new Error(`worker ${this.name} is not attached`);
    this.requireBuilder(builderName);
    const run = new CommandRun(this.ctx.nextCommandId(), builderName, commandName, opts, { interrupt: (r, why) => this.sendInterrupt(r, why) }, (result) => this.onRunFinished(run, result));
    this.runs.set(run.commandId, run);
    const fullArgs = { ...(TRANSFER_DEFAULTS[commandName] ?? {}), ...args };
    const buildStart = opts.startBuild || !this.buildStarts.has(builderName) ? this.startBuild(builderName).catch(() => undefined) : this.buildStarts.get(builderName);
    void (async () => {
      await buildStart;
      if (!run.active) return;
      try {
        await this.sendStartCommand(run, fullArgs);
      } catch (err) {
        if (this.gone) run.recordConnectionLost();
        else run.recordStartError(err instanceof Error ? err.message : String(err));
      }
    })();
    return run;
  }

  runningCommands(): CommandRun[] {
    return [...this.runs.values()].filter((r) => r.active);
  }

  shutdown(): Promise<void> {
    return this.sendShutdown();
  }

  disconnect(): void {
    this.abort();
  }

  // ---- for subclasses ----------------------------------------------------------------

  /** The builder's configuration; throws for a builder this worker does not have. */
  protected requireBuilder(builderName: string): BuilderConfig {
    const b = this.builders.find((x) => x.name === builderName);
    if (!b) throw new Error(`unknown builder ${JSON.stringify(builderName)} for worker ${this.name}`);
    return b;
  }

  /** Record a protocol violation seen by the transport layer of this connection. */
  recordViolation(message: string): void {
    this.violation(message);
  }

  protected violation(message: string): void {
    this.violations.push(message);
    this.ctx.log(`${this.protocol} worker ${this.name}: protocol violation: ${message}`);
    this.ctx.emit({ type: 'violation', worker: this.name, protocol: this.protocol, message });
  }

  protected emitUpdate(run: CommandRun, key: string, value: unknown): void {
    this.ctx.emit({ type: 'update', worker: this.name, commandId: run.commandId, key, value });
  }

  /** The attach sequence finished. */
  protected markAttached(): void {
    if (this.gone) return;
    this.attachedFlag = true;
    this.ctx.registerAttached(this);
    this.ctx.emit({ type: 'attach', worker: this.name, protocol: this.protocol, handle: this });
    this.armKeepalive();
  }

  /** The connection is gone: fail outstanding commands, stop timers, tell the master. */
  protected markGone(reason: string): void {
    if (this.gone) return;
    this.gone = true;
    const wasAttached = this.attachedFlag;
    this.attachedFlag = false;
    this.keepaliveTimer?.cancel();
    for (const run of this.runs.values()) run.recordConnectionLost();
    this.runs.clear();
    this.ctx.registerDetached(this);
    if (wasAttached) this.ctx.emit({ type: 'detach', worker: this.name, protocol: this.protocol, reason });
    this.resolveDetached(reason);
  }

  private armKeepalive(): void {
    const interval = this.ctx.keepaliveIntervalMs;
    if (!interval || interval <= 0) return;
    this.keepaliveTimer = this.ctx.clock.setTimeout(() => {
      if (this.gone) return;
      this.sendKeepalive().catch(() => undefined);
      this.armKeepalive();
    }, interval);
  }

  private onRunFinished(run: CommandRun, result: CommandResult): void {
    this.runs.delete(run.commandId);
    this.ctx.emit({ type: 'complete', worker: this.name, commandId: run.commandId, result });
    this.afterRunFinished();
  }

  /** Hook: a command finished (PB uses it for graceful shutdown once idle). */
  protected afterRunFinished(): void {}
}
