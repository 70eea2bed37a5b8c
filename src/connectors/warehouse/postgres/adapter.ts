/**
 * PostgreSQL warehouse: streams one SELECT (or a table) through a server-side cursor
 * (`DECLARE … NO SCROLL CURSOR` + `FETCH n`) on its own pg client, one FETCH per batch the
 * consumer asks for — never the whole result in memory. The warehouse is the customer's
 * database, not Switchyard's store, and the query comes from an API caller, so: the SQL must
 * parse as exactly one plain SELECT (sql-check.ts); everything that runs it — the column probe,
 * the DECLARE and each FETCH — runs inside one `READ ONLY` transaction with `SET LOCAL`
 * statement and lock timeouts; and every statement carrying user SQL has at least one bound
 * parameter, so pg sends it through the extended protocol, which runs one statement per message
 * even if the parse check were bypassed. Failures surface by SQLSTATE only (sqlstate.ts).
 * Resume is keyset on `orderBy` (the query wrapped as a subquery filtered by `orderBy > afterKey`).
 */
import pg from 'pg';
import { SwitchyardError, isSwitchyardError } from '../../../core/errors.ts';
import { checkBatchSize } from '../batch.ts';
import { createRowMapper, parseSchemaMapping } from '../mapping.ts';
import type { SchemaMapping, Warehouse, WarehouseBatch, WarehouseQuery, WarehouseStreamOptions } from '../port.ts';
import { checkAudienceSql } from './sql-check.ts';
import { conditionName, warehouseFailure } from './sqlstate.ts';

