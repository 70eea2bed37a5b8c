/**
 * Turns one Postmark webhook (flat JSON, `RecordType`) into EngagementEvents (esp.md §3–4). Pure.
 * Bounces and spam complaints carry an `ID`; other records have none, so their sourceId hashes
 * (RecordType, MessageID, Recipient, time) — stable across redeliveries, no address inside an id.
 * Our ids come back in `Metadata` (sy_msg, sy_campaign, sy_contact). Only a body that is not an
 * object with a RecordType, or whose date is unreadable or out of range, throws
 * WEBHOOK_PAYLOAD_INVALID; event-checks.ts refusals are reported in `rejected`.
 */
import { createHash } from 'node:crypto';
import { SwitchyardError } from '../../../core/errors.ts';
import type { EngagementEvent, EventType } from '../../../core/events.ts';
import { classifyClick, classifyOpen } from '../../../core/machine-detect.ts';
import { classifyBounce, dateFromText, finishEvent } from '../event-checks.ts';
import type { NormalizeResult } from '../../webhook-port.ts';

type Obj = Record<string, unknown>;

/** Bounce `Type` → our event type (esp.md §4). */
const BOUNCE_TYPE: Record<string, EventType> = {
  HardBounce: 'bounced_hard',
  SoftBounce: 'bounced_soft',
  VirusNotification: 'bounced_soft',
  Transient: 'deferred',
  DnsError: 'deferred',
  OpenRelayTest: 'deferred',
  BadEmailAddress: 'dropped',
  ManuallyDeactivated: 'dropped',
  Blocked: 'dropped',
  DMARCPolicy: 'dropped',
  Unconfirmed: 'dropped',
  SpamNotification: 'complained',
  SpamComplaint: 'complained',
  AutoResponder: 'auto_replied',
  AddressChange: 'auto_replied',
  ChallengeVerification: 'auto_replied',
};
const IGNORED_BOUNCE = new Set(['SMTPApiError', 'TemplateRenderingFailed']);

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;
}
function obj(v: unknown): Obj | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
}

function hashedId(parts: (string | undefined)[]): string {
  return createHash('sha256')
    .update(parts.map((p) => p ?? '').join('\n'))
    .digest('hex')
    .slice(0, 24);
}

interface Decision {
  type: EventType;
  email?: string;
  at?: string;
  extra: Partial<EngagementEvent>;
}

function decide(b: Obj, record: string): Decision | { reject: string } | { ignore: string } {
  switch (record) {
    case 'Delivery':
      return { type: 'delivered', email: str(b['Recipient']), at: str(b['DeliveredAt']), extra: {} };
    case 'Bounce':
    case 'SpamComplaint': {
      const kind = str(b['Type']) ?? (record === 'SpamComplaint' ? 'SpamComplaint' : undefined);
      if (!kind) return { reject: 'Bounce record has no Type' };
      if (IGNORED_BOUNCE.has(kind)) return { ignore: `bounce Type ${kind} (failed) is not an engagement event type` };
      const type = record === 'SpamComplaint' ? 'complained' : BOUNCE_TYPE[kind];
      if (!type) return { reject: `unknown Postmark bounce Type ${JSON.stringify(kind)}` };
      const reason =
        type === 'dropped'
          ? 'suppressed'
          : type === 'complained'
            ? 'feedback'
            : type === 'auto_replied'
              ? 'vacation'
              : undefined;
      const details = str(b['Details']) ?? str(b['Description']);
      if (type === 'bounced_hard' || type === 'bounced_soft') {
        const c = classifyBounce(type, undefined, details);
        return {
          type: c.type,
          email: str(b['Email']),
          at: str(b['BouncedAt']),
          extra: { reason: c.reason, diagnostic: details },
        };
      }
      return { type, email: str(b['Email']), at: str(b['BouncedAt']), extra: { reason, diagnostic: details } };
    }
    case 'Open': {
      const geo = obj(b['Geo']);
      return {
        type: 'opened',
        email: str(b['Recipient']),
        at: str(b['ReceivedAt']),
        extra: { userAgent: str(b['UserAgent']), ip: str(geo?.['IP']) },
      };
    }
    case 'Click': {
      const url = str(b['OriginalLink']);
      if (!url) return { reject: 'Click record has no OriginalLink' };
      const geo = obj(b['Geo']);
      return {
        type: 'clicked',
        email: str(b['Recipient']),
        at: str(b['ReceivedAt']),
        extra: { url, userAgent: str(b['UserAgent']), ip: str(geo?.['IP']) },
      };
    }
    case 'SubscriptionChange': {
      if (b['SuppressSending'] !== true)
        return { ignore: 'SubscriptionChange with SuppressSending=false (resubscribed) is not an engagement event' };
      const why = str(b['SuppressionReason']);
      const type: EventType =
        why === 'HardBounce' ? 'bounced_hard' : why === 'SpamComplaint' ? 'complained' : 'unsubscribed';
      return { type, email: str(b['Recipient']), at: str(b['ChangedAt']), extra: why ? { diagnostic: why } : {} };
    }
    default:
      return { reject: `unknown Postmark RecordType ${JSON.stringify(record)}` };
  }
}

