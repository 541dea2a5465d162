import fs from 'node:fs';
import { startTestMaster, type TestMaster } from '../master/test-master.js';
import type { MasterEvent } from '../master/events.js';
import { checkToken, generateToken, TOKEN_ENV } from '../master/http/access-token.js';
import { startMasterHttp, type MasterHttpServer } from '../master/http/http-server.js';
import { isLoopbackAddress } from '../master/http/request-origin.js';
import { ConfigError } from '../errors.js';
import { createWorkerLog } from '../util/log.js';

/**
 * `worker test-master`: the embedded master run standalone, so a worker can be tried
 * without a Buildbot installation. It accepts the configured workers on both protocols,
 * serves the REST/WebSocket/SSE API and the status page on --http-port (loopback by
 * default), and logs what the workers do; `--run` starts one shell command on each worker
 * that attaches.
 */

export interface TestMasterCommandOptions {
  host: string;
  pbPort: number;
  msgpackPort: number;
  /** `name:password` pairs. */
  worker: string[];
  builder: string;
  /** Shell command to run once on every attached worker. */
  run?: string;
  /** HTTP API and status page port; null = no HTTP server. */
  httpPort?: number | null;
  /** Interface of the HTTP server; default 127.0.0.1 (it runs commands on workers). */
  httpHost?: string;
  /** JSON file: `{"workers": {"name": "password"}, "builders": ["name", ...]}`. */
  config?: string;
  /** Access token of the HTTP API (--token, else the WORKER_TEST_MASTER_TOKEN environment variable); default random. */
  token?: string;
  /** More names the HTTP server answers to in `Host` (a reverse proxy's). */
  allowHost?: string[];
  /** Public address of the page behind a reverse proxy (host allowed, path prefix accepted). */
  baseUrl?: string;
  /** Finished jobs kept in memory; default DEFAULT_MAX_FINISHED_JOBS. */
  keepJobs?: number;
  /** Bytes of finished jobs' logs kept in memory; default DEFAULT_MAX_FINISHED_LOG_BYTES. */
  keepLogBytes?: number;
  /** Directory downloadFile steps may serve files from (`mastersrc`). */
  transferDir?: string;
}

/** Largest config file read. */
const MAX_CONFIG_BYTES = 1024 * 1024;

export function parseWorkerCredentials(pairs: string[]): Record<string, string> {
  const workers: Record<string, string> = {};
  for (const pair of pairs) {
    const idx = pair.indexOf(':');
    if (idx <= 0) throw new ConfigError(`--worker expects NAME:PASSWORD, got ${JSON.stringify(pair.slice(0, 40))}`);
    workers[pair.slice(0, idx)] = pair.slice(idx + 1);
  }
  return workers;
}

export interface TestMasterConfig {
  workers: Record<string, string>;
  builders: string[];
}

/** Read and check a --config file. */
export function readTestMasterConfig(file: string): TestMasterConfig {
  let text: string;
  try {
    if (fs.statSync(file).size > MAX_CONFIG_BYTES) throw new ConfigError(`${file}: larger than ${MAX_CONFIG_BYTES} bytes`);
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`${file}: expected a JSON object`);
  const v = value as Record<string, unknown>;
  const workers: Record<string, string> = {};
  if (v.workers !== undefined) {
    if (typeof v.workers !== 'object' || v.workers === null || Array.isArray(v.workers)) throw new ConfigError(`${file}: "workers" must map names to passwords`);
    for (const [name, pw] of Object.entries(v.workers)) {
      if (typeof pw !== 'string' || name === '') throw new ConfigError(`${file}: the password of worker ${JSON.stringify(name)} must be a string`);
      workers[name] = pw;
    }
  }
  let builders: string[] = [];
  if (v.builders !== undefined) {
    if (!Array.isArray(v.builders) || !v.builders.every((b) => typeof b === 'string' && b !== '')) throw new ConfigError(`${file}: "builders" must be a list of names`);
    builders = v.builders as string[];
  }
  return { workers, builders };
}

