/**
 * Unsubscribe by ledger id (the one-click and preference-page links, mailto replies): becomes an
 * `unsubscribed` event through the same ingest as every other reaction, so suppression is
 * immediate and propagation follows. Idempotent: the source id is per ledger row.
 */
import type { Db } from '../store/port.ts';
import type { Ingest } from './ingest.ts';

export function createUnsubscriber(deps: { db: Db; ingest: Ingest }) {
  return async function unsubscribe(input: { ledgerId: string; source: string; at: Date }): Promise<boolean> {
    const at = input.ledgerId.indexOf(':');
    if (at <= 0) return false;
    const campaignId = input.ledgerId.slice(0, at);
    const contactId = input.ledgerId.slice(at + 1);
    const {
      rows: [row],
    } = await deps.db.query<{ email: string; message_id: string | null }>(
      'select email, message_id from send_ledger where campaign_id = $1 and contact_id = $2',
      [campaignId, contactId],
    );
    if (row === undefined) return false; // erased or never sent: nothing left to suppress by this link
    await deps.ingest([
      {
        type: 'unsubscribed',
        sourceId: `unsubscribe:${input.ledgerId}`,
        provider: 'tracking',
        occurredAt: input.at,
        email: row.email,
        campaignId,
        contactId,
        ledgerId: input.ledgerId,
        messageId: row.message_id ?? undefined,
        raw: { source: input.source },
      },
    ]);
    return true;
  };
}
