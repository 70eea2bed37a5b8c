/**
 * The opaque `next` of readClosedWonDeals, shared by the CRM adapters: the keyset (close date as
 * the vendor prints it, deal id) of the last deal of a page, as JSON. A cursor that does not parse
 * is refused (VALIDATION_FAILED), never read as "from the start".
 */
import { SwitchyardError } from '../../core/errors.ts';

export function encodeDealCursor(closed: string, id: string): string {
  return JSON.stringify([closed, id]);
}

export function decodeDealCursor(cursor: string | undefined): { closed: string; id: string } | undefined {
  if (cursor === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(cursor);
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string')
      return { closed: v[0], id: v[1] };
  } catch {
    /* refused below */
  }
  throw new SwitchyardError('VALIDATION_FAILED', 'not a deal cursor of this CRM');
}
