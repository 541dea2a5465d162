import type { Logger } from 'pino';
import { AuthError } from '../errors.js';
import type { TransportOptions } from '../transport/connect.js';
import { sleep, type Clock, type TimerHandle } from '../util/clock.js';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff.js';
import { IdleExit } from './idle-exit.js';
import type { RunnerLike, WorkerBot } from './bot.js';
import type { WorkerMetrics } from './metrics.js';
import type { Session, SessionFactory } from './session.js';

/** Python stops the reactor this long after answering the master's `shutdown`, so the answer leaves. */
export const MASTER_SHUTDOWN_DELAY_MS = 200;
/** After interrupting everything on the way out, time the commands get to report and die. */
export const FINAL_INTERRUPT_GRACE_MS = 5_000;
/**
 * A drain ends only when no command has run for this long: between two steps of a build
 * nothing runs for a moment, and closing then would fail the build instead of draining it.
 */
export const DRAIN_SETTLE_MS = 3_000;

export interface WorkerServiceOptions {
  sessionFactory: SessionFactory;
  transport: TransportOptions;
  workername: string;
  password: string;
  keepaliveSeconds: number;
  /** msgpack WebSocket path. */
  path?: string;
  bot: WorkerBot;
  runner: RunnerLike;
  clock: Clock;
  log: Logger;
  /** Jitter source in [0, 1); Math.random by default. */
  random?: () => number;
  /** Give up after this many failed attempts in a row (buildbot.tac `maxretries`); null: never. */
  maxRetries?: number | null;
  /** Cap of the backoff in seconds (see `effectiveMaxDelay`). */
  maxDelaySeconds?: number;
  /**
   * Exit-when-idle (one-shot / latent containers): stop once no command has run for this
   * many milliseconds, counted from the first login; null/undefined: never.
   */
  exitWhenIdleMs?: number | null;
  /** Counters of the metrics endpoint, when enabled (connection state, reconnects, last login). */
  metrics?: WorkerMetrics;
}

/** Why `run()` ended. */
export type ServiceEnd = 'stopped' | 'master-shutdown' | 'gave-up' | 'idle';

/**
 * The reconnect loop (`docs/python-worker.md` §5): connect and log in through the protocol's
 * SessionFactory, serve until the connection ends, back off (Twisted's policy, reset by a
 * successful login), and again — until stopped, shut down by the master, or `maxRetries`
 * failures in a row. Stopping is graceful: the first `stop()` lets running commands finish
 * (asking the master not to start new builds), a second one interrupts them.
 */
export class WorkerService {
  private session: Session | undefined;
  private connecting: AbortController | undefined;
  private wake: (() => void) | undefined;
  private stopping: 'no' | 'graceful' | 'now' = 'no';
  private end: ServiceEnd = 'stopped';
  private shutdownTimer: TimerHandle | undefined;
  private settleTimer: TimerHandle | undefined;
  private readonly idleExit: IdleExit | undefined;
  private readonly random: () => number;
  private readonly log: Logger;

  constructor(private readonly o: WorkerServiceOptions) {
    this.random = o.random ?? Math.random;
    this.log = o.log;
    o.bot.on('shutdown', () => this.onMasterShutdown());
    const idleMs = o.exitWhenIdleMs;
    if (idleMs !== null && idleMs !== undefined) {
      this.idleExit = new IdleExit({
        runner: o.runner,
        clock: o.clock,
        idleMs,
        onIdle: () => {
          if (this.stopping !== 'no') return;
          this.log.info(`no command ran for ${idleMs / 1000} seconds; stopping (exit when idle)`);
          this.end = 'idle';
          this.stop();
        },
      });
    }
  }

  /** True from a graceful stop until the worker has stopped (running commands are being waited for). */
  get draining(): boolean {
    return this.stopping === 'graceful';
  }

  /** True while logged in to the master. */
  get connected(): boolean {
    return this.session !== undefined;
  }

  /** Run until stopped; resolves with how it ended. */
  async run(): Promise<ServiceEnd> {
    let failures = 0;
    let attempts = 0;
    while (this.stopping === 'no') {
      if (attempts++ > 0) this.o.metrics?.reconnecting();
      const abort = new AbortController();
      this.connecting = abort;
      let session: Session;
      try {
        session = await this.o.sessionFactory(
          {
            transport: this.o.transport,
            workername: this.o.workername,
            password: this.o.password,
            keepaliveSeconds: this.o.keepaliveSeconds,
            path: this.o.path,
            handlers: this.o.bot,
            clock: this.o.clock,
            log: this.log,
          },
          abort.signal,
        );
      } catch (err) {
        this.connecting = undefined;
        if (this.stopping !== 'no') break;
        failures++;
        if (err instanceof AuthError) this.log.error(`unauthorized login; check worker name and password (${err.message})`);
        else this.log.warn(`connection to the master at ${this.where()} failed: ${(err as Error).message}`);
        if (!(await this.retryAfter(failures))) break;
        continue;
      }
      this.connecting = undefined;
      if (this.stopping !== 'no') {
        session.close();
        break;
      }
      failures = 0;
      this.session = session;
      this.o.metrics?.loggedIn(this.o.clock.now());
      this.log.info('Connected to buildmaster; worker is ready');
      if (this.o.keepaliveSeconds > 0) this.log.info(`sending application-level keepalives every ${this.o.keepaliveSeconds} seconds`);
      this.idleExit?.start();
      const reason = await session.closed;
      this.session = undefined;
      this.o.metrics?.connectionLost();
      if (this.stopping !== 'no') break;
      this.log.warn(`Lost connection to the master${reason ? `: ${reason.message}` : ''}`);
      // Twisted's ClientService retries a dropped connection as attempt 1.
      failures = 1;
      if (!(await this.retryAfter(failures))) break;
    }
    this.shutdownTimer?.cancel();
    this.settleTimer?.cancel();
    this.idleExit?.stop();
    await this.finishCommands();
    return this.end;
  }

