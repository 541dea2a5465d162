import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { createReadStream, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { BB43_SCRIPT, delay, RealMaster, realMasterUnavailable, SUCCESS, type BuildResult, type MasterVersion } from '../../test/interop/real-master.js';
import type { BenchContext } from '../compare.js';
import { createWorker, pythonUnavailable, pythonWorkerVersion, type ContenderId, type Protocol, type RunningBenchWorker } from '../contenders.js';
import { writeBinaryFile, writeLogFile, writeSmallFiles } from '../data.js';
import { cpuSeconds, MB, RssSeries } from '../proc-stats.js';
import { medianSpread, peakRssTargets, percentile, ratioTarget, type Measurement, type Spread, type Target } from '../results.js';

/**
 * The embedded sections' workloads on real Buildbot masters (Debian's 3.7 and 4.3), each
 * with this worker and that master's own Python worker release attached on both protocols
 * (bench/real-master.cfg). Builds are forced through the REST API and timed from the force
 * until the master reports them complete (polled every ¼ s); the master's CPU comes from
 * the master's own pid, the worker's from the worker's. The two workers alternate, in
 * turned-around order every other run, and the medians of `repeat` runs are reported with
 * their min–max. Every build's output is checked, so a broken run cannot give a figure.
 */

export const NAME = 'real-master';

const SOURCE_BENCH = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..', 'bench');

export const WORKLOADS = ['log', 'upload', 'download', 'directory', 'steps', 'builders'] as const;
export type Workload = (typeof WORKLOADS)[number];

/** The embedded sections' full sizes; `--real-scale` multiplies them, `--quick` replaces them. */
const FULL = { logMB: 200, fileMB: 1024, files: 20_000, steps: 500, builders: 50, builderLogMB: 8 };
const QUICK = { logMB: 2, fileMB: 8, files: 200, steps: 10, builders: 5, builderLogMB: 0.5 };
type Sizes = typeof FULL;
/**
 * The default factor: the full sizes take one to two and a half hours for both masters and
 * protocols, this keeps the section under about 30 minutes on a quiet 2-core machine
 * (bench/README.md).
 */
export const DEFAULT_REAL_SCALE = 0.1;

export function sizesFor(quick: boolean, scale = DEFAULT_REAL_SCALE): Sizes {
  if (quick) return QUICK;
  const r = (x: number, min: number): number => Math.max(min, Math.round(x * scale));
  return {
    logMB: r(FULL.logMB, 1),
    fileMB: r(FULL.fileMB, 1),
    files: r(FULL.files, 10),
    steps: r(FULL.steps, 1),
    // The builder count stays: it is what the workload is about; their logs shrink.
    builders: FULL.builders,
    builderLogMB: Math.max(0.1, Math.round(FULL.builderLogMB * scale * 10) / 10),
  };
}

/**
 * On msgpack, both masters (3.7 and 4.3 alike) answer every update_read_file with null: their
 * call_update_read_file (buildbot/worker/protocols/manager/msgpack.py) drops what the file
 * reader returned. A FileDownload then writes an empty file with either worker.
 */
const MSGPACK_READ_BUG =
  'on msgpack the master (3.7 and 4.3 alike) answers every update_read_file with null (call_update_read_file drops what it read), so a FileDownload writes an empty file with either worker (bench/README.md)';

function brokenOn(protocol: Protocol, w: Workload): string | undefined {
  return protocol === 'msgpack' && w === 'download' ? MSGPACK_READ_BUG : undefined;
}

interface Sample {
  seconds: number;
  masterCpu: number;
  workerCpu: number;
  peakRss: number;
  privatePeak: number;
  rss: number[];
}

interface Attached {
  contender: ContenderId;
  protocol: Protocol;
  name: string;
  basedir: string;
  worker: RunningBenchWorker;
}

/** What a text file holds, to check a log against: its line count and last line. */
async function lineSummary(file: string): Promise<{ lines: number; last: string }> {
  let lines = 0;
  let tail = Buffer.alloc(0);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    tail = Buffer.concat([tail, chunk]).subarray(-8192);
  }
  const text = tail.toString('latin1').replace(/\n$/, '');
  return { lines, last: text.slice(text.lastIndexOf('\n') + 1) };
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) h.update(chunk);
  return h.digest('hex');
}

function countFiles(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
}

interface Inputs {
  logFile: string;
  log: { lines: number; last: string };
  bigFile: string;
  bigSha: string;
  bigBytes: number;
  tree: string;
  builderLog: string;
  builderLogSummary: { lines: number; last: string };
}

