import type { CommandResult, CommandRun, CommandStatus } from '../command-run.js';
import type { JobSpec, StepSpec } from './job-spec.js';

/** Where a job is in its life. */
export type JobState = 'queued' | 'running' | 'finished';
/** A finished job's outcome: its first unsuccessful step's status, or CANCELLED when stopped by request. */
export type JobResult = CommandStatus | 'CANCELLED';

export interface Step {
  readonly index: number;
  readonly spec: StepSpec;
  state: 'pending' | 'running' | 'finished' | 'skipped';
  result: CommandStatus | null;
  rc: number | null;
  elapsed?: number;
  failure?: string;
  startError?: string;
  commandId?: string;
  run?: CommandRun;
  /** Per logfile name (not stdio): characters published so far. */
  published: Map<string, number>;
  /** Once finished: the updates that are not log text (`stat`, `files`, `rc`, `elapsed`, ...), in arrival order. */
  updates?: Array<[string, unknown]>;
  /** Once finished, for transfer commands: what the master's writer or reader saw. */
  transfer?: Record<string, unknown>;
  /** An upload step with `keep`: the bytes the worker sent (file contents or the tar stream). */
  uploadData?: Buffer;
}

/** Update keys that carry log text; the step's logs hold them. */
const LOG_KEYS = new Set(['stdout', 'stderr', 'header', 'log']);

/** Record on `step` what a finished run reported besides its logs. */
export function recordOutcome(step: Step, r: CommandResult): void {
  step.updates = r.updates.filter(([k]) => !LOG_KEYS.has(k));
  if (r.upload) {
    const { bytes, writes, closed, unpacked, utime } = r.upload;
    step.transfer = { bytes, writes, closed, unpacked, utime: utime ?? null, kept: step.spec.keep === true };
    if (step.spec.keep) step.uploadData = r.upload.data;
  }
  if (r.download) step.transfer = { bytes: r.download.bytesServed, reads: r.download.reads, closed: r.download.closed };
}

/** One job: a list of commands for one worker/builder, run in order, stopping at the first unsuccessful step. */
export class Job {
  state: JobState = 'queued';
  result: JobResult | null = null;
  readonly steps: Step[];
  readonly submittedAt = Date.now();
  startedAt: number | null = null;
  finishedAt: number | null = null;
  /** Stopped by request: cancelled while queued or interrupted while running. */
  cancelled = false;
  /** The job's whole log: every step's stdio (header, stdout, stderr) in arrival order. */
  log = '';
  /** Where each step's text begins in `log`. */
  readonly stepLogStart: number[] = [];

  constructor(
    readonly id: number,
    readonly spec: JobSpec,
    public priority: number,
    readonly rebuildOf: number | null = null,
  ) {
    this.steps = spec.steps.map((s, index) => ({ index, spec: s, state: 'pending', result: null, rc: null, published: new Map() }));
  }

  get worker(): string {
    return this.spec.worker;
  }

  /** The JSON view (logs are separate resources). */
  toJSON(): Record<string, unknown> {
    return {
      id: this.id,
      worker: this.spec.worker,
      builder: this.spec.builder,
      priority: this.priority,
      state: this.state,
      result: this.result,
      cancelled: this.cancelled,
      rebuild_of: this.rebuildOf,
      revision: this.spec.revision ?? null,
      submitted_at: this.submittedAt,
      started_at: this.startedAt,
      finished_at: this.finishedAt,
      log_length: this.log.length,
      // Where each started step's text begins in the job's log (the page splits the log by step).
      steps: this.steps.map((s) => (this.stepLogStart[s.index] === undefined ? stepJSON(s) : { ...stepJSON(s), log_offset: this.stepLogStart[s.index] })),
    };
  }
}

export function stepJSON(s: Step): Record<string, unknown> {
  const out: Record<string, unknown> = {
    index: s.index,
    command: s.spec.command,
    args: s.spec.args,
    state: s.state,
    result: s.result,
    rc: s.rc,
  };
  if (s.commandId !== undefined) out.command_id = s.commandId;
  if (s.elapsed !== undefined) out.elapsed = s.elapsed;
  if (s.failure !== undefined) out.failure = s.failure;
  if (s.startError !== undefined) out.start_error = s.startError;
  if (s.run) {
    out.logs = Object.keys(s.run.logs);
    // Characters received per log, so a client can check a large log without fetching it.
    out.log_sizes = { ...s.run.logChars };
  }
  if (s.updates !== undefined) out.updates = s.updates;
  if (s.transfer !== undefined) out.transfer = s.transfer;
  return out;
}
