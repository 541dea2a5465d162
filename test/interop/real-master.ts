/**
 * A real Buildbot master for interop tests: Debian bookworm's `buildbot` 3.7, or 4.3 (the
 * current release) in the Debian forky root made by scripts/buildbot-4.3.sh. Created in a
 * temporary directory from test/interop/master.cfg, reachable on loopback only, driven
 * through its REST API (`/api/v2`) like a user's force button would.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, copyFileSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, type EventuallyOptions } from '../helpers/eventually.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The 'base' www plugin the master needs before it serves its REST API (Debian has no buildbot-www). */
const WWW_BASE = path.join(REPO_ROOT, 'test', 'interop', 'www-base');
const PYTHON = '/usr/bin/python3';
const BUILDBOT = '/usr/bin/buildbot';
/** Runs programs of the Buildbot 4.3 root (`run PROGRAM ARGS...`, `check`). */
export const BB43_SCRIPT = path.join(REPO_ROOT, 'scripts', 'buildbot-4.3.sh');

/** The masters the interop tests know: Debian bookworm's, and the current release. */
export type MasterVersion = '3.7' | '4.3';
export const MASTER_VERSIONS: readonly MasterVersion[] = ['3.7', '4.3'];

/** Why the interop tests cannot run here against `version`, or undefined when they can. */
export function realMasterUnavailable(version: MasterVersion = '3.7'): string | undefined {
  if (version === '3.7') {
    if (!existsSync(BUILDBOT)) return 'Debian package buildbot is not installed (apt-get install -y buildbot)';
    return undefined;
  }
  if (spawnSync('sh', [BB43_SCRIPT, 'check']).status !== 0) return 'no Buildbot 4.3 root (as root: scripts/buildbot-4.3.sh setup)';
  return undefined;
}

