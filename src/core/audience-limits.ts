/**
 * Limits on a campaign's audience definition, shared by the campaign input schema and the
 * warehouse adapters that enforce them again, so both refuse the same input.
 */
import { SwitchyardError } from './errors.ts';

/**
 * A CSV delimiter: a tab or one printable ASCII punctuation character other than the double
 * quote. Letters, digits, spaces, NUL and line breaks would let any file (even one without
 * commas) parse as one huge column, and the whole file would surface in an error message.
 */
export const CSV_DELIMITER_PATTERN = '^(?:\\t|[!#-/:-@[-`{-~])$';
const CSV_DELIMITER = new RegExp(CSV_DELIMITER_PATTERN);

export function checkCsvDelimiter(delimiter: string): string {
  if (!CSV_DELIMITER.test(delimiter)) {
    throw new SwitchyardError(
      'VALIDATION_FAILED',
      'CSV delimiter must be a tab or one ASCII punctuation character other than a double quote',
    );
  }
  return delimiter;
}

/** Longer audience SQL is refused: parsing it is synchronous CPU work (~20 ms per KB at worst). */
export const MAX_AUDIENCE_SQL_LENGTH = 20_000;
