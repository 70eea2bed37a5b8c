/**
 * Splits the events of one parsed inbound email into those we may act on and those a person must
 * look at (core/inbound/report-trust.ts decides; this file gathers the references, looks the
 * referenced sends up in the send ledger, and applies the verdicts). An event we act on carries
 * the ledger row's campaign, contact and address, never the address the report claimed. A reply
 * is always stored (the replies stage classifies it), marked `raw.verified` so that only a
 * verified reply can unsubscribe anyone or create a task on its own.
 */
import { extractVerpToken } from '../../core/bounce/verp.ts';
import type { EngagementEvent } from '../../core/events.ts';
import {
  judgeReport,
  sendsToLookUp,
  type ReportClaim,
  type ReportReferences,
  type SendKey,
  type SentMessage,
  type UntrustedReason,
} from '../../core/inbound/report-trust.ts';
import type { NewReviewItem } from '../review-queue.ts';
import type { InboundEnvelope } from './smtp-listener.ts';
import type { InboundMessage, ParseInboundOptions } from './types.ts';

/** The send ledger's rows for these (campaign, contact) keys or legacy Message-IDs; the campaign
 *  service answers it (CampaignService.findSentMessages). */
export type FindSentMessages = (keys: readonly SendKey[], messageIds: readonly string[]) => Promise<SentMessage[]>;

export interface VouchedEvents {
  /** Events to ingest: trusted reports, and every reply (verified or not). */
  ingest: EngagementEvent[];
  /** Untrusted bounces, complaints and auto-replies: recorded for review, never ingested. */
  review: NewReviewItem[];
}

const EXCERPT_CHARS = 500;
/** Review items per email: a forged 10 MB DSN may list 100 000 recipients, a person needs a few. */
export const MAX_REVIEW_ITEMS_PER_MESSAGE = 10;
const WHY: Readonly<Record<UntrustedReason, string>> = {
  no_reference: 'it carries no VERP token of ours and none of our Message-IDs',
  unknown_message: 'the message it names is not in the send ledger',
  address_mismatch: 'the address it names is not the one our referenced message went to',
  ambiguous: 'it references messages to several addresses and names none of them',
};

/** Every VERP token (envelope recipients first, then the report) and Message-ID the email names. */
export function referencesOf(
  parsed: InboundMessage,
  envelope: InboundEnvelope,
  options: ParseInboundOptions = {},
): ReportReferences {
  const fromEnvelope = envelope.rcptTo
    .map((r) =>
      extractVerpToken(r, {
        prefix: options.verpPrefix ?? 'b',
        ...(options.verpDomain === undefined ? {} : { domain: options.verpDomain }),
      }),
    )
    .filter((t): t is string => t !== null);
  const ids =
    parsed.kind === 'reply' || parsed.kind === 'auto_reply'
      ? // the message replied to first, then the thread from its newest end
        [parsed.inReplyTo, parsed.originalMessageId, ...[...parsed.references].reverse()]
      : [parsed.originalMessageId];
  return {
    verpTokens: [...new Set([...fromEnvelope, ...(parsed.verpToken === undefined ? [] : [parsed.verpToken])])],
    messageIds: [...new Set(ids.filter((id): id is string => id !== undefined && id !== ''))],
  };
}

/** What each event claims, aligned with toEngagementEvents' output (one per DSN recipient). */
function claimOf(parsed: InboundMessage, event: EngagementEvent, index: number): ReportClaim {
  switch (parsed.kind) {
    case 'dsn': {
      const r = parsed.recipients[index];
      return {
        addresses: [r?.recipient, r?.originalRecipient].filter((a): a is string => a !== undefined && a !== ''),
        match: 'if_given',
      };
    }
    case 'complaint':
      return { addresses: event.email === undefined ? [] : [event.email], match: 'if_given' };
    case 'reply':
      return { addresses: event.email === undefined ? [] : [event.email], match: 'required' };
    case 'auto_reply':
      return { addresses: [], match: 'none' };
  }
}

export async function vouchForEvents(
  findSentMessages: FindSentMessages,
  parsed: InboundMessage,
  events: readonly EngagementEvent[],
  refs: ReportReferences,
  verpSecrets: readonly string[],
): Promise<VouchedEvents> {
  if (events.length === 0) return { ingest: [], review: [] };
  const lookup = sendsToLookUp(refs, verpSecrets);
  const keys = [...lookup.signed, ...lookup.named];
  const found =
    keys.length === 0 && lookup.legacyMessageIds.length === 0
      ? []
      : await findSentMessages(keys, lookup.legacyMessageIds);
  const out: VouchedEvents = { ingest: [], review: [] };
  events.forEach((event, i) => {
    const verdict = judgeReport(claimOf(parsed, event, i), lookup, found);
    const isReply = event.type === 'replied';
    if (verdict.trusted) {
      const { send } = verdict;
      out.ingest.push({
        ...event,
        email: send.email,
        campaignId: send.campaignId,
        contactId: send.contactId,
        ...(send.messageId === null ? {} : { messageId: send.messageId }),
        raw: isReply ? { ...(event.raw as object), verified: true, via: verdict.via } : event.raw,
      });
    } else if (isReply) {
      // Not ours to act on, but a person may still want to read it: the replies stage reviews it.
      // Unattributed (no message id for ingest to correlate), so a spoofed reply earns no contact
      // any engagement; the id it claimed stays in raw for the reviewer.
      const { campaignId: _c, contactId: _k, messageId, ...unattributed } = event;
      out.ingest.push({
        ...unattributed,
        raw: {
          ...(event.raw as object),
          verified: false,
          unverified: verdict.reason,
          claimedMessageId: messageId ?? null,
        },
      });
    } else {
      out.review.push({
        sourceId: event.sourceId,
        contactId: null,
        campaignId: null,
        intent: `unverified_${event.type}`,
        confidence: 0,
        excerpt: excerpt(
          `${event.type}`
            + (event.reason === undefined
              ? ''
              : ` (${event.reason}${event.status === undefined ? '' : ` ${event.status}`})`)
            + ` for ${event.email ?? 'an unnamed address'}; not acted on: ${WHY[verdict.reason]}.`,
        ),
        email: event.email ?? null,
      });
    }
  });
  if (out.review.length > MAX_REVIEW_ITEMS_PER_MESSAGE) {
    const extra = out.review.length - MAX_REVIEW_ITEMS_PER_MESSAGE + 1;
    out.review = out.review.slice(0, MAX_REVIEW_ITEMS_PER_MESSAGE);
    const last = out.review[out.review.length - 1]!;
    last.excerpt = excerpt(
      `This and ${extra - 1} more unverified reports in this message (not listed one by one). This one: `
        + `${last.excerpt}`,
    );
  }
  return out;
}

function excerpt(text: string): string {
  return text.length <= EXCERPT_CHARS ? text : `${text.slice(0, EXCERPT_CHARS - 1)}…`;
}
