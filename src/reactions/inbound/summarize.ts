/**
 * Flat, one-line-per-recipient summaries of parsed inbound mail (what `switchyard bounce classify`
 * prints), and reply trimming for input of unknown type (plain text, HTML or a raw .eml). The
 * summary keeps the closed kind set of the CLI: a reported delay is a `soft_bounce` with `detail`
 * `deferred`, a reported delivery is `not_bounce` with `detail` `delivered`.
 */
import { SwitchyardError } from '../../core/errors.ts';
import { looksLikeHtml, trimReplyBody, trimReplyText } from '../../core/reply/trim.ts';
import { parseInboundMessage } from './parse.ts';
import type { InboundMessage } from './types.ts';

export type SummaryKind = 'hard_bounce' | 'soft_bounce' | 'complaint' | 'auto_reply' | 'reply' | 'not_bounce';

export interface InboundSummaryLine {
  recipient: string;
  kind: SummaryKind;
  reason: string | null;
  status: string | null;
  /** Why a DSN recipient is not_bounce: deferred | delivered. */
  detail?: string;
}

/** One line per DSN recipient in report order; one line for anything else. */
export function summarizeInbound(parsed: InboundMessage): InboundSummaryLine[] {
  switch (parsed.kind) {
    case 'dsn': {
      // Recipients the report says were delivered, relayed or expanded are no news in a report that
      // also has failures; a report of deliveries only still prints them (as not_bounce, delivered).
      const isFailure = (kind: string): boolean => kind !== 'delivered';
      const anyFailure = parsed.recipients.some((r) => isFailure(r.classification.kind));
      const shown = anyFailure ? parsed.recipients.filter((r) => isFailure(r.classification.kind)) : parsed.recipients;
      return shown.map((r) => {
        const c = r.classification;
        // A reported delay is a failed delivery attempt: a soft bounce, marked `deferred`.
        const kind: SummaryKind =
          c.kind === 'hard_bounce' || c.kind === 'soft_bounce'
            ? c.kind
            : c.kind === 'deferred'
              ? 'soft_bounce'
              : 'not_bounce';
        const detail = c.kind === 'deferred' || c.kind === 'delivered' ? { detail: c.kind } : {};
        return { recipient: r.recipient, kind, reason: c.reason, status: c.status, ...detail };
      });
    }
    case 'complaint':
      return [
        {
          recipient: parsed.originalRcpt ?? '',
          kind: 'complaint',
          reason: 'feedback',
          status: null,
          detail: parsed.feedbackType,
        },
      ];
    case 'auto_reply':
      return [{ recipient: parsed.from ?? '', kind: 'auto_reply', reason: 'vacation', status: null }];
    case 'reply':
      return [{ recipient: parsed.from ?? '', kind: 'reply', reason: null, status: null }];
  }
}

/** Does this text start like an RFC 822 message (a header block with a familiar field)? */
export function looksLikeRfc822(text: string): boolean {
  const head = text.replace(/^From [^\n]*\n/, '').split(/\r?\n\r?\n/, 1)[0] ?? '';
  const lines = head.split(/\r?\n/).filter((l) => !/^[ \t]/.test(l));
  if (lines.length === 0 || !lines.every((l) => /^[!-9;-~]+:/.test(l))) return false;
  return /^(from|to|subject|date|message-id|mime-version|received|return-path|content-type|in-reply-to):/im.test(head);
}

/** Trims a reply given as plain text, HTML or a raw email. */
export async function trimReplyInput(content: string | Buffer): Promise<string> {
  const text = content.toString();
  if (looksLikeHtml(text)) return trimReplyBody({ html: text });
  if (!looksLikeRfc822(text)) return trimReplyText(text);
  const parsed = await parseInboundMessage(content);
  if (parsed.kind === 'reply') return parsed.trimmedText;
  if (parsed.kind === 'auto_reply') return trimReplyText(parsed.text);
  throw new SwitchyardError(
    'INBOUND_MESSAGE_INVALID',
    `message is a ${parsed.kind === 'dsn' ? 'delivery status notification' : 'complaint report'}, not a reply`,
  );
}
