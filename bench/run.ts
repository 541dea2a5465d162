/**
 * Benchmarks: this worker against Python's buildbot-worker on the same master in the same
 * run. `npm run bench [-- --quick] [-- --only NAME[,NAME]] [-- --protocol pb|msgpack] [-- --out DIR]`.
 * Writes DIR/results.md and DIR/results.svg (DIR defaults to the source bench/ directory).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchRoot, PYTHON_WORKER, type ContenderId, type Protocol } from './contenders.js';
import type { BenchContext } from './compare.js';
import { renderMarkdown, type RunInfo } from './report.js';
import type { Measurement } from './results.js';
import { renderSvg } from './svg.js';
import { MASTER_VERSIONS, type MasterVersion } from '../test/interop/real-master.js';
import * as concurrency from './scenarios/concurrency.js';
import * as logStreaming from './scenarios/log-streaming.js';
import * as perStep from './scenarios/per-step.js';
import * as realMaster from './scenarios/real-master.js';
import * as startup from './scenarios/startup.js';
import * as transfers from './scenarios/transfers.js';

/** This file runs from dist/bench; the sources (and the default output) are in bench/. */
export const SOURCE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench');

export interface Scenario {
  NAME: string;
  run(ctx: BenchContext): Promise<Measurement[] | { skipped: string }>;
}

export const SCENARIOS: Scenario[] = [logStreaming, transfers, perStep, startup, concurrency, realMaster];

export interface BenchOptions {
  quick: boolean;
  only?: string[];
  protocols: Protocol[];
  contenders: ContenderId[];
  outDir: string;
  keep: boolean;
  /** Only render results.md and results.svg again from the results.json of an earlier run. */
  renderOnly: boolean;
  /** real-master section: runs per worker and workload, masters, size factor. */
  repeat: number;
  masters: MasterVersion[];
  realScale?: number;
  workloads?: string[];
}

function positive(option: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${option} needs a positive number, not ${v}`);
  return n;
}

export function parseArgs(argv: string[]): BenchOptions {
  const o: BenchOptions = { quick: false, protocols: ['pb', 'msgpack'], contenders: ['python', 'ts'], outDir: SOURCE_DIR, keep: false, renderOnly: false, repeat: 3, masters: [...MASTER_VERSIONS] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--keep') o.keep = true;
    else if (a === '--render-only') o.renderOnly = true;
    else if (a === '--only') o.only = [...(o.only ?? []), ...value().split(',')];
    else if (a === '--protocol') {
      const p = value();
      if (p !== 'pb' && p !== 'msgpack') throw new Error(`--protocol is pb or msgpack, not ${p}`);
      o.protocols = [p];
    } else if (a === '--contender') {
      const c = value();
      if (c !== 'ts' && c !== 'python') throw new Error(`--contender is ts or python, not ${c}`);
      o.contenders = [c];
    } else if (a === '--out') o.outDir = path.resolve(value());
    else if (a === '--repeat') o.repeat = Math.round(positive(a, value()));
    else if (a === '--real-scale') o.realScale = positive(a, value());
    else if (a === '--workloads') {
      const ws = value().split(',');
      for (const w of ws) if (!(realMaster.WORKLOADS as readonly string[]).includes(w)) throw new Error(`--workloads takes ${realMaster.WORKLOADS.join(',')}, not ${w}`);
      o.workloads = ws;
    } else if (a === '--masters') {
      const ms = value().split(',');
      for (const m of ms) if (!(MASTER_VERSIONS as readonly string[]).includes(m)) throw new Error(`--masters takes ${MASTER_VERSIONS.join(',')}, not ${m}`);
      o.masters = ms as MasterVersion[];
    } else if (a === '--help' || a === '-h') {
      console.log(
        `usage: node dist/bench/run.js [--quick] [--only ${SCENARIOS.map((s) => s.NAME).join('|')}] [--protocol pb|msgpack] [--contender ts|python] [--out DIR] [--keep] [--render-only] [--masters ${MASTER_VERSIONS.join(',')}] [--repeat N] [--real-scale F] [--workloads ${realMaster.WORKLOADS.join(',')}]`,
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  for (const name of o.only ?? []) {
    if (!SCENARIOS.some((s) => s.NAME === name)) throw new Error(`unknown scenario ${name}; known: ${SCENARIOS.map((s) => s.NAME).join(', ')}`);
  }
  return o;
}

function versions(): string {
  const ours = JSON.parse(readFileSync(path.join(SOURCE_DIR, '..', 'package.json'), 'utf8')).version as string;
  const py = spawnSync(PYTHON_WORKER, ['--version'], { encoding: 'utf8' });
  const pyVersion = py.status === 0 ? py.stdout.trim().split('\n').join(', ') : 'Python worker not installed';
  return `This worker ${ours} on Node ${process.version}; ${pyVersion}.`;
}

function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${os.release()}`;
}

