/**
 * The CLI's user errors: one line saying what was wrong and how to fix it, and the exit code
 * (docs/cli.md). Anything else that reaches main.ts is a bug or an unexpected failure and prints
 * its stack only with --verbose.
 */

/** Exit codes, documented in docs/cli.md and the help epilog. */
export const EXIT = {
  ok: 0,
  /** The server refused or the operation failed: unknown id, wrong state, invalid campaign. */
  failed: 1,
  /** Bad usage or input: arguments, a missing or unreadable file, bad JSON, invalid configuration. */
  usage: 2,
  /** The admin API did not answer: the server is not running or the URL is wrong. */
  unreachable: 3,
} as const;

export const EXIT_CODES_HELP = [
  'Exit codes:',
  '  0  ok',
  '  1  failed, or refused by the server (unknown id, wrong state, invalid campaign)',
  '  2  bad usage or input (arguments, missing file, bad JSON, invalid configuration)',
  '  3  server unreachable (is `npm start` running? is --url right?)',
  'Add --verbose to any command for stack traces.',
].join('\n');

export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** An error answer of the admin API: HTTP status, the error code and message it sent. */
export class ApiError extends CliError {
  readonly status: number;
  readonly code: string;
  readonly serverMessage: string;
  constructor(status: number, code: string, serverMessage: string) {
    super(`${code}: ${serverMessage}`, EXIT.failed);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.serverMessage = serverMessage;
  }
}

export function isCliError(err: unknown): err is CliError {
  return err instanceof CliError;
}

/** "line 3, column 7" for a character offset into `text`. */
export function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `line ${line}, column ${column}`;
}
