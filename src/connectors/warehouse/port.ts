/**
 * The warehouse port: streams the rows of a segment query out of a customer's data warehouse,
 * already mapped to Switchyard contacts. It owns reading and mapping; it must not filter by
 * consent or suppression (the comply stage does). Invariant: backpressure by construction — the
 * consumer pulls the next batch only when it is ready, and an adapter never reads ahead by more
 * than one batch, so memory is bounded by `batchSize`, never by the size of the result.
 */

/**
 * Which rows to read. PostgreSQL reads `sql` (with `params` as $1…$n) or `table`, exactly one of
 * them. The CSV and demo warehouses read the source named in their factory options and ignore
 * `sql`, `table` and `params`.
 */
export interface WarehouseQuery {
  /** A SELECT (no trailing semicolon); it is wrapped as a subquery, so any select works. */
  sql?: string;
  /** A table or view name, optionally schema-qualified (`analytics.customers`). */
  table?: string;
  /** Positional parameters of `sql`. */
  params?: readonly unknown[];
  /**
   * Resume position: the `cursor` of the last batch whose work the caller committed. The stream
   * then starts with the first row after that position (PostgreSQL: keyset, `orderBy > afterKey`;
   * CSV: the line after that line number; demo: the contact after that id). Omit to start at the
   * beginning.
   */
  afterKey?: string;
}

/** A warehouse row as a contact. Only id and email are required of the source. */
export interface MappedContact {
  /** The warehouse's stable identifier of the person (customer_id, user_id, …), as a string. */
  id: string;
  /** Trimmed; the domain lower-cased. */
  email: string;
  /** IANA time zone name, validated. */
  timezone?: string;
  /** ISO 3166-1 alpha-2 code, upper-cased. */
  country?: string;
  /** BCP 47 tag, canonicalised (`en-US`). */
  locale?: string;
  /** Every other mapped column, under the mapping's name for it, value as the source gave it. */
  fields: Record<string, unknown>;
}

/** A source row that could not become a contact. Never thrown: it rides in the batch. */
export interface RejectedRow {
  /**
   * Where the row is in the source. CSV: the 1-based line number where the record starts in the
   * file (the header is line 1). PostgreSQL and demo: the 1-based position of the row in this
   * stream (counting from the resume point when `afterKey` was given).
   */
  rowNumber: number;
  /** Names the source column and what was wrong with it (`column "email_address": missing @`). */
  reason: string;
  /** The row as read (an object of column → value, or the raw text for unparseable CSV). */
  raw: unknown;
}

export interface WarehouseBatch {
  /** Mapped contacts, in source order. */
  rows: MappedContact[];
  /** Rows of this batch's range that could not be mapped, in source order. */
  rejected: RejectedRow[];
  /**
   * Resume position after this batch (covers accepted and rejected rows alike): pass it back as
   * `afterKey` to continue after this batch. Opaque to callers; store it as given.
   */
  cursor: string;
}

export interface WarehouseStreamOptions {
  /** Rows (accepted plus rejected) per batch; the last batch may be smaller. Must be ≥ 1. */
  batchSize: number;
  /** Aborting stops the stream: the pending step rejects with the signal's reason and the
   *  adapter releases its connection or file. */
  signal?: AbortSignal;
  /**
   * Observability hook: called with the number of rows each time the adapter receives rows from
   * the source (a FETCH, a parsed chunk). Lets metrics and tests see read-ahead; never required.
   */
  onRowsRead?: (rows: number) => void;
}

/**
 * Column mapping, configuration not code (stored as JSON). `columns` maps our name → the
 * source column. `id` and `email` are required; `timezone`, `country` and `locale` become the
 * contact's own properties; any other key (`firstName`, `plan`, …) lands in `fields` under that
 * key. `fields` lists further source columns copied into `fields` under their own names.
 */
export interface SchemaMapping {
  columns: { id: string; email: string; timezone?: string; country?: string; locale?: string } & Record<string, string>;
  fields?: string[];
}

export interface Warehouse {
  readonly name: string;
  /**
   * Checks the source and the query without reading a row or connecting anywhere (a campaign is
   * checked when it is created): CSV, that the path lies inside the allowed directories and, if
   * the file exists yet, is a regular file; PostgreSQL, that `sql` is exactly one plain SELECT. Throws
   * AUDIENCE_PATH_NOT_ALLOWED, AUDIENCE_SQL_INVALID or VALIDATION_FAILED. `stream` repeats every
   * check itself (the source may change in between), so passing here is not a licence to skip it.
   */
  check(query: WarehouseQuery): Promise<void>;
  /**
   * Streams the query's rows as mapped batches. Contract:
   * - Ordering: rows come in a stable order defined by the adapter (PostgreSQL: `orderBy`
   *   ascending; CSV: file order; demo: id order), so `cursor`/`afterKey` resumes exactly after
   *   the last row of a batch with nothing skipped or repeated (for a source that did not change).
   * - Backpressure: nothing is read until the consumer asks for the next batch; at most one batch
   *   is read ahead. Breaking out of `for await` (or aborting) releases the source.
   * - Bad rows go to `rejected` with a reason naming the column; they never end the stream.
   * - Throws (from the first iteration step, before any batch): VALIDATION_FAILED for a bad
   *   mapping, query or option, or an orderBy column missing from the result;
   *   AUDIENCE_PATH_NOT_ALLOWED / AUDIENCE_SQL_INVALID as `check` does;
   *   WAREHOUSE_ROW_INVALID when the source lacks the id or email column (the message names it
   *   and the mapping's columns, never the source's own header);
   *   WAREHOUSE_UNREACHABLE when the source cannot be reached (retryable; names the host or
   *   path, never a password) or fails transiently; WAREHOUSE_QUERY_FAILED when the query fails
   *   for good (details.sqlstate; the message is generic, never the server's text, which can
   *   quote data). The same two may come from any later step.
   * - No message ever carries a source value: values appear only in `rejected[].raw`.
   */
  stream(query: WarehouseQuery, options: WarehouseStreamOptions): AsyncIterable<WarehouseBatch>;
}

/**
 * Runs the operator's configured erasure statements (delete or anonymise) in the customer's
 * warehouse for one subject: `$1` is the subject's addresses (text[]), `$2` its contact ids
 * (text[]). All statements run in one transaction; resolves with the rows each one changed.
 * Errors: WAREHOUSE_UNREACHABLE (retryable) and WAREHOUSE_QUERY_FAILED (permanent).
 */
export interface WarehouseEraser {
  readonly name: string;
  erase(emails: readonly string[], contactIds: readonly string[]): Promise<number[]>;
}
