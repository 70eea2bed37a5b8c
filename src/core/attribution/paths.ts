/**
 * Aggregated path data in the ChannelAttribution layout, and the heuristic models over it.
 * A row is one distinct path with how many journeys took it and converted, their value, and how
 * many took it without converting. Semantics follow the R/Python ChannelAttribution package:
 * channels are `>`-separated with surrounding spaces ignored and empty names skipped; channels
 * are listed in order of first appearance (paths without conversions included); first and last
 * take the path's first and last touch; linear gives each touch `conversions / touches`
 * (repeats count, no collapsing).
 */

export interface PathRow {
  /** Touches in order; never empty. */
  readonly channels: readonly string[];
  readonly conversions: number;
  readonly value: number;
  readonly nulls: number;
}

export interface ChannelCredit {
  conversions: number;
  value: number;
}

export interface Totals {
  conversions: number;
  value: number;
}

export const HEURISTIC_MODELS = ['first', 'last', 'linear'] as const;
export type HeuristicModel = (typeof HEURISTIC_MODELS)[number];

export class PathFileError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'PathFileError';
    this.line = line;
  }
}

const COLUMNS = ['path', 'total_conversions', 'total_conversion_value', 'total_null'] as const;

/** Splits one line on `;`, honouring double-quoted fields (`""` is a quote inside one). */
function splitFields(line: string, lineNo: number): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= line.length) throw new PathFileError(lineNo, 'unterminated quoted field');
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            v += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += line[i];
        i++;
      }
      if (i < line.length && line[i] !== ';') throw new PathFileError(lineNo, 'text after a closing quote');
      out.push(v);
      i++;
    } else {
      const end = line.indexOf(';', i);
      const stop = end === -1 ? line.length : end;
      out.push(line.slice(i, stop));
      i = stop + 1;
    }
  }
  return out;
}

/** The channels of a path string: split on `>`, trimmed, empty names skipped. */
export function splitPath(path: string): string[] {
  return path
    .split('>')
    .map((c) => c.trim())
    .filter((c) => c !== '');
}

const NUMBER = /^[+]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function parseCount(raw: string | undefined, column: string, lineNo: number): number {
  const s = (raw ?? '').trim();
  if (s === '') return 0;
  if (!NUMBER.test(s)) {
    throw new PathFileError(lineNo, `${column} must be a non-negative number, got ${JSON.stringify(s.slice(0, 40))}`);
  }
  const n = Number(s);
  if (!Number.isFinite(n)) throw new PathFileError(lineNo, `${column} is not finite`);
  return n;
}

/**
 * Parses a path file. The first line may be a header naming the columns (any order; `path` and
 * `total_conversions` required); without one, columns are positional
 * `path;total_conversions;total_conversion_value;total_null`. Blank lines are skipped. Any other
 * problem throws PathFileError with the 1-based line number.
 */
export function parsePathFile(text: string): PathRow[] {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  let index: Record<(typeof COLUMNS)[number], number> = {
    path: 0,
    total_conversions: 1,
    total_conversion_value: 2,
    total_null: 3,
  };
  let width = 0;
  const rows: PathRow[] = [];
  let seenFirst = false;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = (lines[i] as string).replace(/\r$/, '');
    if (line.trim() === '') continue;
    const fields = splitFields(line, lineNo);
    if (!seenFirst) {
      seenFirst = true;
      const names = fields.map((f) => f.trim().toLowerCase());
      if (names.includes('path') || !NUMBER.test((fields[1] ?? '').trim())) {
        const found: Partial<Record<(typeof COLUMNS)[number], number>> = {};
        names.forEach((n, k) => {
          if ((COLUMNS as readonly string[]).includes(n)) found[n as (typeof COLUMNS)[number]] = k;
        });
        if (found.path === undefined || found.total_conversions === undefined) {
          throw new PathFileError(
            lineNo,
            `neither a header naming path and total_conversions nor a row with a numeric total_conversions `
              + `(layout: ${COLUMNS.join(';')})`,
          );
        }
        index = {
          path: found.path,
          total_conversions: found.total_conversions,
          total_conversion_value: found.total_conversion_value ?? -1,
          total_null: found.total_null ?? -1,
        };
        width = fields.length;
        continue;
      }
    }
    if (width === 0) {
      if (fields.length < 2 || fields.length > 4) {
        throw new PathFileError(lineNo, `expected 2 to 4 columns (${COLUMNS.join(';')}), got ${fields.length}`);
      }
    } else if (fields.length !== width) {
      throw new PathFileError(lineNo, `expected ${width} columns like the header, got ${fields.length}`);
    }
    const channels = splitPath(fields[index.path] ?? '');
    if (channels.length === 0) throw new PathFileError(lineNo, 'the path has no channel');
    const pick = (k: number, name: string): number => (k < 0 ? 0 : parseCount(fields[k], name, lineNo));
    rows.push({
      channels,
      conversions: pick(index.total_conversions, 'total_conversions'),
      value: pick(index.total_conversion_value, 'total_conversion_value'),
      nulls: pick(index.total_null, 'total_null'),
    });
  }
  if (rows.length === 0) throw new PathFileError(Math.max(1, lines.length), 'no path rows');
  return rows;
}

/** Every channel in order of first appearance. */
export function channelsOf(rows: readonly PathRow[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const c of r.channels) seen.add(c);
  return [...seen];
}

export function totalsOf(rows: readonly PathRow[]): Totals {
  let conversions = 0;
  let value = 0;
  for (const r of rows) {
    conversions += r.conversions;
    value += r.value;
  }
  return { conversions, value };
}

/** First-, last-touch or linear credit per channel over aggregated paths. */
export function heuristicAttribution(rows: readonly PathRow[], model: HeuristicModel): Map<string, ChannelCredit> {
  const out = new Map<string, ChannelCredit>();
  for (const c of channelsOf(rows)) out.set(c, { conversions: 0, value: 0 });
  const add = (c: string, conv: number, value: number): void => {
    const e = out.get(c) as ChannelCredit;
    e.conversions += conv;
    e.value += value;
  };
  for (const r of rows) {
    const n = r.channels.length;
    if (model === 'first') add(r.channels[0] as string, r.conversions, r.value);
    else if (model === 'last') add(r.channels[n - 1] as string, r.conversions, r.value);
    else {
      // ChannelAttribution sums per channel first, then divides: (count·conv)/n, not count·(conv/n)
      const counts = new Map<string, number>();
      for (const c of r.channels) counts.set(c, (counts.get(c) ?? 0) + 1);
      for (const [c, k] of counts) add(c, (k * r.conversions) / n, (k * r.value) / n);
    }
  }
  return out;
}
