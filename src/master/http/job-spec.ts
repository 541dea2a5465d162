import { badRequest } from './http-error.js';

/**
 * What a job request asks for, checked: a list of worker commands (PB names and PB-style,
 * builder-relative args, as `WorkerHandle.startCommand` takes them) for one worker/builder.
 */

/** The commands a job may run: the Python worker's shell, transfer and file commands. */
export const JOB_COMMANDS = new Set(['shell', 'uploadFile', 'uploadDirectory', 'downloadFile', 'mkdir', 'rmdir', 'cpdir', 'stat', 'glob', 'listdir', 'rmfile']);

export const MAX_STEPS = 100;
const MAX_NAME = 200;
/** downloadFile: most bytes of `data` a request may carry. */
export const MAX_DOWNLOAD_DATA = 512 * 1024;
/** uploadFile/uploadDirectory with `keep`: most bytes the master holds for `GET .../upload`. */
export const MAX_KEPT_UPLOAD_BYTES = 64 * 1024 * 1024;
const UPLOADS = new Set(['uploadFile', 'uploadDirectory']);

export interface StepSpec {
  command: string;
  args: Record<string, unknown>;
  /** downloadFile: the contents the master serves. */
  data?: string;
  /** downloadFile: a file under the server's transfer directory whose bytes the master serves (relative path). */
  mastersrc?: string;
  /** Upload commands: keep the uploaded bytes (up to MAX_KEPT_UPLOAD_BYTES) for `GET .../steps/:n/upload`. */
  keep?: boolean;
}

export interface JobSpec {
  worker: string;
  builder: string;
  priority: number;
  steps: StepSpec[];
  /** The revision the job builds: a property of the job (self-serve's `rev`), not used by the commands. */
  revision?: string;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A priority: an integer (number or decimal string); undefined when absent. */
export function parsePriority(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = typeof value === 'string' && /^[+-]?\d{1,9}$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw badRequest(`priority must be an integer, got ${JSON.stringify(value).slice(0, 40)}`);
  return n;
}

/** A revision: a branch-free VCS id (hex hash, tag, number); undefined when absent. */
export function parseRevision(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$/.test(value)) {
    throw badRequest(`revision must be 1-100 characters of A-Za-z0-9._+-, got ${JSON.stringify(value).slice(0, 40)}`);
  }
  return value;
}

function parseStep(raw: unknown, i: number): StepSpec {
  if (!isPlainObject(raw)) throw badRequest(`steps[${i}] must be an object {command, args}`);
  const command = raw.command;
  if (typeof command !== 'string' || !JOB_COMMANDS.has(command)) {
    throw badRequest(`steps[${i}].command must be one of ${[...JOB_COMMANDS].join(', ')}; got ${JSON.stringify(command ?? null).slice(0, 60)}`);
  }
  const args = raw.args ?? {};
  if (!isPlainObject(args)) throw badRequest(`steps[${i}].args must be an object`);
  const step: StepSpec = { command, args: { ...args } };
  if (command === 'shell') {
    const c = step.args.command;
    const ok = (typeof c === 'string' && c !== '') || (Array.isArray(c) && c.length > 0 && c.every((x) => typeof x === 'string'));
    if (!ok) throw badRequest(`steps[${i}].args.command must be a non-empty string or list of strings`);
    if (step.args.workdir === undefined) step.args.workdir = 'build';
  }
  if (raw.data !== undefined) {
    if (command !== 'downloadFile') throw badRequest(`steps[${i}].data is only for downloadFile`);
    if (typeof raw.data !== 'string') throw badRequest(`steps[${i}].data must be a string`);
    if (Buffer.byteLength(raw.data) > MAX_DOWNLOAD_DATA) throw badRequest(`steps[${i}].data exceeds ${MAX_DOWNLOAD_DATA} bytes`);
    step.data = raw.data;
  }
  if (raw.mastersrc !== undefined) {
    if (command !== 'downloadFile') throw badRequest(`steps[${i}].mastersrc is only for downloadFile`);
    if (raw.data !== undefined) throw badRequest(`steps[${i}]: give either data or mastersrc, not both`);
    const src = raw.mastersrc;
    // Relative and without `..`: it names a file inside the transfer directory, nothing else.
    if (typeof src !== 'string' || src === '' || src.length > 1000 || src.startsWith('/') || src.split(/[\\/]/).some((part) => part === '..' || part === '')) {
      throw badRequest(`steps[${i}].mastersrc must be a relative path inside the transfer directory, without ..`);
    }
    step.mastersrc = src;
  }
  if (raw.keep !== undefined) {
    if (!UPLOADS.has(command)) throw badRequest(`steps[${i}].keep is only for uploadFile and uploadDirectory`);
    if (typeof raw.keep !== 'boolean') throw badRequest(`steps[${i}].keep must be true or false`);
    step.keep = raw.keep;
  }
  return step;
}

/**
 * Check a job request (a JSON body). `command` (a shell command line) is a shorthand for one
 * shell step; `steps` and `priority` may also be given as strings (JSON, decimal).
 */
export function parseJobSpec(body: Record<string, unknown>, defaultBuilder: string): JobSpec {
  const worker = body.worker;
  if (typeof worker !== 'string' || worker === '') throw badRequest('missing parameter: worker');
  if (worker.length > MAX_NAME) throw badRequest('worker name too long');
  const builder = body.builder ?? defaultBuilder;
  if (typeof builder !== 'string' || builder === '' || builder.length > MAX_NAME) throw badRequest('builder must be a non-empty string');
  let rawSteps = body.steps;
  if (typeof rawSteps === 'string') {
    try {
      rawSteps = JSON.parse(rawSteps);
    } catch {
      throw badRequest('steps is not valid JSON');
    }
  }
  if (rawSteps !== undefined && body.command !== undefined) throw badRequest('give either steps or command, not both');
  if (rawSteps === undefined) {
    if (body.command === undefined) throw badRequest('missing parameter: steps (or command)');
    rawSteps = [{ command: 'shell', args: { command: body.command } }];
  }
  if (!Array.isArray(rawSteps) || rawSteps.length === 0) throw badRequest('steps must be a non-empty list');
  if (rawSteps.length > MAX_STEPS) throw badRequest(`at most ${MAX_STEPS} steps per job`);
  const steps = rawSteps.map(parseStep);
  const spec: JobSpec = { worker, builder, priority: parsePriority(body.priority) ?? 0, steps };
  const revision = parseRevision(body.revision);
  if (revision !== undefined) spec.revision = revision;
  return spec;
}
