import type { ContenderId, Protocol } from './contenders.js';

/** One row of the results table: a metric measured for both workers on one protocol. */

export type Better = 'higher' | 'lower';

export interface Target {
  /** How the target reads in the table, e.g. `≥5×`. */
  text: string;
  met: boolean;
}

export interface Measurement {
  scenario: string;
  metric: string;
  protocol: Protocol | 'both';
  unit: string;
  better: Better;
  values: Partial<Record<ContenderId, number>>;
  /** Where `values` are medians of repeated runs: the smallest and largest run, and how many. */
  spread?: Partial<Record<ContenderId, Spread>>;
  /** Why a value is missing (e.g. the Python worker cannot run this protocol here). */
  missing?: Partial<Record<ContenderId, string>>;
  /** A physical reference in the same unit (e.g. a raw loopback copy), if there is one. */
  reference?: { label: string; value: number };
  targets?: Target[];
  note?: string;
}

export interface Spread {
  min: number;
  max: number;
  runs: number;
}

/** this worker / Python, or undefined when one side is missing. */
export function ratio(m: Measurement): number | undefined {
  const ours = m.values.ts;
  const theirs = m.values.python;
  if (ours === undefined || theirs === undefined || theirs === 0) return undefined;
  return ours / theirs;
}

/** How every ratio target's text ends. */
const RATIO_TARGET_SUFFIX = '× Python';

/** Ratio targets: `≥k×` for higher-is-better metrics, `≤k×` for lower-is-better ones. */
export function ratioTarget(m: Pick<Measurement, 'values'>, op: '>=' | '<=', k: number): Target {
  const r = ratio(m as Measurement);
  return { text: `${op === '>=' ? '≥' : '≤'}${k}${RATIO_TARGET_SUFFIX}`, met: r !== undefined && (op === '>=' ? r >= k : r <= k) };
}

/** False when a missing value leaves `t` unmeasured: a ratio without Python's value, anything without ours. */
export function targetMeasured(m: Measurement, t: Target): boolean {
  return m.values.ts !== undefined && (ratio(m) !== undefined || !t.text.endsWith(RATIO_TARGET_SUFFIX));
}

/** A target on this worker's own value. */
export function absoluteTarget(text: string, value: number | undefined, ok: (v: number) => boolean): Target {
  return { text, met: value !== undefined && ok(value) };
}

/** The peak-memory goal of every workload: at most 1.2× Python's and at most this, in MB. */
export const PEAK_RSS_LIMIT_MB = 100;

/** A worker's peak resident memory over a workload, in MB: all of it, and its private (RssAnon) part. */
export interface PeakMemory {
  rss: number;
  private: number;
}

/** The targets of a peak-RSS row. */
export function peakRssTargets(m: Measurement): Target[] {
  return [ratioTarget(m, '<=', 1.2), absoluteTarget(`≤${PEAK_RSS_LIMIT_MB} MB`, m.values.ts, (v) => v <= PEAK_RSS_LIMIT_MB)];
}

/**
 * A workload's two memory rows from its peaks per worker: peak RSS, with the goal's targets,
 * and peak private memory (RssAnon, see proc-stats.ts), which leaves out the binary's shared
 * file pages and shows what each worker itself holds.
 */
export function peakMemoryRows(row: Pick<Measurement, 'scenario' | 'protocol' | 'missing'>, peak: (f: (p: PeakMemory) => number) => Measurement['values']): Measurement[] {
  const rss: Measurement = { ...row, metric: 'worker peak RSS', unit: 'MB', better: 'lower', values: peak((p) => p.rss) };
  rss.targets = peakRssTargets(rss);
  const own: Measurement = { ...row, metric: 'worker peak private memory (RssAnon)', unit: 'MB', better: 'lower', values: peak((p) => p.private) };
  return [rss, own];
}

/** Median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The p-th percentile (0–100, nearest rank) of a non-empty list. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** The median of `xs` and its spread. */
export function medianSpread(xs: number[]): { median: number; spread: Spread } {
  return { median: median(xs), spread: { min: Math.min(...xs), max: Math.max(...xs), runs: xs.length } };
}