async function makeInputs(dir: string, s: Sizes): Promise<Inputs> {
  const logFile = path.join(dir, 'log.txt');
  const bigFile = path.join(dir, 'big.bin');
  const tree = path.join(dir, 'tree');
  const builderLog = path.join(dir, 'builder-log.txt');
  writeLogFile(logFile, Math.round(s.logMB * MB), 11);
  writeBinaryFile(bigFile, Math.round(s.fileMB * MB), 12);
  writeSmallFiles(tree, s.files, 13);
  writeLogFile(builderLog, Math.round(s.builderLogMB * MB), 14);
  return {
    logFile,
    log: await lineSummary(logFile),
    bigFile,
    bigSha: await sha256(bigFile),
    bigBytes: statSync(bigFile).size,
    tree,
    builderLog,
    builderLogSummary: await lineSummary(builderLog),
  };
}

/** The fields of a build row of the REST API that the checks read. */
type BuildRow = Pick<BuildResult, 'buildid' | 'results' | 'state_string'>;

/** Force `scheduler` (one builder of it, or all of them) and wait until the buildset is complete. */
async function forceAndWait(master: RealMaster, scheduler: string, builder: string | undefined, timeoutMs: number): Promise<{ bsid: number; done: () => Promise<BuildRow[]> }> {
  const params: Record<string, unknown> = { reason: 'bench', username: '' };
  if (builder !== undefined) {
    const b = await master.get(`/builders?name=${encodeURIComponent(builder)}`);
    params.builderid = String(b.builders[0].builderid);
  }
  const [bsid] = (await master.rpc(`/forceschedulers/${scheduler}`, 'force', params)) as [number, Record<string, number>];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await master.get(`/buildsets/${bsid}`);
    if (r.buildsets?.[0]?.complete) break;
    if (Date.now() > deadline) throw new Error(`buildset ${bsid} (${builder ?? scheduler}) not complete after ${timeoutMs / 1000} s\n${master.log()}`);
    await delay(250);
  }
  return {
    bsid,
    done: async () => {
      const brs = (await master.get(`/buildrequests?buildsetid=${bsid}`)).buildrequests as Array<{ buildrequestid: number }>;
      const builds: BuildRow[] = [];
      for (const br of brs) builds.push(...(await master.get(`/buildrequests/${br.buildrequestid}/builds`)).builds);
      return builds;
    },
  };
}

/**
 * The stdio log of step `stepName` holds the file's lines on stdout and ends with its last
 * line. The master's line count includes the header lines the worker adds before and after
 * the output; those are read (first and last 100 lines) rather than the whole log.
 */
async function checkLog(master: RealMaster, buildid: number, stepName: string, want: { lines: number; last: string }): Promise<void> {
  const steps = (await master.get(`/builds/${buildid}/steps`)).steps as Array<{ stepid: number; name: string }>;
  const step = steps.find((s) => s.name === stepName);
  if (!step) throw new Error(`build ${buildid} has no step ${stepName}`);
  const log = ((await master.get(`/steps/${step.stepid}/logs`)).logs as Array<{ logid: number; slug: string; num_lines: number }>).find((l) => l.slug === 'stdio');
  if (!log) throw new Error(`build ${buildid} step ${stepName} has no stdio log`);
  const lines = async (offset: number, limit: number): Promise<string[]> => {
    const r = await master.get(`/logs/${log.logid}/contents?offset=${offset}&limit=${limit}`);
    return ((r.logchunks ?? []) as Array<{ content: string }>).flatMap((c) => c.content.replace(/\n$/, '').split('\n'));
  };
  const edge = Math.min(100, log.num_lines);
  const head = await lines(0, edge);
  const tail = await lines(Math.max(edge, log.num_lines - 100), 100);
  const other = [...head, ...tail].filter((l) => !l.startsWith('o')).length;
  const stdout = log.num_lines - other;
  if (stdout !== want.lines) throw new Error(`build ${buildid}: the master stored ${stdout} stdout lines, the file has ${want.lines}`);
  const lastOut = [...head, ...tail].filter((l) => l.startsWith('o')).pop();
  if (lastOut !== `o${want.last}`) throw new Error(`build ${buildid}: the stored output ends with ${JSON.stringify(lastOut?.slice(0, 80))}, not the file's last line`);
}

