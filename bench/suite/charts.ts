/**
 * Line charts as SVG we write ourselves, rendered to PNG by resvg (a binary shipped inside its
 * npm package; no browser, no download). Log axes, one line per saver, legend on the right.
 */
import { writeFileSync } from 'node:fs';
import { Resvg } from '@resvg/resvg-js';

export interface Series {
  name: string;
  color: string;
  dashed?: boolean;
  points: Array<{ x: number; y: number }>;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  logY?: boolean;
  series: Series[];
}

export const saverColors: Record<string, string> = {
  threadlog: '#d62728',
  memory: '#7f7f7f',
  sqlite: '#2ca02c',
  postgres: '#1f77b4',
  mongodb: '#ff7f0e',
};

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number): string => (v >= 1e6 ? `${+(v / 1e6).toPrecision(3)}M` : v >= 1e3 ? `${+(v / 1e3).toPrecision(3)}k` : `${+v.toPrecision(3)}`);

function ticks(lo: number, hi: number, log: boolean, given?: number[]): number[] {
  if (given) return given;
  if (log) {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) for (const m of [1, 2, 5]) out.push(m * 10 ** e);
    return out.filter((v) => v >= lo * 0.999 && v <= hi * 1.001);
  }
  const step = 10 ** Math.floor(Math.log10((hi - lo) / 4 || 1));
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) out.push(v);
  return out;
}

function panel(p: Panel, ox: number, oy: number, w: number, h: number): string {
  const pts = p.series.flatMap((s) => s.points).filter((q) => Number.isFinite(q.y) && q.y > 0);
  if (pts.length === 0) return `<text x="${ox + w / 2}" y="${oy + h / 2}" text-anchor="middle">${esc(p.title)}: no data</text>`;
  const xs = [...new Set(pts.map((q) => q.x))].sort((a, b) => a - b);
  let [y0, y1] = [Math.min(...pts.map((q) => q.y)), Math.max(...pts.map((q) => q.y))];
  if (p.logY) [y0, y1] = [10 ** Math.floor(Math.log10(y0)), 10 ** Math.ceil(Math.log10(y1))];
  else [y0, y1] = [0, y1 * 1.1];
  let [x0, x1] = [xs[0]!, xs[xs.length - 1]!];
  if (x0 === x1) [x0, x1] = p.logX ? [x0 / 2, x1 * 2] : [x0 - 1, x1 + 1];
  const L = 70, R = 10, T = 30, B = 45;
  const pw = w - L - R, ph = h - T - B;
  const sx = (v: number): number => ox + L + (p.logX ? (Math.log(v / x0) / Math.log(x1 / x0)) : (v - x0) / (x1 - x0)) * pw;
  const sy = (v: number): number => oy + T + ph - (p.logY ? Math.log(v / y0) / Math.log(y1 / y0) : (v - y0) / (y1 - y0)) * ph;
  const parts: string[] = [];
  parts.push(`<text x="${ox + L + pw / 2}" y="${oy + 18}" text-anchor="middle" font-size="15" font-weight="bold">${esc(p.title)}</text>`);
  for (const t of ticks(y0, y1, !!p.logY)) {
    parts.push(`<line x1="${ox + L}" x2="${ox + L + pw}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${ox + L - 6}" y="${sy(t) + 4}" text-anchor="end" font-size="11">${fmt(t)}</text>`);
  }
  for (const t of ticks(x0, x1, !!p.logX, xs)) {
    parts.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${oy + T}" y2="${oy + T + ph}" stroke="#f0f0f0"/>`);
    parts.push(`<text x="${sx(t)}" y="${oy + T + ph + 16}" text-anchor="middle" font-size="11">${fmt(t)}</text>`);
  }
  parts.push(`<rect x="${ox + L}" y="${oy + T}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${ox + L + pw / 2}" y="${oy + h - 8}" text-anchor="middle" font-size="12">${esc(p.xLabel)}</text>`);
  parts.push(`<text transform="translate(${ox + 16} ${oy + T + ph / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(p.yLabel)}</text>`);
  for (const s of p.series) {
    const q = s.points.filter((v) => Number.isFinite(v.y) && v.y > 0).sort((a, b) => a.x - b.x);
    if (q.length === 0) continue;
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2.5"${dash} points="${q.map((v) => `${sx(v.x).toFixed(1)},${sy(v.y).toFixed(1)}`).join(' ')}"/>`);
    for (const v of q) parts.push(`<circle cx="${sx(v.x).toFixed(1)}" cy="${sy(v.y).toFixed(1)}" r="3.5" fill="${s.color}"/>`);
  }
  return parts.join('\n');
}

/** Panels side by side with one shared legend; writes a PNG and returns its size in bytes. */
export function renderChart(file: string, title: string, panels: Panel[], subtitle: string): number {
  const pw = 480, ph = 340, legendW = 260, top = 50;
  const width = pw * panels.length + legendW;
  const height = ph + top + 10;
  const names = new Map<string, Series>();
  for (const p of panels) for (const s of p.series) if (!names.has(s.name)) names.set(s.name, s);
  const legend = [...names.values()]
    .map((s, i) => {
      const y = top + 40 + i * 22;
      const x = pw * panels.length + 10;
      return `<line x1="${x}" x2="${x + 28}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="3"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/><text x="${x + 36}" y="${y + 4}" font-size="12">${esc(s.name)}</text>`;
    })
    .join('\n');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="12" y="22" font-size="17" font-weight="bold">${esc(title)}</text>
<text x="12" y="40" font-size="11" fill="#555">${esc(subtitle)}</text>
${panels.map((p, i) => panel(p, i * pw, top, pw, ph)).join('\n')}
${legend}
</svg>`;
  const png = new Resvg(svg, { background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
  writeFileSync(file, png);
  return png.length;
}
