/**
 * Server-rendered SVG charts for executive reports: the same SVG goes inline into the HTML email
 * and through svg-to-pdfkit into the PDF, so it uses only what both understand (rect, line,
 * polyline, text with a plain font family; no CSS, no scripts, no external references). Labels are
 * escaped; numbers are formatted by the caller. Pure.
 */
import { escapeHtml } from './html-escape.ts';

export interface ChartBar {
  label: string;
  value: number;
  /** Shown at the end of the bar (default: the value). */
  display?: string;
}

const FONT = 'Helvetica';
const INK = '#1f2937';
const BAR = '#2563eb';
const GRID = '#d1d5db';

function titleText(title: string): string {
  if (title === '') return '';
  const attrs = `x="0" y="18" font-family="${FONT}" font-size="14" font-weight="bold" fill="${INK}"`;
  return `<text ${attrs}>${escapeHtml(title)}</text>`;
}

const num = (x: number): string => (Math.round(x * 10) / 10).toString();

function clip(label: string, max: number): string {
  return label.length <= max ? label : `${label.slice(0, max - 1)}…`;
}

/** Horizontal bars, largest first as given; negative values draw as zero-length bars. An empty title draws none. */
export function barChart(title: string, bars: readonly ChartBar[], width = 560): string {
  const rowH = 22;
  const top = title === '' ? 4 : 30;
  const labelW = 170;
  const valueW = 90;
  const height = top + Math.max(1, bars.length) * rowH + 10;
  const max = Math.max(0, ...bars.map((b) => b.value));
  const span = width - labelW - valueW;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    titleText(title),
  ];
  if (bars.length === 0)
    parts.push(`<text x="0" y="${top + 14}" font-family="${FONT}" font-size="12" fill="${INK}">no data</text>`);
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const w = max > 0 ? (Math.max(0, b.value) / max) * span : 0;
    parts.push(
      `<text x="${labelW - 6}" y="${y + 14}" font-family="${FONT}" font-size="11" fill="${INK}" text-anchor="end">`
        + `${escapeHtml(clip(b.label, 28))}</text>`,
      `<rect x="${labelW}" y="${y + 3}" width="${num(Math.max(w, 1))}" height="${rowH - 7}" fill="${BAR}"/>`,
      `<text x="${num(labelW + w + 6)}" y="${y + 14}" font-family="${FONT}" font-size="11" fill="${INK}">`
        + `${escapeHtml(b.display ?? String(b.value))}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

/** A line over equally spaced points (e.g. one per day), with a zero baseline and the first/last labels. */
export function lineChart(title: string, points: readonly ChartBar[], width = 560, height = 220): string {
  const left = 50;
  const right = 10;
  const top = title === '' ? 10 : 30;
  const bottom = 30;
  const h = height - top - bottom;
  const w = width - left - right;
  const max = Math.max(1, ...points.map((p) => p.value));
  const x = (i: number): number => left + (points.length <= 1 ? w / 2 : (i / (points.length - 1)) * w);
  const y = (v: number): number => top + h - (Math.max(0, v) / max) * h;
  const highest = points.length === 0 ? undefined : points.reduce((a, p) => (p.value > a.value ? p : a));
  const topLabel = highest === undefined ? '' : (highest.display ?? num(max));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    titleText(title),
    `<line x1="${left}" y1="${top + h}" x2="${width - right}" y2="${top + h}" stroke="${GRID}" stroke-width="1"/>`,
    `<line x1="${left}" y1="${top}" x2="${width - right}" y2="${top}" stroke="${GRID}" stroke-width="1"/>`,
    `<text x="${left - 4}" y="${top + 4}" font-family="${FONT}" font-size="10" fill="${INK}" text-anchor="end">`
      + `${escapeHtml(topLabel)}</text>`,
    `<text x="${left - 4}" y="${top + h + 4}" font-family="${FONT}" font-size="10" fill="${INK}" `
      + 'text-anchor="end">0</text>',
  ];
  if (points.length > 0) {
    const coords = points.map((p, i) => `${num(x(i))},${num(y(p.value))}`).join(' ');
    parts.push(`<polyline points="${coords}" fill="none" stroke="${BAR}" stroke-width="2"/>`);
    for (const [i, p] of points.entries())
      parts.push(`<rect x="${num(x(i) - 2)}" y="${num(y(p.value) - 2)}" width="4" height="4" fill="${BAR}"/>`);
    const first = points[0] as ChartBar;
    const last = points[points.length - 1] as ChartBar;
    parts.push(
      `<text x="${left}" y="${height - 10}" font-family="${FONT}" font-size="10" fill="${INK}">`
        + `${escapeHtml(first.label)}</text>`,
      `<text x="${width - right}" y="${height - 10}" font-family="${FONT}" font-size="10" fill="${INK}" `
        + `text-anchor="end">${escapeHtml(last.label)}</text>`,
    );
  } else {
    parts.push(
      `<text x="${left + 10}" y="${top + 20}" font-family="${FONT}" font-size="12" fill="${INK}">no data</text>`,
    );
  }
  parts.push('</svg>');
  return parts.join('');
}