/** Run workload `w` once on worker `a`: measure it, check what it produced, clean up. */
async function once(master: RealMaster, masterPid: number, a: Attached, w: Workload, inputs: Inputs, s: Sizes): Promise<Sample> {
  const builder = w === 'builders' ? undefined : `${w}-${a.name}`;
  const builddir = builder === undefined ? '' : path.join(a.basedir, builder, 'build');
  if (builder !== undefined) mkdirSync(builddir, { recursive: true });
  // Inputs are linked in before the force so that the build is the transfer alone.
  if (w === 'upload') linkSync(inputs.bigFile, path.join(builddir, 'big.bin'));
  if (w === 'directory') {
    const cp = spawnSync('cp', ['-al', inputs.tree, path.join(builddir, 'tree')], { encoding: 'utf8' });
    if (cp.status !== 0) throw new Error(`cp -al of the file tree failed: ${cp.stderr}`);
  }
  const rss = new RssSeries(a.worker.pid, 100);
  const m0 = cpuSeconds(masterPid);
  const w0 = cpuSeconds(a.worker.pid);
  const t0 = performance.now();
  const forced = await forceAndWait(master, builder === undefined ? `builders-${a.name}` : 'force', builder, 60 * 60_000);
  const seconds = (performance.now() - t0) / 1000;
  const masterCpu = cpuSeconds(masterPid) - m0;
  const workerCpu = cpuSeconds(a.worker.pid) - w0;
  const { samples, peak, privatePeak } = rss.stop();

  const builds = await forced.done();
  const want = w === 'builders' ? s.builders : 1;
  if (builds.length !== want) throw new Error(`${w} on ${a.name}: ${builds.length} builds, expected ${want}`);
  for (const b of builds) if (b.results !== SUCCESS) throw new Error(`${w} on ${a.name}: build ${b.buildid} ${b.state_string}\n${master.log()}`);
  switch (w) {
    case 'log':
      await checkLog(master, builds[0].buildid, 'log', inputs.log);
      break;
    case 'builders':
      for (const b of builds) await checkLog(master, b.buildid, 'log', inputs.builderLogSummary);
      break;
    case 'upload': {
      const dest = path.join(master.dataDir, `${a.name}-big.bin`);
      const size = statSync(dest).size;
      if (size !== inputs.bigBytes || (await sha256(dest)) !== inputs.bigSha)
        throw new Error(`upload on ${a.name}: the master got ${size} bytes, not the file's ${inputs.bigBytes} (or another sha256)`);
      rmSync(dest);
      rmSync(path.join(builddir, 'big.bin'));
      break;
    }
    case 'download': {
      const dest = path.join(builddir, 'down.bin');
      const size = statSync(dest).size;
      if (size !== inputs.bigBytes) throw new Error(`download on ${a.name}: the worker wrote ${size} bytes, not ${inputs.bigBytes}`);
      rmSync(dest);
      break;
    }
    case 'directory': {
      const dest = path.join(master.dataDir, `${a.name}-tree`);
      const n = countFiles(dest);
      if (n !== s.files) throw new Error(`directory upload on ${a.name}: the master unpacked ${n} files, not ${s.files}`);
      rmSync(dest, { recursive: true });
      rmSync(path.join(builddir, 'tree'), { recursive: true });
      break;
    }
    case 'steps': {
      const steps = (await master.get(`/builds/${builds[0].buildid}/steps`)).steps as Array<{ name: string; results: number }>;
      const ran = steps.filter((st) => /^s\d+$/.test(st.name) && st.results === SUCCESS).length;
      if (ran !== s.steps) throw new Error(`steps on ${a.name}: ${ran} of ${s.steps} steps succeeded`);
      break;
    }
  }
  return { seconds, masterCpu, workerCpu, peakRss: peak, privatePeak, rss: samples };
}

const SPARK = '▁▂▃▄▅▆▇█';

/** RSS over a build as `width` characters, each the highest sample of its slice of the build. */
function sparkline(samples: number[], lo: number, hi: number, width = 24): string {
  if (samples.length === 0) return '';
  let out = '';
  for (let i = 0; i < width; i++) {
    const slice = samples.slice(Math.floor((i * samples.length) / width), Math.max(Math.floor(((i + 1) * samples.length) / width), Math.floor((i * samples.length) / width) + 1));
    const v = Math.max(...slice);
    out += SPARK[hi > lo ? Math.min(SPARK.length - 1, Math.floor(((v - lo) / (hi - lo)) * SPARK.length)) : 0];
  }
  return out;
}

