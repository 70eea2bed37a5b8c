/**
 * Warehouse failures as SwitchyardErrors, by SQLSTATE only. PostgreSQL's message text can quote
 * data (`invalid input syntax for type integer: "<a secret>"` from a cast of a subquery), so it
 * never becomes our message, our details or our `cause` (pino prints causes): the SQLSTATE, its
 * condition name from the static table below and the error position are all that leave here.
 */
import { SwitchyardError } from '../../../core/errors.ts';

/** SQLSTATE classes (Appendix A of the PostgreSQL manual). */
const CLASSES: Record<string, string> = {
  '00': 'successful_completion',
  '01': 'warning',
  '02': 'no_data',
  '03': 'sql_statement_not_yet_complete',
  '08': 'connection_exception',
  '09': 'triggered_action_exception',
  '0A': 'feature_not_supported',
  '0B': 'invalid_transaction_initiation',
  '0F': 'locator_exception',
  '0L': 'invalid_grantor',
  '0P': 'invalid_role_specification',
  '0Z': 'diagnostics_exception',
  '20': 'case_not_found',
  '21': 'cardinality_violation',
  '22': 'data_exception',
  '23': 'integrity_constraint_violation',
  '24': 'invalid_cursor_state',
  '25': 'invalid_transaction_state',
  '26': 'invalid_sql_statement_name',
  '27': 'triggered_data_change_violation',
  '28': 'invalid_authorization_specification',
  '2B': 'dependent_privilege_descriptors_still_exist',
  '2D': 'invalid_transaction_termination',
  '2F': 'sql_routine_exception',
  '34': 'invalid_cursor_name',
  '38': 'external_routine_exception',
  '39': 'external_routine_invocation_exception',
  '3B': 'savepoint_exception',
  '3D': 'invalid_catalog_name',
  '3F': 'invalid_schema_name',
  '40': 'transaction_rollback',
  '42': 'syntax_error_or_access_rule_violation',
  '44': 'with_check_option_violation',
  '53': 'insufficient_resources',
  '54': 'program_limit_exceeded',
  '55': 'object_not_in_prerequisite_state',
  '57': 'operator_intervention',
  '58': 'system_error',
  '72': 'snapshot_too_old',
  F0: 'config_file_error',
  HV: 'fdw_error',
  P0: 'plpgsql_error',
  XX: 'internal_error',
};

/** The conditions an audience query commonly meets. */
const CONDITIONS: Record<string, string> = {
  '08000': 'connection_exception',
  '08003': 'connection_does_not_exist',
  '08006': 'connection_failure',
  '0A000': 'feature_not_supported',
  '21000': 'cardinality_violation',
  '22001': 'string_data_right_truncation',
  '22003': 'numeric_value_out_of_range',
  '22007': 'invalid_datetime_format',
  '22008': 'datetime_field_overflow',
  '22012': 'division_by_zero',
  '22P02': 'invalid_text_representation',
  '25006': 'read_only_sql_transaction',
  '25P02': 'in_failed_sql_transaction',
  '28000': 'invalid_authorization_specification',
  '28P01': 'invalid_password',
  '3D000': 'invalid_catalog_name',
  '3F000': 'invalid_schema_name',
  '40001': 'serialization_failure',
  '40P01': 'deadlock_detected',
  '42501': 'insufficient_privilege',
  '42601': 'syntax_error',
  '42602': 'invalid_name',
  '42702': 'ambiguous_column',
  '42703': 'undefined_column',
  '42704': 'undefined_object',
  '42725': 'ambiguous_function',
  '42803': 'grouping_error',
  '42804': 'datatype_mismatch',
  '42846': 'cannot_coerce',
  '42883': 'undefined_function',
  '42P01': 'undefined_table',
  '42P02': 'undefined_parameter',
  '42P08': 'ambiguous_parameter',
  '42P18': 'indeterminate_datatype',
  '53000': 'insufficient_resources',
  '53100': 'disk_full',
  '53200': 'out_of_memory',
  '53300': 'too_many_connections',
  '54000': 'program_limit_exceeded',
  '54001': 'statement_too_complex',
  '55P03': 'lock_not_available',
  '57014': 'query_canceled',
  '57P01': 'admin_shutdown',
  '57P02': 'crash_shutdown',
  '57P03': 'cannot_connect_now',
  P0001: 'raise_exception',
  XX000: 'internal_error',
};

/** Worth retrying: connection (08), rollback (40), resources (53), shutdown (57P0x), system (58), lock timeout. */
function isTransient(sqlstate: string): boolean {
  return ['08', '40', '53', '58'].includes(sqlstate.slice(0, 2)) || /^57P0/.test(sqlstate) || sqlstate === '55P03';
}

export function conditionName(sqlstate: string): string {
  return CONDITIONS[sqlstate] ?? CLASSES[sqlstate.slice(0, 2)] ?? 'unknown condition';
}

export interface FailureContext {
  /** host:port/db, never the password. */
  target: string;
  statementTimeoutMs: number;
  /** Characters of our own text before the user's query, to map `position` into the query. */
  queryOffset: number;
  queryLength: number;
}

/**
 * Translates whatever `pg` threw for a query into WAREHOUSE_QUERY_FAILED (permanent) or
 * WAREHOUSE_UNREACHABLE (transient, or no SQLSTATE: the connection failed), without its text.
 */
export function warehouseFailure(thrown: unknown, ctx: FailureContext): SwitchyardError {
  const err = thrown as { code?: unknown; position?: unknown };
  const sqlstate = typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code) ? err.code : undefined;
  if (sqlstate === undefined) {
    // a Node socket error code (ECONNRESET) or none: pg's own messages are not trusted either
    const errno = typeof err.code === 'string' && /^E[A-Z]+$/.test(err.code) ? err.code : undefined;
    return new SwitchyardError(
      'WAREHOUSE_UNREACHABLE',
      `the connection to the PostgreSQL warehouse at ${ctx.target} failed${errno === undefined ? '' : ` (${errno})`}`,
      { retryable: true, details: { target: ctx.target, ...(errno === undefined ? {} : { errno }) } },
    );
  }
  const name = conditionName(sqlstate);
  const raw = typeof err.position === 'string' ? Number(err.position) - ctx.queryOffset : Number.NaN;
  const position = Number.isInteger(raw) && raw >= 1 && raw <= ctx.queryLength ? raw : undefined;
  const where = position === undefined ? '' : ` at character ${position} of the query`;
  const hint =
    sqlstate === '57014'
      ? ` (statement timeout ${ctx.statementTimeoutMs} ms)`
      : sqlstate === '25006'
        ? ' (audience queries run read-only)'
        : '';
  const details = { target: ctx.target, sqlstate, condition: name, ...(position === undefined ? {} : { position }) };
  if (isTransient(sqlstate)) {
    return new SwitchyardError(
      'WAREHOUSE_UNREACHABLE',
      `the audience query failed for now (SQLSTATE ${sqlstate}: ${name})${hint}`,
      { retryable: true, details },
    );
  }
  return new SwitchyardError(
    'WAREHOUSE_QUERY_FAILED',
    `the audience query failed (SQLSTATE ${sqlstate}: ${name})${where}${hint}`,
    { retryable: false, details },
  );
}