/** The command line running `buildbot ARGS...` of `version`. */
function buildbotCommand(version: MasterVersion, args: string[]): [string, string[]] {
  if (version === '3.7') return [PYTHON, [BUILDBOT, ...args]];
  return ['sh', [BB43_SCRIPT, 'run', 'buildbot', ...args]];
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface StepResult {
  name: string;
  number: number;
  results: number | null;
  state_string: string;
  /** Log slug → text (stdio logs have their 'o'/'e'/'h' channel prefixes removed). */
  logs: Record<string, string>;
  /** Log slug → per-channel text for stdio logs. */
  channels: Record<string, { o: string; e: string; h: string }>;
}

export interface BuildResult {
  buildid: number;
  results: number;
  state_string: string;
  steps: StepResult[];
}

/** Buildbot result codes. */
export const SUCCESS = 0,
  WARNINGS = 1,
  FAILURE = 2,
  SKIPPED = 3,
  EXCEPTION = 4,
  RETRY = 5,
  CANCELLED = 6;

export interface RealMasterOptions {
  /** master.cfg to use; default test/interop/master.cfg (the benchmarks bring their own). */
  config?: string;
  /** Extra environment for the master (read by its master.cfg). */
  env?: Record<string, string>;
  /** Which master; default 3.7. */
  version?: MasterVersion;
}

export class RealMaster {
  readonly dir: string;
  readonly dataDir: string;
  pbPort = 0;
  mpPort = 0;
  wwwPort = 0;
  readonly pbPassword = 'pb-interop-secret';
  readonly mpPassword = 'mp-interop-secret';
  private proc?: ChildProcess;
  private output = '';

  readonly version: MasterVersion;

  constructor(private readonly options: RealMasterOptions = {}) {
    this.version = options.version ?? '3.7';
    // The 4.3 root sees the host's /tmp (bind-mounted) and nothing else of it.
    this.dir = mkdtempSync(path.join(this.version === '3.7' ? os.tmpdir() : '/tmp', 'interop-master-'));
    this.dataDir = path.join(this.dir, 'data');
    mkdirSync(this.dataDir);
    // The www plugin is copied beside the master, where both masters can import it.
    cpSync(WWW_BASE, path.join(this.dir, 'www-base'), { recursive: true });
  }

  /** The master's own pid (for 4.3 too: its start command execs down to the master's python). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get api(): string {
    return `http://127.0.0.1:${this.wwwPort}/api/v2`;
  }

  async start(): Promise<void> {
    this.pbPort = await freePort();
    this.mpPort = await freePort();
    this.wwwPort = await freePort();
    const env = this.env();
    const mdir = path.join(this.dir, 'master');
    const [cmd, createArgs] = buildbotCommand(this.version, ['create-master', '-q', mdir]);
    const created = spawnSync(cmd, createArgs, { cwd: this.dir, env, encoding: 'utf8' });
    if (created.status !== 0) throw new Error(`buildbot create-master failed: ${created.stderr}${created.stdout}`);
    copyFileSync(this.options.config ?? path.join(REPO_ROOT, 'test', 'interop', 'master.cfg'), path.join(mdir, 'master.cfg'));
    const [startCmd, startArgs] = buildbotCommand(this.version, ['start', '--nodaemon', mdir]);
    // The 4.3 command execs down to the master's python: this pid is the master's.
    this.proc = spawn(startCmd, startArgs, { cwd: this.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-20000);
    };
    this.proc.stdout!.on('data', keep);
    this.proc.stderr!.on('data', keep);
    const proc = this.proc;
    let exited = false;
    // Requests fail until the master listens: they are retried.
    await eventually(
      async () => {
        exited = proc.exitCode !== null;
        if (exited) return true;
        const r = await this.get('/builders');
        return Array.isArray(r.builders) && r.builders.length > 0;
      },
      'the master to start',
      120_000,
      { ...REST_POLLING, context: () => this.log() },
    );
    if (exited) throw new Error(`master exited: ${this.log()}`);
  }

  /** The tail of the master's own log, for failure messages. */
  log(): string {
    const file = path.join(this.dir, 'master', 'twistd.log');
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    return (this.output + '\n' + text).slice(-8000);
  }

  private env(): NodeJS.ProcessEnv {
    return {
      PATH: '/usr/bin:/bin',
      HOME: this.dir,
      LANG: 'C.UTF-8',
      PYTHONPATH: path.join(this.dir, 'www-base'),
      INTEROP_PB_PORT: String(this.pbPort),
      INTEROP_MP_PORT: String(this.mpPort),
      INTEROP_WWW_PORT: String(this.wwwPort),
      INTEROP_DATA_DIR: this.dataDir,
      INTEROP_PB_PASSWORD: this.pbPassword,
      INTEROP_MP_PASSWORD: this.mpPassword,
      ...this.options.env,
    };
  }

  writeData(name: string, data: Buffer | string): void {
    writeFileSync(path.join(this.dataDir, name), data);
  }

  /**
   * GET a REST resource. Plain node:http with a ref'd deadline and a fresh connection per
   * request: a fetch() whose AbortSignal.timeout timer was collected once left a run waiting
   * forever with no socket and no timer. A GET that times out or fails is tried again.
   */
  async get(p: string, timeoutMs = 30_000): Promise<any> {
    let last: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const res = await httpRequest('GET', this.api + p, undefined, timeoutMs);
        if (res.status !== 200) throw new Error(`GET ${p}: HTTP ${res.status}`);
        return JSON.parse(res.body);
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  async rpc(p: string, method: string, params: Record<string, unknown>): Promise<any> {
    const res = await httpRequest('POST', this.api + p, JSON.stringify({ jsonrpc: '2.0', method, params, id: 1 }), 30_000);
    const body: any = JSON.parse(res.body);
    if (body.error) throw new Error(`rpc ${method} ${p}: ${JSON.stringify(body.error)}`);
    return body.result;
  }

  async workerConnected(name: string): Promise<boolean> {
    const r = await this.get(`/workers/${name}`);
    return (r.workers?.[0]?.connected_to?.length ?? 0) > 0;
  }

  async waitWorker(name: string, timeoutMs = 60_000): Promise<void> {
    await eventually(() => this.workerConnected(name), `worker ${name} to connect`, timeoutMs, { ...REST_POLLING, context: () => this.log() });
  }

  /** Force a build; resolves to its build request id. */
  async force(builder: string): Promise<number> {
    const b = await this.get(`/builders?name=${encodeURIComponent(builder)}`);
    const builderid = b.builders[0].builderid;
    const res = await this.rpc('/forceschedulers/force', 'force', { builderid: String(builderid), reason: 'interop', username: '' });
    return Number(Object.values(res[1])[0]);
  }

  async buildOf(brid: number): Promise<number | undefined> {
    const r = await this.get(`/buildrequests/${brid}/builds`);
    return r.builds?.[0]?.buildid;
  }

  /** Wait until step `stepName` of the build of `brid` has started; resolves to the build id. */
  async waitStepStarted(brid: number, stepName: string, timeoutMs = 60_000): Promise<number> {
    let buildid: number | undefined;
    await eventually(
      async () => {
        buildid = await this.buildOf(brid);
        if (buildid === undefined) return false;
        const s = await this.get(`/builds/${buildid}/steps`);
        return s.steps.some((st: any) => st.name === stepName && st.started_at);
      },
      `step ${stepName} to start`,
      timeoutMs,
      { ...REST_POLLING, context: () => this.log() },
    );
    return buildid!;
  }

  async stopBuild(buildid: number, reason = 'interop: interrupt test'): Promise<void> {
    await this.rpc(`/builds/${buildid}`, 'stop', { reason });
  }

  async waitBuild(brid: number, timeoutMs = 180_000): Promise<BuildResult> {
    await eventually(
      async () => {
        const r = await this.get(`/buildrequests/${brid}`);
        return Boolean(r.buildrequests?.[0]?.complete);
      },
      `build request ${brid}`,
      timeoutMs,
      { ...REST_POLLING, context: () => this.log() },
    );
    const build = (await this.get(`/buildrequests/${brid}/builds`)).builds[0];
    const steps: StepResult[] = [];
    for (const st of (await this.get(`/builds/${build.buildid}/steps`)).steps) {
      const logs: Record<string, string> = {};
      const channels: Record<string, { o: string; e: string; h: string }> = {};
      for (const lg of (await this.get(`/builds/${build.buildid}/steps/${st.number}/logs`)).logs) {
        // A 20 MB log takes the 4.3 master minutes to serve on a loaded machine.
        const contents = await this.get(`/logs/${lg.logid}/contents`, 10 * 60_000);
        const text = contents.logchunks.map((c: any) => c.content).join('');
        if (lg.type === 's') {
          const ch = { o: '', e: '', h: '' };
          let plain = '';
          for (const line of text.split('\n')) {
            if (line === '') continue;
            const kind = line[0] as 'o' | 'e' | 'h';
            const body = line.slice(1) + '\n';
            if (kind in ch) ch[kind] += body;
            plain += body;
          }
          channels[lg.slug] = ch;
          logs[lg.slug] = plain;
        } else {
          logs[lg.slug] = text;
        }
      }
      steps.push({ name: st.name, number: st.number, results: st.results, state_string: st.state_string, logs, channels });
    }
    return { buildid: build.buildid, results: build.results, state_string: build.state_string, steps };
  }

  async runBuild(builder: string, timeoutMs = 180_000): Promise<BuildResult> {
    return this.waitBuild(await this.force(builder), timeoutMs);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    p.kill('SIGTERM');
    await Promise.race([new Promise((r) => p.once('exit', r)), delay(20_000)]);
    if (p.exitCode === null) p.kill('SIGKILL');
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polling a real master's REST API: a pause that does not load it, and a request that fails is retried. */
export const REST_POLLING: EventuallyOptions = { intervalMs: 250, retryErrors: true };

/** One HTTP request on its own connection, rejected after `timeoutMs` whatever happens. */
function httpRequest(method: string, url: string, body: string | undefined, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`${method} ${url}: no complete answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(body);
  });
}
