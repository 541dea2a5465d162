import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { OutputSettings } from '../commands/update.js';
import type { StartCommandRequest, WorkerHandlers, WorkerInfo } from './handlers.js';
import { collectWorkerInfo } from './worker-info.js';
import { makeDirs } from '../util/make-dirs.js';
import { WORKER_VERSION } from './version.js';

/**
 * What the bot needs of the command runner (`src/commands/runner.ts` CommandRunner has
 * exactly these members; the bot depends on this shape only).
 */
export interface RunnerLike {
  settings: OutputSettings;
  start(req: StartCommandRequest): void;
  interrupt(commandId: string, why: string): Promise<void>;
  interruptAll(why: string): void;
  readonly running: number;
  whenIdle(): Promise<void>;
}

export interface WorkerBotOptions {
  log: Logger;
  /** Command name → version (`Registry.versions()`), answered by getCommands and in worker_commands. */
  commandVersions: Record<string, string>;
  /** The environment reported as `environ` (already blacklist-filtered). */
  environ: Readonly<Record<string, string>>;
  /** From buildbot.tac; null/undefined counts the CPUs. */
  numcpus?: number | null;
  deleteLeftoverDirs?: boolean;
  version?: string;
  osReleaseFile?: string;
}

export interface WorkerBotEvents {
  /** The master asked this worker to shut down (`shutdown` over PB or msgpack). */
  shutdown: [];
}

/**
 * The worker as the master sees it, protocol-neutral (`pb.md` §6.2–6.3, `msgpack.md` §3):
 * answers information calls, keeps builder directories, hands commands to the runner.
 */
export class WorkerBot extends EventEmitter<WorkerBotEvents> implements WorkerHandlers {
  readonly basedir: string;
  private readonly log: Logger;

  constructor(
    basedir: string,
    private readonly runner: RunnerLike,
    private readonly options: WorkerBotOptions,
  ) {
    super();
    this.basedir = path.resolve(basedir);
    this.log = options.log;
  }

  print(message: string): void {
    // `start` watches twistd.log for exactly this text (`docs/python-worker.md` §1).
    this.log.info(`message from master: ${message}`);
  }

  getWorkerInfo(): Promise<WorkerInfo> {
    return collectWorkerInfo({
      basedir: this.basedir,
      osReleaseFile: this.options.osReleaseFile ?? '/etc/os-release',
      environ: this.options.environ,
      numcpus: this.options.numcpus ?? null,
      version: this.getVersion(),
      commands: this.getCommands(),
      deleteLeftoverDirs: this.options.deleteLeftoverDirs ?? false,
      log: this.log,
    });
  }

  getCommands(): Record<string, string> {
    return { ...this.options.commandVersions };
  }

  getVersion(): string {
    return this.options.version ?? WORKER_VERSION;
  }

  /**
   * Create `<basedir>/<builddir>` for every builder, then deal with directories of the
   * basedir nobody wants (`pb.py remote_setBuilderList`, `docs/python-worker.md` §9). Unlike Python,
   * leftovers are removed by absolute path and a builddir nested in a subdirectory keeps
   * its top-level directory.
   */
  async setBuilderList(builders: Array<[name: string, builddir: string]>): Promise<Map<string, string>> {
    const result = new Map<string, string>();
    const keep = new Set<string>(['info']);
    for (const [name, builddir] of builders) {
      const abs = path.resolve(this.basedir, builddir);
      await makeDirs(abs);
      result.set(name, abs);
      const rel = path.relative(this.basedir, abs);
      if (rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel)) keep.add(rel.split(path.sep)[0]!);
    }
    let entries: import('node:fs').Dirent[] = [];
    try {
      entries = await fs.readdir(this.basedir, { withFileTypes: true });
    } catch (err) {
      this.log.warn({ err }, `cannot list ${this.basedir}`);
    }
    for (const entry of entries) {
      if (!entry.isDirectory() || keep.has(entry.name)) continue;
      if (this.options.deleteLeftoverDirs) {
        this.log.info(`Deleting directory '${entry.name}' that is not being used by the buildmaster`);
        try {
          await fs.rm(path.join(this.basedir, entry.name), { recursive: true, force: true });
        } catch (err) {
          this.log.info(`Cannot remove directory '${entry.name}': ${(err as Error).message}`);
        }
      } else {
        this.log.info(`I have a leftover directory '${entry.name}' that is not being used by the buildmaster: you can delete it now`);
      }
    }
    return result;
  }

  setWorkerSettings(settings: OutputSettings): void {
    this.runner.settings = { ...settings };
  }

  startCommand(request: StartCommandRequest): void {
    this.runner.start(request);
  }

  interruptCommand(commandId: string, why: string): Promise<void> {
    return this.runner.interrupt(commandId, why);
  }

  shutdown(): void {
    this.log.info('worker shutting down on command from master');
    this.emit('shutdown');
  }

  connectionLost(): void {
    if (this.runner.running > 0) this.log.info(`connection lost: stopping ${this.runner.running} running command(s)`);
    this.runner.interruptAll('connection lost');
  }
}