  /** Wait before the next attempt; false when the loop must end instead. */
  private async retryAfter(failures: number): Promise<boolean> {
    const max = this.o.maxRetries;
    if (max && failures >= max) {
      this.log.error(`giving up: ${failures} connection attempt(s) in a row failed (maxretries = ${max})`);
      this.end = 'gave-up';
      return false;
    }
    const delay = backoffDelay(failures, this.random, { maxDelay: this.o.maxDelaySeconds ?? DEFAULT_BACKOFF.maxDelay });
    this.log.info({ system: '-' }, `Scheduling retry ${failures} to connect in ${delay.toFixed(2)} seconds; will retry in ${Math.round(delay)} seconds`);
    await this.sleepUnlessStopped(delay * 1000);
    return this.stopping === 'no';
  }

  private sleepUnlessStopped(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = this.o.clock.setTimeout(done, ms);
      function done() {
        t.cancel();
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }

  /**
   * Stop the worker. The first call is graceful: with commands running the master is asked
   * not to start new builds and the worker exits once they are done; a second call (or
   * `force`) interrupts them at once.
   */
  stop(force = false): void {
    if (force || this.stopping !== 'no') {
      this.stopNow();
      return;
    }
    this.stopping = 'graceful';
    this.interruptWaiting();
    const session = this.session;
    if (!session) return;
    if (this.o.runner.running === 0) {
      this.log.info('stopping the worker');
      session.close();
      return;
    }
    this.log.info(`stopping once ${this.o.runner.running} running command(s) finish; signal again to stop now`);
    void session.requestShutdown().then(
      (ok) => ok && this.log.info('the master was asked not to start new builds on this worker'),
      () => {},
    );
    void this.closeWhenDrained(session);
  }

  /** Close `session` once no command has run for DRAIN_SETTLE_MS (unless something else ended it first). */
  private async closeWhenDrained(session: Session): Promise<void> {
    for (;;) {
      await this.o.runner.whenIdle();
      await new Promise<void>((resolve) => {
        this.settleTimer = this.o.clock.setTimeout(resolve, DRAIN_SETTLE_MS);
      });
      this.settleTimer = undefined;
      if (this.session !== session || this.stopping !== 'graceful') return;
      if (this.o.runner.running === 0) break;
      this.log.info(`still draining: ${this.o.runner.running} command(s) started meanwhile`);
    }
    this.log.info('running commands finished; stopping the worker');
    session.close();
  }

  private stopNow(): void {
    if (this.stopping === 'now') return;
    this.stopping = 'now';
    if (this.o.runner.running > 0) this.log.info('stopping now: interrupting running commands');
    this.interruptAll('worker stopping');
    this.interruptWaiting();
    this.session?.close();
  }

  private interruptWaiting(): void {
    this.connecting?.abort();
    this.wake?.();
  }

  /**
   * A worker-initiated graceful shutdown (`--allow-shutdown signal|file`, `docs/python-worker.md` §12):
   * ask the master to shut this worker down once its builds are done. Without a
   * connection the worker stops at once, like Python; when the protocol cannot ask (msgpack)
   * the worker drains locally instead of failing as the Python worker does.
   */
  async gracefulShutdown(): Promise<void> {
    const session = this.session;
    if (!session) {
      this.log.info('No active connection, shutting down NOW');
      this.stop(true);
      return;
    }
    this.log.info('Telling the master we want to shutdown after any running builds are finished');
    const ok = await session.requestShutdown();
    if (!ok) {
      this.log.info('the master cannot be asked to shut this worker down; stopping once running commands finish');
      this.stop();
    }
  }

  private onMasterShutdown(): void {
    if (this.stopping === 'now') return;
    this.stopping = 'now';
    this.end = 'master-shutdown';
    this.interruptWaiting();
    const session = this.session;
    this.shutdownTimer = this.o.clock.setTimeout(() => {
      this.interruptAll('worker shutting down');
      session?.close();
    }, MASTER_SHUTDOWN_DELAY_MS);
  }

  private interrupted = false;

  private interruptAll(why: string): void {
    this.interrupted = true;
    this.o.runner.interruptAll(why);
  }

  private async finishCommands(): Promise<void> {
    if (this.o.runner.running === 0) return;
    if (!this.interrupted) this.interruptAll('worker stopping');
    await Promise.race([this.o.runner.whenIdle(), sleep(this.o.clock, FINAL_INTERRUPT_GRACE_MS)]);
  }

  private where(): string {
    const t = this.o.transport;
    return t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
  }
}