function label(w: Workload, s: Sizes): string {
  const mb = (x: number): string => (x >= 1024 && x % 1024 === 0 ? `${x / 1024} GiB` : `${x} MB`);
  switch (w) {
    case 'log':
      return `${mb(s.logMB)} log`;
    case 'upload':
      return `${mb(s.fileMB)} FileUpload`;
    case 'download':
      return `${mb(s.fileMB)} FileDownload`;
    case 'directory':
      return `${s.files}-file DirectoryUpload`;
    case 'steps':
      return `${s.steps}-step build`;
    case 'builders':
      return `${s.builders} builders at once, ${mb(s.builderLogMB)} log each`;
  }
}

/** The rows of one workload on one master and protocol, from each worker's samples. */
function rows(
  version: MasterVersion,
  protocol: Protocol,
  w: Workload,
  s: Sizes,
  samples: Partial<Record<ContenderId, Sample[]>>,
  missing: Partial<Record<ContenderId, string>>,
  pyVersion: string,
): Measurement[] {
  const scenario = `real ${version} master: ${label(w, s)}`;
  // The goals of each row (bench/README.md): the master's CPU matters most, being shared by every worker.
  const masterCpuTargets = (m: Measurement): Target[] => [ratioTarget(m, '<=', 1.0), ...(w === 'log' || w === 'directory' ? [ratioTarget(m, '<=', 0.8)] : [])];
  const metrics: Array<{ metric: string; unit: string; pick: (x: Sample) => number; targets?: (m: Measurement) => Target[] }> = [
    { metric: 'wall time (force → complete)', unit: 's', pick: (x) => x.seconds, targets: (m) => [ratioTarget(m, '<=', 1.0)] },
    { metric: 'master CPU (user+sys)', unit: 's', pick: (x) => x.masterCpu, targets: masterCpuTargets },
    { metric: 'worker CPU (user+sys)', unit: 's', pick: (x) => x.workerCpu },
    { metric: 'worker peak RSS', unit: 'MB', pick: (x) => x.peakRss / MB, targets: peakRssTargets },
    { metric: 'worker peak private memory (RssAnon)', unit: 'MB', pick: (x) => x.privatePeak / MB },
    { metric: 'worker RSS p50 over the build', unit: 'MB', pick: (x) => percentile(x.rss, 50) / MB },
    { metric: 'worker RSS p90 over the build', unit: 'MB', pick: (x) => percentile(x.rss, 90) / MB },
  ];
  const out: Measurement[] = [];
  for (const { metric, unit, pick, targets } of metrics) {
    const values: Partial<Record<ContenderId, number>> = {};
    const spread: Partial<Record<ContenderId, Spread>> = {};
    for (const [c, xs] of Object.entries(samples) as Array<[ContenderId, Sample[]]>) {
      if (!xs.length) continue;
      const m = medianSpread(xs.map(pick));
      values[c] = m.median;
      spread[c] = m.spread;
    }
    const m: Measurement = { scenario, metric, protocol, unit, better: 'lower', values, spread, missing: Object.keys(missing).length ? missing : undefined };
    if (targets) m.targets = targets(m);
    out.push(m);
  }
  // RSS over time: the run with the median wall time of each worker, each on its own scale.
  const series = (Object.entries(samples) as Array<[ContenderId, Sample[]]>)
    .filter(([, xs]) => xs.length)
    .map(([c, xs]) => [c, [...xs].sort((p, q) => p.seconds - q.seconds)[xs.length >> 1].rss] as const);
  if (series.length) {
    const who = (c: ContenderId): string => (c === 'ts' ? 'this worker' : `Python ${pyVersion}`);
    const line = ([c, r]: readonly [ContenderId, number[]]): string => {
      const lo = Math.min(...r);
      const hi = Math.max(...r);
      return `${who(c)} ${(lo / MB).toFixed(0)}–${(hi / MB).toFixed(0)} MB ${sparkline(r, lo, hi)}`;
    };
    out[3].note = `RSS over the build (run with the median wall time, sampled every 100 ms): ${series.map(line).join('; ')}`;
  }
  return out;
}

