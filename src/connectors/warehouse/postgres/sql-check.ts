/**
 * Audience SQL admission: PostgreSQL's own parser (libpg-query) must see exactly one plain
 * SELECT — no second statement, no `SELECT … INTO`, no data-modifying CTE, no `FOR UPDATE/SHARE`
 * — and no call to a function on the denylist. The boundary is elsewhere: the query only ever
 * runs in a read-only transaction with a statement timeout, through the extended protocol (one
 * statement per message), as a least-privilege role (docs/connectors.md). The denylist is
 * defence in depth: a function can be reached in ways a parse cannot see (a view, a user-defined
 * wrapper), so it is a tripwire for the obvious, not the wall. Reasons name the problem and a
 * character position in the query, never text from anywhere but the query itself.
 */
import { SwitchyardError } from '../../../core/errors.ts';
import { MAX_AUDIENCE_SQL_LENGTH } from '../../../core/audience-limits.ts';

// The parser's WASM reserves a large memory when it loads: only a server that checks audience SQL
// pays for it, on the first check.
let parser: Promise<typeof import('libpg-query')> | null = null;

/** Node types that write or lock, wherever they appear in the tree (a CTE, a subquery). */
const WRITING_NODES = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'LockingClause']);

/** Functions that read files, reach other servers, sleep, change settings or touch other sessions. */
const DENIED_FUNCTIONS = [
  /^dblink/,
  /^pg_read_file$/,
  /^pg_read_binary_file$/,
  /^pg_ls_/,
  /^pg_stat_file$/,
  /^lo_/,
  /^pg_sleep/,
  /^set_config$/,
  /^current_setting$/,
  /^pg_terminate_backend$/,
  /^pg_cancel_backend$/,
  /^pg_reload_conf$/,
  /^pg_rotate_logfile$/,
  /^pg_logical_emit_message$/,
  /^pg_advisory/,
  /^pg_try_advisory/,
  /^pg_file_/,
  /^pg_notify$/,
  /^query_to_xml/,
  /^query_to_json/,
  /^table_to_xml/,
  /^database_to_xml/,
  /^cursor_to_xml/,
  /^schema_to_xml/,
  /^pg_import_system_collations$/,
  /^txid_current$/,
];

/** Deeper syntax trees are refused rather than walked (an expression nested thousands deep). */
const MAX_DEPTH = 2_000;

function invalid(reason: string): SwitchyardError {
  return new SwitchyardError('AUDIENCE_SQL_INVALID', `audience query refused: ${reason}`, { details: { reason } });
}

/**
 * Parses `sql` and returns it reduced to its one statement (a trailing `;` dropped), ready to be
 * wrapped as a subquery. `paramCount` is how many parameters the caller binds: a higher `$n`
 * would reach the adapter's own (the resume key), so it is refused. Throws AUDIENCE_SQL_INVALID
 * naming the problem.
 */
export async function checkAudienceSql(sql: string, paramCount = 0): Promise<string> {
  if (sql.includes('\0')) throw invalid('the query contains a NUL character');
  if (sql.length > MAX_AUDIENCE_SQL_LENGTH) throw invalid(`it is longer than ${MAX_AUDIENCE_SQL_LENGTH} characters`);
  let tree: { stmts?: { stmt?: Record<string, unknown>; stmt_location?: number; stmt_len?: number }[] };
  try {
    parser ??= import('libpg-query');
    tree = (await (await parser).parse(sql)) as typeof tree;
  } catch (err) {
    const e = err as { message?: string; sqlDetails?: { cursorPosition?: number } };
    // a JS error here (stack exhausted reading a deep tree) is not the parser's verdict on the text
    if (e.sqlDetails === undefined)
      throw invalid(err instanceof RangeError ? 'it is too deeply nested to check' : 'it could not be checked');
    const at = e.sqlDetails.cursorPosition;
    // the parser's message quotes only the query's own token near the error
    throw invalid(
      `it does not parse: ${String(e.message ?? 'syntax error').slice(0, 200)}`
        + `${at === undefined ? '' : ` (character ${at + 1})`}`,
    );
  }
  const stmts = tree.stmts ?? [];
  if (stmts.length !== 1) throw invalid(`it must be exactly one statement, found ${stmts.length}`);
  const [only] = stmts;
  const kind = Object.keys(only?.stmt ?? {})[0] ?? 'nothing';
  if (kind !== 'SelectStmt') throw invalid(`statement 1 is ${kind}, only a SELECT is allowed`);
  const select = (only!.stmt as { SelectStmt: Record<string, unknown> }).SelectStmt;
  if (select.intoClause !== undefined) throw invalid('SELECT … INTO creates a table; only a plain SELECT is allowed');
  const highest = { n: 0 };
  walk(select, highest);
  if (highest.n > paramCount)
    throw invalid(`it uses $${highest.n} but ${paramCount} parameter${paramCount === 1 ? ' is' : 's are'} given`);
  // Locations are byte offsets into the UTF-8 text: cut the statement out of the bytes.
  const bytes = Buffer.from(sql, 'utf8');
  const start = only?.stmt_location ?? 0;
  const end = only?.stmt_len === undefined || only.stmt_len === 0 ? bytes.length : start + only.stmt_len;
  return bytes.subarray(start, end).toString('utf8').trim();
}

/** Visits every node with an explicit stack (a recursive walk overflows on deep expressions). */
function walk(root: unknown, highest: { n: number }): void {
  const stack: { node: unknown; depth: number }[] = [{ node: root, depth: 0 }];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const { node, depth } = next;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > MAX_DEPTH) throw invalid('it is too deeply nested to check');
    if (Array.isArray(node)) {
      for (const item of node) stack.push({ node: item, depth: depth + 1 });
      continue;
    }
    for (const [key, value] of Object.entries(node)) {
      if (WRITING_NODES.has(key))
        throw invalid(
          key === 'LockingClause'
            ? 'FOR UPDATE/SHARE takes locks; only a plain SELECT is allowed'
            : `it contains ${key} (a data-modifying statement)`,
        );
      if (key === 'intoClause') throw invalid('SELECT … INTO creates a table; only a plain SELECT is allowed');
      if (key === 'FuncCall')
        checkFunction(value as { funcname?: { String?: { sval?: string } }[]; location?: number });
      if (key === 'ParamRef') highest.n = Math.max(highest.n, Number((value as { number?: number }).number ?? 0));
      stack.push({ node: value, depth: depth + 1 });
    }
  }
}

function checkFunction(call: { funcname?: { String?: { sval?: string } }[]; location?: number }): void {
  const name =
    (call.funcname ?? [])
      .map((n) => n.String?.sval ?? '')
      .at(-1)
      ?.toLowerCase() ?? '';
  if (DENIED_FUNCTIONS.some((re) => re.test(name))) {
    throw invalid(
      `it calls ${name}(), which audience queries may not `
        + `use${call.location === undefined ? '' : ` (character ${call.location + 1})`}`,
    );
  }
}
