/**
 * An executive report as an HTML email (SVG charts inline) and as a PDF (the same SVG drawn by
 * svg-to-pdfkit into pdfkit). The HTML becomes a Liquid template on the transactional lane, so
 * every brace in it is written as an entity: no campaign or segment name can open a Liquid tag.
 */
import { barChart, lineChart } from '../core/svg-charts.ts';
import { escapeHtml } from '../core/html-escape.ts';
import { formatMinor } from '../core/currency.ts';
import type { ReportData } from './build.ts';
import type { ReportSection } from './definitions.ts';

interface Block {
  heading: string;
  /** Lines of plain text (escaped on output). */
  lines: string[];
  svg?: string;
}

/** The report as blocks in section order: what both the HTML and the PDF draw. */
export function reportBlocks(r: ReportData, sections: readonly ReportSection[], top: number): Block[] {
  const first = r.models[0];
  const blocks: Block[] = [];
  const money = (minor: number) => formatMinor(minor, r.currency);
  for (const s of sections) {
    if (s === 'summary' && first) {
      const t = first.totals;
      blocks.push({
        heading: 'Summary',
        lines: [
          `Net revenue ${money(t.netMinor)} from ${t.conversions} conversions (gross ${money(t.grossMinor)}, `
            + `refunded ${money(t.refundedMinor)}).`,
          `Attributed to email: ${money(t.attributedMinor)} from ${t.attributedConversions} conversions; `
            + `${t.unattributedConversions} conversions had no email touch.`,
          ...r.otherCurrencies.map(
            (o) =>
              `Not included: ${o.conversions} conversions in ${o.currency.toUpperCase()} `
              + `(net ${formatMinor(o.netMinor, o.currency)} ${o.currency.toUpperCase()}).`,
          ),
        ],
      });
    } else if (s === 'models') {
      blocks.push({
        heading: 'Attributed revenue by model',
        lines: r.models.map(
          (m) => `${m.model}: ${money(m.totals.attributedMinor)} over ${m.rows.length} ${m.groupBy}s`,
        ),
        svg: barChart(
          '',
          r.models.map((m) => ({
            label: m.model,
            value: m.totals.attributedMinor,
            display: money(m.totals.attributedMinor),
          })),
        ),
      });
    } else if (s === 'top' && first) {
      const rows = first.rows.slice(0, top);
      blocks.push({
        heading: `Top ${rows.length} by ${first.groupBy} (${first.model})`,
        lines: rows.map((x) => `${x.key}: ${money(x.valueMinor)} (${round(x.conversions)} conversions)`),
        svg: barChart(
          '',
          rows.map((x) => ({ label: x.key, value: x.valueMinor, display: money(x.valueMinor) })),
        ),
      });
    } else if (s === 'channels' && r.channels) {
      blocks.push({
        heading: `Channels (${r.channels.model})`,
        lines: r.channels.rows.map((x) => `${x.key}: ${money(x.valueMinor)}`),
        svg: barChart(
          '',
          r.channels.rows.map((x) => ({ label: x.key, value: x.valueMinor, display: money(x.valueMinor) })),
        ),
      });
    } else if (s === 'trend') {
      blocks.push({
        heading: 'Net revenue per day',
        lines: [],
        svg: lineChart(
          '',
          r.trend.map((d) => ({ label: d.day, value: d.netMinor, display: money(d.netMinor) })),
        ),
      });
    } else if (s === 'anomalies') {
      blocks.push({
        heading: 'Anomalies',
        lines:
          r.anomalies.length === 0
            ? ['None in this period.']
            : r.anomalies.map(
                (a) =>
                  `${a.bucket.slice(0, a.granularity === 'day' ? 10 : 13)} ${a.scope} ${a.key}: ${a.metric} `
                  + `${a.performance}-performing (${round(a.value)} against ${round(a.baseline)})`,
              ),
      });
    }
  }
  return blocks;
}

const round = (x: number): string => String(Math.round(x * 100) / 100);

/** Liquid never sees a brace of ours. */
const liquidSafe = (html: string): string => html.replaceAll('{', '&#123;').replaceAll('}', '&#125;');

