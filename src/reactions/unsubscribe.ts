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

type LedgerDeps = { db: Queryable; pii?: Pick<Privacy, 'open'> };

/** The ledger row a link names, its address opened, and its campaign's topic; null when erased or never sent. */
async function ledgerRecipient(
  deps: LedgerDeps,
  ledgerId: string,
): Promise<{
  campaignId: string;
  contactId: string;
  email: string;
  messageId: string | null;
  topic: string | null;
} | null> {
  const at = ledgerId.indexOf(':');
  if (at <= 0) return null;
  const campaignId = ledgerId.slice(0, at);
  const contactId = ledgerId.slice(at + 1);
  const {
    rows: [row],
  } = await deps.db.query<{ email: string; message_id: string | null; topic: string | null }>(
    // left join: a ledger row names whom to unsubscribe even when its campaign row is not there
    `select l.email, l.message_id, c.definition->>'topic' as topic
     from send_ledger l left join campaigns c on c.id = l.campaign_id
     where l.campaign_id = $1 and l.contact_id = $2`,
    [campaignId, contactId],
  );
  if (row === undefined) return null; // erased or never sent: nothing left to act on by this link
  const email = deps.pii === undefined ? row.email : await deps.pii.open(row.email);
  // an erased person is already suppressed by fingerprint, and there is no address to act by
  if (email === null) return null;
  return { campaignId, contactId, email, messageId: row.message_id, topic: row.topic };
}

/** `pii` opens the ledger's sealed address (src/privacy/); without it the ledger holds plain addresses. */
export function createUnsubscriber(deps: LedgerDeps & { ingest: Ingest }): Unsubscribe {
  return async function unsubscribe(input) {
    const r = await ledgerRecipient(deps, input.ledgerId);
    if (r === null) return false;
    await deps.ingest([
      {
        type: 'unsubscribed',
        sourceId: `unsubscribe:${input.ledgerId}`,
        provider: 'tracking',
        occurredAt: input.at,
        email: r.email,
        campaignId: r.campaignId,
        contactId: r.contactId,
        ledgerId: input.ledgerId,
        messageId: r.messageId ?? undefined,
        raw: { source: input.source },
      },
    ]);
    return true;
  };
}

/**
 * The preference page's narrower choice: leave only the message's topic. The withdrawal is a
 * consent-ledger record (`withdraw`, via the preference page, with IP and user agent) through
 * `withdraw` (the double opt-in service's setPreferences), so every road reads it from the
 * subscription state; the address stays unsuppressed for the other topics.
 */
export interface TopicUnsubscriber {
  /** The topic of the campaign the ledger row belongs to; null when it has none or the row is gone. */
  topicOf(ledgerId: string): Promise<string | null>;
  /** Withdraws the row's subject from that topic; returns the topic, or null when there was nothing to do. */
  unsubscribe(input: { ledgerId: string; ip?: string; userAgent?: string }): Promise<string | null>;
}

export function createTopicUnsubscriber(
  deps: LedgerDeps & {
    withdraw(email: string, topic: string, ctx: { via: string; ip?: string; userAgent?: string }): Promise<unknown>;
  },
): TopicUnsubscriber {
  return {
    async topicOf(ledgerId) {
      const r = await ledgerRecipient(deps, ledgerId);
      return r?.topic ?? null;
    },
    async unsubscribe(input) {
      const r = await ledgerRecipient(deps, input.ledgerId);
      if (r === null || r.topic === null) return null;
      await deps.withdraw(r.email, r.topic, {
        via: 'preference_page',
        ...(input.ip === undefined ? {} : { ip: input.ip }),
        ...(input.userAgent === undefined ? {} : { userAgent: input.userAgent }),
      });
      return r.topic;
    },
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
