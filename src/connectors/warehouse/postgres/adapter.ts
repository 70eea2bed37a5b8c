/**
 * PostgreSQL warehouse: streams any SELECT (or a table) through a server-side cursor
 * (`DECLARE … NO SCROLL CURSOR` + `FETCH n` in a read-only transaction) on its own pg client,
 * one FETCH per batch the consumer asks for — never the whole result in memory. The warehouse is
 * the customer's database, not Switchyard's store: nothing here writes. Resume is keyset on
 * `orderBy` (the user query is wrapped as a subquery filtered by `orderBy > afterKey`), so a
 * long export can be restarted instead of holding one snapshot open for hours.
 */
import pg from 'pg';
import { SwitchyardError, isSwitchyardError } from '../../../core/errors.ts';
import { checkBatchSize } from '../batch.ts';
import { createRowMapper, parseSchemaMapping } from '../mapping.ts';
import type { SchemaMapping, Warehouse, WarehouseBatch, WarehouseQuery, WarehouseStreamOptions } from '../port.ts';

export interface PostgresWarehouseOptions {
  /** postgres://user:password@host:port/db — the password never appears in errors. */
  url: string;
  mapping: SchemaMapping;
  /** Column of the result that orders rows and resumes them: unique and not null (an id). */
  orderBy: string;
  /** Default 10 000 ms. */
  connectTimeoutMs?: number;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;
// SQLSTATE classes worth retrying: connection (08), transaction rollback (40), resources (53),
// operator intervention such as shutdown or cancel (57), system error (58).
const TRANSIENT_CLASSES = new Set(['08', '40', '53', '57', '58']);

export function createPostgresWarehouse(options: PostgresWarehouseOptions): Warehouse {
  const mapping = parseSchemaMapping(options.mapping);
  if (!IDENTIFIER.test(options.orderBy)) {
    throw new SwitchyardError('VALIDATION_FAILED', `orderBy must be a plain column name, got "${options.orderBy}"`);
  }
  const target = describeTarget(options.url);
  return {
    name: 'postgres',
    stream: (query, streamOptions) => streamQuery({ ...options, mapping, target }, query, streamOptions),
  };
}

interface Resolved extends PostgresWarehouseOptions { target: { label: string; password: string } }

async function* streamQuery(o: Resolved, query: WarehouseQuery, opts: WarehouseStreamOptions): AsyncGenerator<WarehouseBatch> {
  const batchSize = checkBatchSize(opts.batchSize);
  const source = sourceOf(query);
  const params = [...(query.params ?? [])];
  opts.signal?.throwIfAborted();
  const client = new pg.Client({ connectionString: o.url, connectionTimeoutMillis: o.connectTimeoutMs ?? 10_000, application_name: 'switchyard-warehouse' });
  client.on('error', () => { /* a dropped connection surfaces on the next query */ });
  try {
    await client.connect();
  } catch (cause) {
    throw new SwitchyardError('WAREHOUSE_UNREACHABLE', `cannot connect to PostgreSQL warehouse at ${o.target.label}: ${scrub((cause as Error).message, o.target.password)}`, { cause, retryable: true, details: { target: o.target.label } });
  }
  try {
    const probe = await run(o, client, `select * from ${source} as src limit 0`, params);
    const columns = probe.fields.map((f) => f.name);
    const mapper = createRowMapper(o.mapping, columns, `warehouse query on ${o.target.label}`);
    if (!columns.includes(o.orderBy)) {
      throw new SwitchyardError('VALIDATION_FAILED', `orderBy column "${o.orderBy}" is not in the query result; columns are: ${columns.join(', ')}`);
    }
    const key = `src."${o.orderBy}"`;
    const resume = query.afterKey === undefined ? '' : `where ${key} > $${params.length + 1}`;
    if (query.afterKey !== undefined) params.push(query.afterKey);
    await run(o, client, 'begin transaction isolation level repeatable read read only');
    // The key is also selected as text (last column) so the cursor round-trips exactly whatever
    // its type; `key > $n` casts the text back to the column's type.
    await run(o, client, `declare switchyard_rows no scroll cursor for select src.*, (${key})::text from ${source} as src ${resume} order by ${key}`, params);
    let position = 0;
    let cursor = query.afterKey ?? '';
    for (;;) {
      opts.signal?.throwIfAborted();
      const res = await run(o, client, `fetch forward ${batchSize} from switchyard_rows`);
      opts.signal?.throwIfAborted();
      opts.onRowsRead?.(res.rows.length);
      if (res.rows.length === 0) break;
      const batch: WarehouseBatch = { rows: [], rejected: [], cursor };
      for (const row of res.rows as unknown[][]) {
        position += 1;
        const values = row.slice(0, -1);
        const keyText = row[row.length - 1];
        const outcome = keyText === null
          ? { ok: false as const, reason: `column "${o.orderBy}" (orderBy) is null, so the row cannot be resumed past` }
          : mapper.map(values);
        if (typeof keyText === 'string') batch.cursor = keyText;
        if (outcome.ok) batch.rows.push(outcome.contact);
        else batch.rejected.push({ rowNumber: position, reason: outcome.reason, raw: mapper.toObject(values) });
      }
      cursor = batch.cursor;
      yield batch;
      if (res.rows.length < batchSize) break;
    }
    await run(o, client, 'commit');
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function run(o: Resolved, client: pg.Client, text: string, values?: unknown[]): Promise<pg.QueryArrayResult> {
  try {
    return await client.query({ text, values, rowMode: 'array' });
  } catch (cause) {
    if (isSwitchyardError(cause)) throw cause;
    const err = cause as Error & { code?: string; position?: string };
    const sqlState = typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code) ? err.code : undefined;
    const retryable = sqlState === undefined || TRANSIENT_CLASSES.has(sqlState.slice(0, 2));
    const state = sqlState === undefined ? '' : ` (SQLSTATE ${sqlState})`;
    throw new SwitchyardError('WAREHOUSE_UNREACHABLE', `warehouse query on ${o.target.label} failed: ${scrub(err.message, o.target.password)}${state}`, { cause, retryable, details: { target: o.target.label, sqlState } });
  }
}

function sourceOf(query: WarehouseQuery): string {
  const hasSql = query.sql !== undefined && query.sql.trim() !== '';
  const hasTable = query.table !== undefined && query.table !== '';
  if (hasSql === hasTable) throw new SwitchyardError('VALIDATION_FAILED', 'a PostgreSQL warehouse query needs exactly one of "sql" or "table"');
  if (hasSql) return `(${(query.sql ?? '').trim().replace(/;\s*$/, '')})`;
  const parts = (query.table ?? '').split('.');
  if (parts.length > 2 || parts.some((p) => !IDENTIFIER.test(p))) {
    throw new SwitchyardError('VALIDATION_FAILED', `table must be "name" or "schema.name" of plain identifiers, got "${query.table}"`);
  }
  return parts.map((p) => `"${p}"`).join('.');
}

function describeTarget(url: string): { label: string; password: string } {
  try {
    const u = new URL(url);
    return { label: `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname}`, password: decodeURIComponent(u.password) };
  } catch {
    throw new SwitchyardError('VALIDATION_FAILED', 'warehouse url is not a valid postgres:// URL');
  }
}

function scrub(message: string, password: string): string {
  return password === '' ? message : message.split(password).join('***');
}