export function reportTitle(r: ReportData): string {
  return `${r.name}: ${r.from.slice(0, 10)} to ${r.to.slice(0, 10)}`;
}

export function renderReportHtml(r: ReportData, blocks: readonly Block[]): string {
  const body = blocks
    .map(
      (b) =>
        `<h2 style="font-family:Helvetica,Arial,sans-serif;font-size:16px;color:#1f2937">${escapeHtml(b.heading)}</h2>`
        + (b.svg ?? '')
        + b.lines
          .map(
            (l) => `<p style="font-family:Helvetica,Arial,sans-serif;font-size:13px;margin:4px 0">${escapeHtml(l)}</p>`,
          )
          .join(''),
    )
    .join('');
  const html =
    `<html><body style="margin:0;padding:16px;background:#ffffff">`
    + '<h1 style="font-family:Helvetica,Arial,sans-serif;font-size:20px;color:#111827">'
    + `${escapeHtml(reportTitle(r))}</h1>`
    + `<p style="font-family:Helvetica,Arial,sans-serif;font-size:12px;color:#6b7280">Period ${escapeHtml(r.from)} to `
    + `${escapeHtml(r.to)}; amounts in ${escapeHtml(r.currency.toUpperCase())}, net of refunds. `
    + 'The attached PDF has the same content.</p>'
    + `${body}</body></html>`;
  return liquidSafe(html);
}

export function renderReportText(r: ReportData, blocks: readonly Block[]): string {
  return liquidSafe(
    [reportTitle(r), '', ...blocks.flatMap((b) => [b.heading, ...b.lines.map((l) => `  ${l}`), ''])].join('\n'),
  );
}

// pdfkit and svg-to-pdfkit (with their fonts) are needed only when a report runs: imported then
// and kept, not at start (docs/decisions/0008-start-time-and-idle-memory.md).
const loadPdfModules = () =>
  Promise.all([import('pdfkit'), import('svg-to-pdfkit')]).then(([p, s]) => ({
    PDFDocument: p.default,
    SVGtoPDF: s.default,
  }));
let pdfModules: ReturnType<typeof loadPdfModules> | null = null;

/** The PDF: A4, one block after another, a new page when the next chart would not fit. */
export async function renderReportPdf(r: ReportData, blocks: readonly Block[], at: Date): Promise<Buffer> {
  pdfModules ??= loadPdfModules();
  const { PDFDocument, SVGtoPDF } = await pdfModules;
  const doc = new PDFDocument({ size: 'A4', margin: 40, info: { Title: reportTitle(r), CreationDate: at } });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  doc.font('Helvetica-Bold').fontSize(18).fillColor('#111827').text(reportTitle(r));
  doc.font('Helvetica').fontSize(9).fillColor('#6b7280').text(`Period ${r.from} to ${r.to}; net of refunds.`);
  for (const b of blocks) {
    const chartH = b.svg === undefined ? 0 : svgHeight(b.svg);
    if (doc.y + 40 + chartH > doc.page.height - doc.page.margins.bottom) doc.addPage();
    doc.moveDown(0.8);
    doc.font('Helvetica-Bold').fontSize(13).fillColor('#1f2937').text(b.heading);
    if (b.svg !== undefined) {
      const y = doc.y + 4;
      SVGtoPDF(doc, b.svg, doc.page.margins.left, y, { width: 515, preserveAspectRatio: 'xMinYMin meet' });
      doc.y = y + chartH * (515 / svgWidth(b.svg)) + 4;
      doc.x = doc.page.margins.left;
    }
    doc.font('Helvetica').fontSize(10).fillColor('#111827');
    for (const l of b.lines) doc.text(l);
  }
  doc.end();
  return done;
}

const svgHeight = (svg: string): number => Number(/height="(\d+(?:\.\d+)?)"/.exec(svg)?.[1] ?? 200);
const svgWidth = (svg: string): number => Number(/width="(\d+(?:\.\d+)?)"/.exec(svg)?.[1] ?? 560);
