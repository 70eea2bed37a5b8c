/**
 * Is a failure an outage that may pass (retry later) or one that would repeat identically for the
 * same input (give up now)? Used where an outside sender decides whether to try again, such as the
 * inbound SMTP listener's 4xx versus 5xx: telling a sender to retry a message that can never be
 * stored makes it retry for days. Pure: decides from the error's code and class only.
 */
import { isSwitchyardError } from './errors.ts';

/**
 * SQLSTATEs about the attempt, not the statement: connection (08), shutdown or terminated backend
 * (57P01-03), too many connections (53300), out of memory/disk (53100, 53200), serialization
 * failure and deadlock (40001, 40P01). The same list the PostgreSQL store adapter retries on.
 */
const TRANSIENT_SQLSTATE = /^(08...|57P0[123]|53[123]00|40001|40P01)$/;
const SQLSTATE = /^[0-9A-Z]{5}$/;
/** Socket-level failures (no SQLSTATE). */
const TRANSIENT_SOCKET = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * True when retrying the same work later may succeed: a retryable SwitchyardError, a transient
 * SQLSTATE or socket error, or an error of unknown kind (an outage is the safer guess). False for a
 * non-retryable SwitchyardError, any other SQLSTATE (bad data, constraint, bad statement) and the
 * JavaScript errors that mean a bug (TypeError, RangeError, SyntaxError), which repeat every time.
 */
export function isTransientFailure(err: unknown): boolean {
  if (isSwitchyardError(err)) return err.retryable;
  if (err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError) return false;
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  if (typeof code === 'string' && TRANSIENT_SOCKET.has(code)) return true;
  if (typeof code === 'string' && SQLSTATE.test(code)) return TRANSIENT_SQLSTATE.test(code);
  return true;
}
