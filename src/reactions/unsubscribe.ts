/**
 * Unsubscribe by ledger id (the one-click and preference-page links, mailto requests): becomes an
 * `unsubscribed` event through the same ingest as every other reaction, so suppression is
 * immediate and propagation follows. Idempotent: the source id is per ledger row, so the link and
 * the mailto of one message suppress once between them.
 *
 * The mailto half: every message's List-Unsubscribe header offers
 * `mailto:<unsubscribe@return-path domain>?subject=unsubscribe-<token>`, the token being the
 * message's unsubscribe token (core/tracking-token.ts), the same credential as the one-click URL.
 * An inbound email whose subject is that request is an unsubscribe, not a reply: the token is
 * verified exactly as the one-click route verifies it (message token, else a version-0 `u`
 * token), and only a token some current secret signed suppresses anyone. A forged or unknown
 * token suppresses no one; the caller sends it to review with the reason.
 */
import { createTokenCodec, type TokenCodec } from '../core/tracking-token.ts';
import type { Queryable } from '../store/port.ts';
import type { Ingest } from './ingest.ts';
import type { Privacy } from '../privacy/service.ts';

export type Unsubscribe = (input: { ledgerId: string; source: string; at: Date }) => Promise<boolean>;

/** `pii` opens the ledger's sealed address (src/privacy/); without it the ledger holds plain addresses. */
export function createUnsubscriber(deps: { db: Queryable; ingest: Ingest; pii?: Pick<Privacy, 'open'> }): Unsubscribe {
  return async function unsubscribe(input) {
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
    const email = deps.pii === undefined ? row.email : await deps.pii.open(row.email);
    // an erased person is already suppressed by fingerprint: nothing to add, and no address to add it by
    if (email === null) return false;
    await deps.ingest([
      {
        type: 'unsubscribed',
        sourceId: `unsubscribe:${input.ledgerId}`,
        provider: 'tracking',
        occurredAt: input.at,
        email,
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

/** `unsubscribe-<token>`, as our mailto link sets it; reply/forward prefixes a client adds are allowed. */
const MAILTO_SUBJECT = /^\s*(?:(?:re|aw|fw|fwd|tr|sv|antw|wg)\s*:\s*)*unsubscribe-([A-Za-z0-9_-]{8,512})\s*$/i;

/** The token of a mailto unsubscribe subject, or null when the subject is something else. */
export function mailtoUnsubscribeToken(subject: string | undefined): string | null {
  if (subject === undefined) return null;
  return MAILTO_SUBJECT.exec(subject)?.[1] ?? null;
}

export type MailtoOutcome =
  | { kind: 'unsubscribed'; ledgerId: string }
  | { kind: 'refused'; reason: string; ledgerId?: string };

/** Verifies mailto tokens with the tracking secrets (newest first) and unsubscribes their row. */
export function createMailtoUnsubscriber(deps: {
  secrets: readonly string[];
  unsubscribe: Unsubscribe;
}): (token: string, at: Date) => Promise<MailtoOutcome> {
  const codec: TokenCodec | null = deps.secrets.length === 0 ? null : createTokenCodec(deps.secrets);
  return async (token, at) => {
    const ledgerId = codec === null ? null : ledgerOf(codec, token);
    if (ledgerId === null)
      return {
        kind: 'refused',
        reason:
          'its unsubscribe token did not verify (tampered, truncated, from a preview or signed with an unknown key)',
      };
    if (!(await deps.unsubscribe({ ledgerId, source: 'mailto', at })))
      return { kind: 'refused', reason: 'the message its token names is not in the send ledger', ledgerId };
    return { kind: 'unsubscribed', ledgerId };
  };
}

/** As the one-click route: the message's unsubscribe token, else a version-0 unsubscribe token. */
function ledgerOf(codec: TokenCodec, token: string): string | null {
  const message = codec.verifyMessage(token, 'unsubscribe');
  if (message !== null) return message.ledgerId;
  const legacy = codec.verify(token);
  return legacy !== null && legacy.kind === 'u' ? legacy.ledgerId : null;
}