function describe(e: MasterEvent): string | undefined {
  switch (e.type) {
    case 'attach':
      return `worker ${e.worker} attached over ${e.protocol}`;
    case 'detach':
      return `worker ${e.worker} detached (${e.reason})`;
    case 'authFailure':
      return `refused login${e.worker ? ` of ${e.worker}` : ''} over ${e.protocol}: ${e.reason}`;
    case 'complete':
      return `command ${e.commandId} on ${e.worker}: ${e.result.status} (rc ${e.result.rc})`;
    case 'violation':
      return `protocol violation${e.worker ? ` by ${e.worker}` : ''}: ${e.message}`;
    default:
      return undefined;
  }
}

/** Start the master and serve until SIGINT/SIGTERM. Resolves with the exit code. */
export async function runTestMaster(opts: TestMasterCommandOptions, print: (line: string) => void = (l) => console.log(l)): Promise<number> {
  const fromFile = opts.config ? readTestMasterConfig(opts.config) : { workers: {}, builders: [] };
  const workers = { ...fromFile.workers, ...parseWorkerCredentials(opts.worker) };
  if (Object.keys(workers).length === 0) throw new ConfigError('give at least one --worker NAME:PASSWORD (or workers in --config)');
  const builderNames = fromFile.builders.length ? fromFile.builders : [opts.builder];
  const httpHost = opts.httpHost ?? '127.0.0.1';
  // The environment keeps the token out of `ps` and /proc/<pid>/cmdline.
  const raw = opts.token ?? process.env[TOKEN_ENV];
  const given = raw === undefined || raw === '' ? undefined : checkToken(raw);
  const withWeb = opts.httpPort !== null && opts.httpPort !== undefined;
  if (withWeb && given === undefined && !isLoopbackAddress(httpHost)) {
    throw new ConfigError(`--http-host ${httpHost} exposes the HTTP API (which runs commands on workers) beyond this machine: give --token TOKEN or set ${TOKEN_ENV}`);
  }
  // Made here rather than by the server so the log masks it from the first line.
  const token = given ?? generateToken();
  const { log, close: closeLog } = createWorkerLog({
    stdout: true,
    stdoutWrite: (l) => print(l.replace(/\n$/, '')),
    // The token never goes into a log line; the page address that holds it is printed once, below.
    secrets: [...Object.values(workers), token],
  });
  const master: TestMaster = await startTestMaster({
    workers,
    host: opts.host,
    pbPort: opts.pbPort,
    msgpackPort: opts.msgpackPort,
    builders: builderNames.map((name) => ({ name, builddir: name })),
    log: (line) => log.info(line),
  });
  let web: MasterHttpServer | undefined;
  try {
    if (opts.httpPort !== null && opts.httpPort !== undefined) {
      web = await startMasterHttp({
        master,
        workers: Object.keys(workers),
        host: httpHost,
        port: opts.httpPort,
        token,
        allowHosts: opts.allowHost,
        baseUrl: opts.baseUrl,
        maxFinishedJobs: opts.keepJobs,
        maxFinishedLogBytes: opts.keepLogBytes,
        transferDir: opts.transferDir,
        defaultBuilder: builderNames[0],
        log: (line) => log.warn(line),
      });
    }
  } catch (err) {
    await master.close();
    throw err;
  }
  log.info(
    `test master: PB on ${opts.host}:${master.pbPort}, msgpack on ws://${opts.host}:${master.msgpackPort}` +
      (web ? `, web on ${web.url}/` : '') +
      `; workers: ${Object.keys(workers).join(', ')}; builders: ${builderNames.join(', ')}`,
  );
  if (web) {
    // Printed, not logged: the one place the token appears. API clients send it as `Authorization: Bearer`.
    print(`test master: open ${web.pageUrl} in a browser; API clients send the token as "Authorization: Bearer TOKEN"`);
  }
  master.on('event', (e: MasterEvent) => {
    const line = describe(e);
    if (line) log.info(line);
    if (e.type === 'attach' && opts.run) {
      const run = e.handle.startCommand(builderNames[0]!, 'shell', { command: opts.run, workdir: 'build' });
      void run.done.then((r) => {
        for (const l of r.logs.stdio.split('\n')) if (l) log.info(`  ${e.worker} | ${l}`);
      });
    }
  });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  log.info('test master: shutting down');
  await web?.close();
  await master.close();
  closeLog();
  return 0;
}
