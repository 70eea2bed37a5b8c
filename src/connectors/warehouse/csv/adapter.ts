/**
 * CSV warehouse: streams a file with csv-parse (header row required, RFC 4180 quoting, optional
 * BOM). A record that cannot be parsed or mapped — wrong column count, a quote that never closes,
 * bytes that are not UTF-8, a bad email — becomes a rejected row with its line number and the
 * stream goes on. Reading follows the consumer: the file is read only as batches are pulled, so
 * memory holds at most a file chunk plus one batch. Resume is by line number (the cursor).
 * Only files inside the configured directories are read (allowed-path.ts), and no message built
 * here carries file content: header names and cells reach only `rejected[].raw`.
 */
import { parse, type CsvError } from 'csv-parse';
import { SwitchyardError } from '../../../core/errors.ts';
import { checkCsvDelimiter } from '../../../core/audience-limits.ts';
import { checkBatchSize } from '../batch.ts';
import { createRowMapper, parseSchemaMapping, type RowMapper } from '../mapping.ts';
import type {
  MappedContact,
  RejectedRow,
  SchemaMapping,
  Warehouse,
  WarehouseBatch,
  WarehouseQuery,
  WarehouseStreamOptions,
} from '../port.ts';
import { admitCsvPath, openCsvFile, type CsvDirectories } from './allowed-path.ts';

export interface CsvWarehouseOptions {
  /** Absolute, or relative to the first allowed directory. */
  path: string;
  /** The only directories a file may be read from (after symlinks); see allowed-path.ts. */
  allowedDirs: readonly string[];
  mapping: SchemaMapping;
  /** A tab or one ASCII punctuation character other than '"'; default ','. */
  delimiter?: string;
}

interface ParsedRecord {
  record: string[];
  raw: string;
  info: { lines: number };
}
/** A record the parser gave up on, with how many good records preceded it (for ordering). */
interface Skipped {
  afterRecords: number;
  endLine: number;
  reason: string;
  raw: string;
}

export function createCsvWarehouse(options: CsvWarehouseOptions): Warehouse {
  const mapping = parseSchemaMapping(options.mapping);
  const delimiter = checkCsvDelimiter(options.delimiter ?? ',');
  const allowed: CsvDirectories = { dirs: [...options.allowedDirs] };
  const resolved: Resolved = { path: options.path, allowed, mapping, delimiter };
  return {
    name: 'csv',
    check: () => admitCsvPath(options.path, allowed),
    stream: (query, opts) => streamFile(resolved, query, opts),
  };
}

interface Resolved {
  path: string;
  allowed: CsvDirectories;
  mapping: SchemaMapping;
  delimiter: string;
}

async function* streamFile(
  o: Resolved,
  query: WarehouseQuery,
  opts: WarehouseStreamOptions,
): AsyncGenerator<WarehouseBatch> {
  const batchSize = checkBatchSize(opts.batchSize);
  const afterLine = resumeLine(query.afterKey);
  opts.signal?.throwIfAborted();
  // Checked again here, on the open descriptor: the file may have been swapped since validation.
  const handle = await openCsvFile(o.path, o.allowed);
  const skipped: Skipped[] = [];
  let parsedRecords = 0;
  const parser = parse({
    // latin1 maps every byte to one character, so parsing never alters bytes and each field is
    // strictly UTF-8-decoded afterwards (csv-parse's own `encoding: null` crashes on bad rows).
    delimiter: o.delimiter,
    bom: true,
    encoding: 'latin1',
    info: true,
    raw: true,
    relax_column_count: true,
    skip_empty_lines: false,
    skip_records_with_error: true,
    on_record: (record) => {
      parsedRecords += 1;
      opts.onRowsRead?.(1);
      return record;
    },
    on_skip: (err: CsvError | undefined, raw: string | undefined) => {
      const previous = skipped.at(-1);
      const entry: Skipped = {
        afterRecords: parsedRecords,
        endLine: Number(err?.lines ?? 0),
        reason: describeParseError(err),
        raw: fromLatin1(raw ?? ''),
      };
      // csv-parse may report one runaway record several times, each raw extending the last.
      if (previous !== undefined && previous.afterRecords === parsedRecords && entry.raw.startsWith(previous.raw))
        skipped[skipped.length - 1] = entry;
      else skipped.push(entry);
      return undefined;
    },
  });
  const file = handle.createReadStream();
  file.on('error', (cause: NodeJS.ErrnoException) => {
    parser.destroy(
      new SwitchyardError('WAREHOUSE_UNREACHABLE', `cannot read CSV file ${o.path}: ${cause.code ?? 'read error'}`, {
        retryable: !['EACCES', 'EISDIR', 'EPERM'].includes(cause.code ?? ''),
        details: { path: o.path },
      }),
    );
  });
  file.pipe(parser);

  let mapper: RowMapper | undefined;
  let header: string[] = [];
  // header names the mapping asked for: the only ones a rejection reason may repeat
  let expected = new Set<string>();
  let lastLine = 0;
  let seen = 0;
  // Outcomes in line order, each with the line it ends on (the resume cursor after it).
  const pending: Pending[] = [];
  /** Queues the skips that happened before the `upTo`-th good record. */
  const drainSkips = (upTo: number): void => {
    while (skipped.length > 0 && (skipped[0]?.afterRecords ?? 0) <= upTo) {
      const s = skipped.shift() as Skipped;
      const start = lastLine + 1;
      lastLine = Math.max(lastLine, s.endLine);
      if (mapper === undefined)
        throw new SwitchyardError('VALIDATION_FAILED', `CSV file ${o.path} has an unreadable header row: ${s.reason}`);
      if (start > afterLine) {
        const span = lastLine > start ? ` (lines ${start}–${lastLine} were consumed by it)` : '';
        pending.push({ rejected: { rowNumber: start, reason: `${s.reason}${span}`, raw: s.raw }, endLine: lastLine });
      }
    }
  };

  try {
    for await (const item of parser as AsyncIterable<ParsedRecord>) {
      seen += 1;
      drainSkips(seen - 1);
      const start = lastLine + 1;
      lastLine = item.info.lines;
      if (mapper === undefined) {
        header = decodeHeader(item.record, o.path);
        mapper = createRowMapper(o.mapping, header, `CSV file ${o.path}`);
        expected = new Set(header.filter((name) => mapper?.maps(name)));
      } else if (!(item.record.length === 1 && item.record[0] === '') && start > afterLine) {
        const outcome = mapRecord(item.record, header, expected, mapper);
        pending.push(
          outcome.ok
            ? { row: outcome.contact, endLine: lastLine }
            : {
                rejected: {
                  rowNumber: start,
                  reason: outcome.reason,
                  raw: outcome.raw ?? fromLatin1(item.raw).replace(/\r?\n$/, ''),
                },
                endLine: lastLine,
              },
        );
      }
      while (pending.length >= batchSize) {
        opts.signal?.throwIfAborted();
        yield toBatch(pending.splice(0, batchSize));
      }
    }
    drainSkips(Number.POSITIVE_INFINITY);
    if (mapper === undefined)
      throw new SwitchyardError('VALIDATION_FAILED', `CSV file ${o.path} is empty: a header row is required`);
    while (pending.length > 0) {
      opts.signal?.throwIfAborted();
      yield toBatch(pending.splice(0, batchSize));
    }
  } finally {
    file.destroy();
    parser.destroy();
    await handle.close().catch(() => undefined);
  }
}

