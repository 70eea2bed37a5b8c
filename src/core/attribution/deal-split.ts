/**
 * How a B2B deal's value is shared among people before attribution (docs/attribution.md, "CRM
 * deals"): equally over the account's contacts together with the deal's own contacts (so a
 * buying committee's touches all count, and a contact on the deal from outside the account is
 * not lost), in whole minor units that sum exactly to the amount. Pure.
 */
import { roundToMinorUnits } from './rules.ts';

export interface DealShare {
  contactId: string;
  amountMinor: number;
}

/** Equal shares in sorted contact-id order (largest remainder: the first ids get the extra units). */
export function splitDeal(
  amountMinor: number,
  dealContactIds: readonly string[],
  accountContactIds: readonly string[],
): DealShare[] {
  const people = [...new Set([...accountContactIds, ...dealContactIds])].sort();
  const shares = roundToMinorUnits(
    people.map(() => 1),
    amountMinor,
  );
  return people.map((contactId, i) => ({ contactId, amountMinor: shares[i] as number }));
}