async function onMaster(ctx: BenchContext, version: MasterVersion, s: Sizes, repeat: number): Promise<Measurement[]> {
  // The 4.3 root shares /tmp with the host and nothing else of it (scripts/buildbot-4.3.sh).
  const dir = mkdtempSync('/tmp/bench-real-');
  const pyVersion = pythonWorkerVersion(version) ?? 'not installed';
  let master: RealMaster | undefined;
  const attached: Attached[] = [];
  const out: Measurement[] = [];
  try {
    ctx.progress(`  ${version} master: writing the inputs`);
    const inputs = await makeInputs(dir, s);
    master = new RealMaster({
      version,
      config: path.join(SOURCE_BENCH, 'real-master.cfg'),
      env: {
        BENCH_LOG_FILE: inputs.logFile,
        BENCH_BIG_FILE: inputs.bigFile,
        BENCH_STEPS: String(s.steps),
        BENCH_BUILDERS: String(s.builders),
        BENCH_BUILDER_LOG_FILE: inputs.builderLog,
      },
    });
    await master.start();
    const masterPid = master.pid;
    if (masterPid === undefined) throw new Error('the real master has no pid');
    // Its CPU must be the master's python's, not a wrapper's (scripts/buildbot-4.3.sh execs down to it).
    const comm = readFileSync(`/proc/${masterPid}/comm`, 'latin1').trim();
    if (!comm.startsWith('python')) throw new Error(`the real master's pid ${masterPid} is ${comm}, not its python`);
    const missing = new Map<Protocol, Partial<Record<ContenderId, string>>>();
    for (const protocol of ctx.protocols) {
      const miss: Partial<Record<ContenderId, string>> = {};
      missing.set(protocol, miss);
      for (const contender of ctx.contenders) {
        const skip = contender === 'python' ? pythonUnavailable(protocol, version) : undefined;
        if (skip) {
          miss[contender] = skip;
          continue;
        }
        const name = `${contender === 'ts' ? 'ts' : 'py'}-${protocol === 'pb' ? 'pb' : 'mp'}`;
        const spec = { port: protocol === 'pb' ? master.pbPort : master.mpPort, protocol, name, password: protocol === 'pb' ? master.pbPassword : master.mpPassword };
        const created = await createWorker(contender, spec, dir, version);
        attached.push({ contender, protocol, name, basedir: created.basedir, worker: created.start() });
      }
    }
    for (const a of attached) await master.waitWorker(a.name);
    for (const protocol of ctx.protocols) {
      const here = attached.filter((a) => a.protocol === protocol);
      for (const w of WORKLOADS.filter((x) => !ctx.workloads || ctx.workloads.includes(x))) {
        const broken = brokenOn(protocol, w);
        const samples: Partial<Record<ContenderId, Sample[]>> = {};
        if (!broken) {
          for (let rep = 0; rep < repeat; rep++) {
            // Turn the order around every other run, so that neither worker always goes first.
            const order = rep % 2 === 0 ? here : [...here].reverse();
            for (const a of order) {
              const x = await once(master!, masterPid, a, w, inputs, s);
              (samples[a.contender] ??= []).push(x);
              ctx.progress(
                `  ${version} ${protocol} ${w} ${a.contender} ${rep + 1}/${repeat}: ${x.seconds.toFixed(2)} s, master CPU ${x.masterCpu.toFixed(2)} s, worker CPU ${x.workerCpu.toFixed(2)} s, peak RSS ${(x.peakRss / MB).toFixed(0)} MB`,
              );
            }
          }
        }
        const miss = broken ? { ts: broken, python: broken } : missing.get(protocol)!;
        out.push(...rows(version, protocol, w, s, samples, miss, pyVersion));
      }
    }
    out[0].note = `the ${version} master ran with ${version === '3.7' ? "Debian's" : 'its own'} Python buildbot-worker ${pyVersion}${version === '4.3' ? ` (through ${path.relative(path.join(SOURCE_BENCH, '..'), BB43_SCRIPT)} run buildbot-worker)` : ''}; ${repeat} run(s) per worker and workload, alternating, medians with min–max`;
  } finally {
    await Promise.all(attached.map((a) => a.worker.stop()));
    if (master) {
      await master.stop();
      rmSync(master.dir, { recursive: true, force: true });
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

export async function run(ctx: BenchContext): Promise<Measurement[] | { skipped: string }> {
  const s = sizesFor(ctx.quick, ctx.realScale);
  const repeat = ctx.repeat ?? 3;
  const out: Measurement[] = [];
  const skipped: string[] = [];
  for (const version of ctx.masters ?? ['3.7', '4.3']) {
    const why = realMasterUnavailable(version);
    if (why) {
      skipped.push(`${version}: ${why}`);
      ctx.progress(`  ${version} master skipped: ${why}`);
      continue;
    }
    out.push(...(await onMaster(ctx, version, s, repeat)));
  }
  if (!out.length) return { skipped: skipped.join('; ') };
  if (skipped.length) out[0].note = `${out[0].note ?? ''}; not run: ${skipped.join('; ')}`;
  return out;
}