export async function runBench(o: BenchOptions): Promise<{ rows: Measurement[]; markdown: string }> {
  const root = benchRoot();
  const ctx: BenchContext = {
    quick: o.quick,
    root,
    protocols: o.protocols,
    contenders: o.contenders,
    progress: (line) => console.error(line),
    repeat: o.repeat,
    masters: o.masters,
    realScale: o.realScale,
    workloads: o.workloads,
  };
  const rows: Measurement[] = [];
  const info: RunInfo = { quick: o.quick, date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC', machine: machine(), versions: versions(), notes: [], skipped: [] };
  const loads: string[] = [];
  try {
    for (const s of SCENARIOS) {
      if (o.only && !o.only.includes(s.NAME)) continue;
      ctx.progress(`== ${s.NAME}`);
      const t0 = performance.now();
      const r = await s.run(ctx);
      if ('skipped' in r) {
        info.skipped.push({ name: s.NAME, reason: r.skipped });
        ctx.progress(`   skipped: ${r.skipped}`);
      } else rows.push(...r);
      const load = os.loadavg()[1].toFixed(1);
      loads.push(`${s.NAME} ${load}`);
      ctx.progress(`   (${((performance.now() - t0) / 1000).toFixed(0)} s, load average ${load})`);
    }
  } finally {
    if (!o.keep) rmSync(root, { recursive: true, force: true });
  }
  info.notes.push(
    `5-minute load average of the machine (${os.cpus().length} cores) after each section: ${loads.join(', ')}. ` +
      'Other work on the machine slows both workers; each figure of the embedded sections is the best of the runs noted in bench/README.md, the real-master section gives medians with min–max.',
  );
  mkdirSync(o.outDir, { recursive: true });
  writeFileSync(path.join(o.outDir, 'results.json'), JSON.stringify({ info, rows }, null, 1) + '\n');
  return { rows, markdown: render(rows, info, o.outDir) };
}

/** Write results.md and results.svg for `rows`. */
function render(rows: Measurement[], info: RunInfo, outDir: string): string {
  const markdown = renderMarkdown(rows, info);
  writeFileSync(path.join(outDir, 'results.md'), markdown);
  writeFileSync(path.join(outDir, 'results.svg'), renderSvg(rows, `this worker vs Python buildbot-worker${info.quick ? ' (quick)' : ''}`));
  return markdown;
}

/** `--render-only`: the tables of an earlier run, rendered again (after a change to the rendering). */
export function renderAgain(outDir: string): string {
  const { info, rows } = JSON.parse(readFileSync(path.join(outDir, 'results.json'), 'utf8')) as { info: RunInfo; rows: Measurement[] };
  return render(rows, info, outDir);
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  let opts: BenchOptions;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  if (opts.renderOnly) {
    console.log(renderAgain(opts.outDir));
    process.exit(0);
  }
  runBench(opts).then(
    ({ markdown }) => {
      console.log(markdown);
      console.error(`wrote ${path.join(opts.outDir, 'results.md')} and results.svg`);
      process.exit(0);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