export function normalize(body: unknown): NormalizeResult {
  const b = obj(body);
  if (!b)
    throw new SwitchyardError(
      'WEBHOOK_PAYLOAD_INVALID',
      `Postmark body must be a JSON object, got `
        + `${Array.isArray(body) ? 'array' : body === null ? 'null' : typeof body}`,
    );
  const record = str(b['RecordType']);
  if (!record) throw new SwitchyardError('WEBHOOK_PAYLOAD_INVALID', 'Postmark body has no RecordType');
  const out: NormalizeResult = { events: [], rejected: [], ignored: [] };
  const d = decide(b, record);
  if ('reject' in d) {
    out.rejected.push({ index: 0, reason: d.reject });
    return out;
  }
  if ('ignore' in d) {
    out.ignored.push({ index: 0, reason: d.ignore });
    return out;
  }
  if (!d.email) {
    out.rejected.push({ index: 0, reason: `${record} record has no recipient` });
    return out;
  }
  if (!d.at) {
    out.rejected.push({ index: 0, reason: `${record} record has no timestamp` });
    return out;
  }
  const occurredAt = dateFromText(d.at);
  // one record per request: an unreadable or far-off date makes the whole body invalid (400)
  if (!occurredAt)
    throw new SwitchyardError(
      'WEBHOOK_PAYLOAD_INVALID',
      `${record} record timestamp is not a date between 1970 and 2100`,
    );
  const messageId = str(b['MessageID']);
  const id = str(b['ID']);
  const sourceId =
    id && (record === 'Bounce' || record === 'SpamComplaint')
      ? // Postmark IDs exceed 2^53 and lose digits in JSON.parse; the MessageID keeps the key unique.
        `postmark:${record}:${id}:${messageId ?? ''}`
      : `postmark:${record}:${hashedId([record, messageId, d.email.toLowerCase(), d.at])}`;
  const ev: EngagementEvent = { type: d.type, sourceId, provider: 'postmark', occurredAt, email: d.email, raw: b };
  for (const [k, v] of Object.entries(d.extra)) {
    if (v !== undefined) (ev as unknown as Obj)[k] = v;
  }
  if (messageId) ev.providerMessageId = messageId;
  const meta = obj(b['Metadata']);
  const ledgerId = str(meta?.['sy_msg']);
  if (ledgerId) ev.ledgerId = ledgerId;
  const campaignId = str(meta?.['sy_campaign']);
  if (campaignId) ev.campaignId = campaignId;
  const contactId = str(meta?.['sy_contact']);
  if (contactId) ev.contactId = contactId;
  if (ev.type === 'opened') ev.isMachine = classifyOpen({ userAgent: ev.userAgent, ip: ev.ip }).isMachine;
  if (ev.type === 'clicked') ev.isMachine = classifyClick({ userAgent: ev.userAgent, ip: ev.ip }).isMachine;
  const checked = finishEvent(ev, `${record} record`);
  if ('reject' in checked) out.rejected.push({ index: 0, reason: checked.reject });
  else out.events.push(checked);
  return out;
}
