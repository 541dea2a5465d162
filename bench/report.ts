import { CONTENDER_LABEL } from './contenders.js';
import { ratio, targetMeasured, type Measurement } from './results.js';

/** bench/results.md: the measurements as one markdown table, plus the run's conditions. */

export interface RunInfo {
  quick: boolean;
  date: string;
  machine: string;
  versions: string;
  notes: string[];
  /** Sections that did not run, with the reason. */
  skipped: Array<{ name: string; reason: string }>;
}

export function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(2);
}

const cell = (s: string): string => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

export function renderMarkdown(rows: Measurement[], info: RunInfo): string {
  const lines: string[] = [];
  lines.push(`# Benchmark results${info.quick ? ' (quick variant)' : ''}`);
  lines.push('');
  lines.push(`Run ${info.date} on ${info.machine}. ${info.versions}`);
  lines.push('');
  lines.push(
    `Both workers run against the same master in the same run, one after the other; "ratio" is ${CONTENDER_LABEL.ts} ÷ ${CONTENDER_LABEL.python}` +
      ' (for MB/s higher is better, for seconds, ms and MB lower is better). Where a value is followed by a range, it is the median of repeated runs and the range is their min–max. Regenerate with `npm run bench` (see bench/README.md).',
  );
  lines.push('');
  lines.push(`| Scenario | Metric | Protocol | ${CONTENDER_LABEL.ts} | ${CONTENDER_LABEL.python} | Ratio | Reference | Target |`);
  lines.push('| --- | --- | --- | ---: | ---: | ---: | --- | --- |');
  for (const m of rows) {
    const r = ratio(m);
    const val = (id: 'ts' | 'python') => {
      if (m.values[id] === undefined) return `n/a${m.missing?.[id] ? '¹' : ''}`;
      const s = m.spread?.[id];
      // Medians of repeated runs carry their range: "median unit (min–max, n runs)".
      return `${fmt(m.values[id])} ${m.unit}${s && s.runs > 1 ? ` (${fmt(s.min)}–${fmt(s.max)})` : ''}`;
    };
    const ref = m.reference ? `${fmt(m.reference.value)} ${m.unit} (${m.reference.label})` : '';
    const targets = (m.targets ?? []).map((t) => `${t.text} ${!targetMeasured(m, t) ? 'n/a' : t.met ? '✅' : '❌'}`).join('<br>');
    lines.push(`| ${cell(m.scenario)} | ${cell(m.metric)} | ${m.protocol} | ${val('ts')} | ${val('python')} | ${r === undefined ? '—' : `${fmt(r)}×`} | ${cell(ref)} | ${targets} |`);
  }
  const reasons = new Set<string>();
  for (const m of rows) for (const why of Object.values(m.missing ?? {})) if (why) reasons.add(why);
  if (reasons.size) {
    lines.push('');
    for (const why of reasons) lines.push(`¹ ${why}`);
  }
  const notes = [...info.notes, ...rows.filter((m) => m.note).map((m) => `${m.scenario}, ${m.protocol}: ${m.note}`)];
  if (notes.length) {
    lines.push('');
    lines.push('Notes:');
    lines.push('');
    for (const n of notes) lines.push(`- ${n}`);
  }
  if (info.skipped.length) {
    lines.push('');
    lines.push('Not run:');
    lines.push('');
    for (const s of info.skipped) lines.push(`- ${s.name}: ${s.reason}`);
  }
  lines.push('');
  lines.push('![ratios](results.svg)');
  lines.push('');
  return lines.join('\n');
}
