import { ratio, type Measurement } from './results.js';
import { fmt } from './report.js';

/**
 * bench/results.svg: one horizontal bar per measurement with both values, showing how many
 * times better this worker is than the Python one (the ratio inverted for lower-is-better
 * metrics, so longer bars to the right are always better), on a log₂ axis around 1×.
 */

const esc = (s: string): string => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

export function renderSvg(rows: Measurement[], title: string): string {
  const bars = rows
    .map((m) => {
      const r = ratio(m);
      if (r === undefined || r <= 0) return undefined;
      const advantage = m.better === 'higher' ? r : 1 / r;
      return { label: `${m.scenario}: ${m.metric.replace(/ \(.*\)$/, '')} [${m.protocol}]`, advantage, r, m };
    })
    .filter((b): b is NonNullable<typeof b> => b !== undefined);
  const labelW = 600;
  const plotW = 420;
  const rowH = 22;
  const top = 50;
  const width = labelW + plotW + 120;
  const height = top + bars.length * rowH + 40;
  const maxExp = Math.max(3, Math.ceil(Math.log2(Math.max(1, ...bars.map((b) => b.advantage)))));
  const minExp = Math.min(-2, Math.floor(Math.log2(Math.min(1, ...bars.map((b) => b.advantage)))));
  const x = (v: number): number => labelW + ((Math.log2(v) - minExp) / (maxExp - minExp)) * plotW;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(`<text x="10" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`);
  parts.push(`<text x="10" y="38" fill="#555">times better than the Python worker (log scale; right of 1× = this worker is better)</text>`);
  for (let e = minExp; e <= maxExp; e++) {
    const v = 2 ** e;
    const gx = x(v).toFixed(1);
    parts.push(`<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${top + bars.length * rowH}" stroke="${e === 0 ? '#000' : '#ddd'}"/>`);
    parts.push(`<text x="${gx}" y="${top + bars.length * rowH + 16}" text-anchor="middle" fill="#555">${v >= 1 ? v : `1/${1 / v}`}×</text>`);
  }
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const x1 = x(1);
    const x2 = x(Math.min(Math.max(b.advantage, 2 ** minExp), 2 ** maxExp));
    const good = b.advantage >= 1;
    parts.push(`<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${esc(b.label)}</text>`);
    parts.push(`<rect x="${Math.min(x1, x2).toFixed(1)}" y="${y + 4}" width="${Math.abs(x2 - x1).toFixed(1)}" height="${rowH - 8}" fill="${good ? '#3a7d44' : '#c0392b'}"/>`);
    const met = b.m.targets?.length ? (b.m.targets.every((t) => t.met) ? ' ✓' : ' ✗') : '';
    parts.push(`<text x="${(Math.max(x1, x2) + 6).toFixed(1)}" y="${y + 15}" fill="#333">${fmt(b.advantage)}×${met}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