type Pending = { row: MappedContact; endLine: number } | { rejected: RejectedRow; endLine: number };

function toBatch(items: Pending[]): WarehouseBatch {
  const batch: WarehouseBatch = { rows: [], rejected: [], cursor: String(items.at(-1)?.endLine ?? 0) };
  for (const item of items) {
    if ('row' in item) batch.rows.push(item.row);
    else batch.rejected.push(item.rejected);
  }
  return batch;
}

function resumeLine(afterKey: string | undefined): number {
  if (afterKey === undefined || afterKey === '') return 0;
  if (!/^\d+$/.test(afterKey))
    throw new SwitchyardError('VALIDATION_FAILED', `a CSV resume key is a line number, got "${afterKey}"`);
  return Number(afterKey);
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Lenient decode for display (raw text of a rejected row). */
function fromLatin1(text: string): string {
  return Buffer.from(text, 'latin1').toString('utf8');
}

const NON_ASCII = /[^\x00-\x7f]/;

function strictUtf8(latin1: string): string {
  // ASCII is the same in latin1 and UTF-8: skip the copy for the common case.
  return NON_ASCII.test(latin1) ? STRICT_UTF8.decode(Buffer.from(latin1, 'latin1')) : latin1;
}

function decodeHeader(fields: string[], path: string): string[] {
  try {
    return fields.map((f) => strictUtf8(f).trim());
  } catch {
    throw new SwitchyardError('VALIDATION_FAILED', `CSV file ${path} has a header row that is not valid UTF-8`);
  }
}

type MapOutcome = { ok: true; contact: MappedContact } | { ok: false; reason: string; raw?: Record<string, unknown> };

function mapRecord(fields: string[], header: string[], expected: ReadonlySet<string>, mapper: RowMapper): MapOutcome {
  if (fields.length !== header.length) {
    return { ok: false, reason: `record has ${fields.length} fields but the header has ${header.length}` };
  }
  const values: string[] = [];
  for (let i = 0; i < fields.length; i += 1) {
    try {
      values.push(strictUtf8(fields[i] ?? ''));
    } catch {
      const name = header[i] ?? '';
      return {
        ok: false,
        reason: expected.has(name) ? `column "${name}" is not valid UTF-8` : `column ${i + 1} is not valid UTF-8`,
      };
    }
  }
  const outcome = mapper.map(values);
  return outcome.ok ? outcome : { ok: false, reason: outcome.reason, raw: mapper.toObject(values) };
}

function describeParseError(err: CsvError | undefined): string {
  switch (err?.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'unclosed quote: the file ends inside a quoted field';
    case 'CSV_INVALID_CLOSING_QUOTE':
      return 'unclosed or misplaced quote: a quoted field is followed by text before the delimiter';
    case 'INVALID_OPENING_QUOTE':
      return 'misplaced quote: a quote inside an unquoted field';
    // csv-parse's own messages may quote the text it choked on
    default:
      return `unparseable record (${err?.code ?? 'unknown parser error'})`;
  }
}