export interface PostgresWarehouseOptions {
  /** postgres://user:password@host:port/db — the password never appears in errors. */
  url: string;
  mapping: SchemaMapping;
  /** Column of the result that orders rows and resumes them: unique and not null (an id). */
  orderBy: string;
  /** Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** statement_timeout of every statement carrying the query; default 30 000 ms. */
  statementTimeoutMs?: number;
  /** lock_timeout of the transaction; default 5 000 ms. */
  lockTimeoutMs?: number;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;
// The user's query goes between these, on lines of its own so a trailing `--` comment ends there.
const OPEN = 'select * from (\n';
const CLOSE = '\n) as src';

export function createPostgresWarehouse(options: PostgresWarehouseOptions): Warehouse {
  const mapping = parseSchemaMapping(options.mapping);
  if (!IDENTIFIER.test(options.orderBy)) {
    throw new SwitchyardError('VALIDATION_FAILED', `orderBy must be a plain column name, got "${options.orderBy}"`);
  }
  const target = describeTarget(options.url);
  const timeouts = {
    statement: checkTimeout(options.statementTimeoutMs ?? 30_000),
    lock: checkTimeout(options.lockTimeoutMs ?? 5_000),
  };
  return {
    name: 'postgres',
    check: async (query) => {
      await sourceOf(query);
    },
    stream: (query, streamOptions) => streamQuery({ ...options, mapping, target, timeouts }, query, streamOptions),
  };
}

interface Resolved extends PostgresWarehouseOptions {
  target: { label: string };
  timeouts: { statement: number; lock: number };
}

/** A statement to run, and where the user's query sits in it (to map error positions). */
interface Statement {
  text: string;
  values: unknown[];
  queryAt: number;
  queryLength: number;
}

/** A statement of our own text only (transaction control, FETCH): no user SQL inside. */
const ours = (text: string): Statement => ({ text, values: [], queryAt: 0, queryLength: 0 });

async function* streamQuery(
  o: Resolved,
  query: WarehouseQuery,
  opts: WarehouseStreamOptions,
): AsyncGenerator<WarehouseBatch> {
  const batchSize = checkBatchSize(opts.batchSize);
  const source = await sourceOf(query);
  const params = [...(query.params ?? [])];
  opts.signal?.throwIfAborted();
  const client = new pg.Client({
    connectionString: o.url,
    connectionTimeoutMillis: o.connectTimeoutMs ?? 10_000,
    application_name: 'switchyard-warehouse',
  });
  client.on('error', () => {
    /* a dropped connection surfaces on the next query */
  });
  try {
    await client.connect();
  } catch (cause) {
    throw connectFailure(cause, o.target);
  }
  try {
    await run(o, client, ours('begin transaction isolation level repeatable read read only'));
    // Numbers we validated, not input: SET takes no parameters.
    await run(o, client, ours(`set local statement_timeout = ${o.timeouts.statement}`));
    await run(o, client, ours(`set local lock_timeout = ${o.timeouts.lock}`));
    const probe = await run(o, client, probeStatement(source, params));
    const columns = probe.fields.map((f) => f.name);
    const mapper = createRowMapper(o.mapping, columns, `warehouse query on ${o.target.label}`);
    if (!columns.includes(o.orderBy)) {
      throw new SwitchyardError(
        'VALIDATION_FAILED',
        `orderBy column "${o.orderBy}" is not in the query result (it has ${columns.length} columns)`,
      );
    }
    await run(o, client, cursorStatement(source, params, o.orderBy, query.afterKey));
    let position = 0;
    let cursor = query.afterKey ?? '';
    for (;;) {
      opts.signal?.throwIfAborted();
      const res = await run(o, client, ours(`fetch forward ${batchSize} from switchyard_rows`));
      opts.signal?.throwIfAborted();
      opts.onRowsRead?.(res.rows.length);
      if (res.rows.length === 0) break;
      const batch: WarehouseBatch = { rows: [], rejected: [], cursor };
      for (const row of res.rows as unknown[][]) {
        position += 1;
        const values = row.slice(0, -1);
        const keyText = row[row.length - 1];
        const outcome =
          keyText === null
            ? {
                ok: false as const,
                reason: `column "${o.orderBy}" (orderBy) is null, so the row cannot be resumed past`,
              }
            : mapper.map(values);
        if (typeof keyText === 'string') batch.cursor = keyText;
        if (outcome.ok) batch.rows.push(outcome.contact);
        else batch.rejected.push({ rowNumber: position, reason: outcome.reason, raw: mapper.toObject(values) });
      }
      cursor = batch.cursor;
      yield batch;
      if (res.rows.length < batchSize) break;
    }
    await run(o, client, ours('commit'));
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The user's source as text, and whether it is user SQL (which needs the parse check). */
interface Source {
  text: string;
  isSql: boolean;
}

/**
 * Column probe: no rows, same parameters plus the limit as one more, so even a query without
 * parameters goes through the extended protocol.
 */
export function probeStatement(source: Source, params: readonly unknown[]): Statement {
  const text = `${OPEN}${source.text}${CLOSE} limit $${params.length + 1}`;
  return { text, values: [...params, 0], queryAt: OPEN.length, queryLength: source.isSql ? source.text.length : 0 };
}

/**
 * The cursor over the whole result in key order. The key is also selected as text (last column)
 * so the cursor round-trips exactly whatever its type; `key > $n` casts the text back to the
 * column's type. Without a resume key the filter is a bound `true`, keeping one parameter.
 */
export function cursorStatement(
  source: Source,
  params: readonly unknown[],
  orderBy: string,
  afterKey: string | undefined,
): Statement {
  const key = `src."${orderBy}"`;
  const n = params.length + 1;
  const filter = afterKey === undefined ? `where $${n}::boolean` : `where ${key} > $${n}`;
  const prefix = `declare switchyard_rows no scroll cursor for select src.*, (${key})::text from (\n`;
  const text = `${prefix}${source.text}${CLOSE} ${filter} order by ${key}`;
  return {
    text,
    values: [...params, afterKey ?? true],
    queryAt: prefix.length,
    queryLength: source.isSql ? source.text.length : 0,
  };
}

async function run(o: Resolved, client: pg.Client, statement: Statement): Promise<pg.QueryArrayResult> {
  try {
    return await client.query({ text: statement.text, values: statement.values, rowMode: 'array' });
  } catch (cause) {
    if (isSwitchyardError(cause)) throw cause;
    throw warehouseFailure(cause, {
      target: o.target.label,
      statementTimeoutMs: o.timeouts.statement,
      queryOffset: statement.queryAt,
      queryLength: statement.queryLength,
    });
  }
}

/** Connecting: the host, and a SQLSTATE or socket code, never pg's text (it may hold the password). */
export function connectFailure(cause: unknown, target: { label: string }): SwitchyardError {
  const code = (cause as { code?: unknown }).code;
  const sqlstate = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  const errno = typeof code === 'string' && /^E[A-Z]+$/.test(code) ? code : undefined;
  const why = sqlstate !== undefined ? `SQLSTATE ${sqlstate}: ${conditionName(sqlstate)}` : (errno ?? 'no answer');
  // a refused login or an unknown database will not fix itself
  const retryable = sqlstate === undefined || !['28', '3D'].includes(sqlstate.slice(0, 2));
  return new SwitchyardError(
    'WAREHOUSE_UNREACHABLE',
    `cannot connect to PostgreSQL warehouse at ${target.label} (${why})`,
    {
      retryable,
      details: {
        target: target.label,
        ...(sqlstate === undefined ? {} : { sqlstate }),
        ...(errno === undefined ? {} : { errno }),
      },
    },
  );
}

async function sourceOf(query: WarehouseQuery): Promise<Source> {
  const hasSql = query.sql !== undefined && query.sql.trim() !== '';
  const hasTable = query.table !== undefined && query.table !== '';
  if (hasSql === hasTable)
    throw new SwitchyardError(
      'VALIDATION_FAILED',
      'a PostgreSQL warehouse query needs exactly one of "sql" or "table"',
    );
  if (hasSql) return { text: await checkAudienceSql(query.sql ?? '', query.params?.length ?? 0), isSql: true };
  const parts = (query.table ?? '').split('.');
  if (parts.length > 2 || parts.some((p) => !IDENTIFIER.test(p))) {
    throw new SwitchyardError('VALIDATION_FAILED', 'table must be "name" or "schema.name" of plain identifiers');
  }
  return { text: `select * from ${parts.map((p) => `"${p}"`).join('.')}`, isSql: false };
}

function checkTimeout(ms: number): number {
  if (!Number.isInteger(ms) || ms < 1 || ms > 86_400_000)
    throw new SwitchyardError('VALIDATION_FAILED', `a warehouse timeout must be an integer of milliseconds, got ${ms}`);
  return ms;
}

export function describeTarget(url: string): { label: string } {
  try {
    const u = new URL(url);
    return { label: `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname}` };
  } catch {
    throw new SwitchyardError('VALIDATION_FAILED', 'warehouse url is not a valid postgres:// URL');
  }
}
