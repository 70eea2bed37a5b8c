/**
 * Turns one SNS delivery carrying an SES event into EngagementEvents (esp.md §3–4). Pure.
 * `Message` is a JSON string holding the SES event (double parse). Per-recipient arrays fan out
 * into one event per recipient; the sourceId is the SNS MessageId plus a hash of the recipient
 * (no address inside an id). Our ids come back in `mail.tags` (sy_msg, sy_campaign, sy_contact)
 * or the X-Switchyard-Msg header. Confirmation messages and SES's plain-text "Successfully
 * validated" notice produce no events (ignored). Only a body that is not an SNS message, a
 * Notification whose Message is not an SES event (or nests too deep), or an event time that is
 * unreadable or out of range throws WEBHOOK_PAYLOAD_INVALID; event-checks.ts refusals are rejected per recipient.
 */
import { createHash } from 'node:crypto';
import { SwitchyardError } from '../../../core/errors.ts';
import type { EngagementEvent, EventType } from '../../../core/events.ts';
import { classifyClick, classifyOpen } from '../../../core/machine-detect.ts';
import { jsonNestingExceeds } from '../../../core/json-depth.ts';
import { classifyBounce, dateFromText, finishEvent } from '../event-checks.ts';
import type { NormalizeResult } from '../../webhook-port.ts';

/** Same bound as the raw request body (routes/webhooks.ts): the Message is a second JSON text. */
export const MAX_MESSAGE_NESTING = 32;

type Obj = Record<string, unknown>;

const SUB_TYPE_REASON: Record<string, string> = {
  NoEmail: 'userunknown',
  MailboxFull: 'mailboxfull',
  MessageTooLarge: 'mesgtoobig',
  ContentRejected: 'spamdetected',
  AttachmentRejected: 'policyviolation',
  Suppressed: 'suppressed',
  OnAccountSuppressionList: 'suppressed',
  General: 'undefined',
};

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
function obj(v: unknown): Obj | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function recipientHash(email: string): string {
  return createHash('sha256').update(email.toLowerCase()).digest('hex').slice(0, 16);
}

interface Target {
  email: string;
  type: EventType;
  extra: Partial<EngagementEvent>;
}

/** Decides type and recipients for one SES event, or why it is rejected / ignored. */
function targets(e: Obj, kind: string, mail: Obj): Target[] | { reject: string } | { ignore: string } {
  const destination = arr(mail['destination']).filter((d): d is string => typeof d === 'string');
  const all = (type: EventType, extra: Partial<EngagementEvent> = {}): Target[] =>
    destination.map((email) => ({ email, type, extra }));
  switch (kind) {
    case 'Send':
      return { ignore: "'Send' means accepted by SES (sent); not an engagement event" };
    case 'Rendering Failure':
      return { ignore: "'Rendering Failure' (failed) is not an engagement event type" };
    case 'Reject':
      return all('dropped', { reason: 'virusdetected', diagnostic: str(obj(e['reject'])?.['reason']) });
    case 'Delivery':
      return arr(obj(e['delivery'])?.['recipients'])
        .filter((r): r is string => typeof r === 'string')
        .map((email) => ({ email, type: 'delivered', extra: {} }));
    case 'Bounce': {
      const b = obj(e['bounce']) ?? {};
      const bounceType = str(b['bounceType']);
      const sub = str(b['bounceSubType']) ?? 'General';
      const type: EventType =
        sub === 'Suppressed' || sub === 'OnAccountSuppressionList'
          ? 'dropped'
          : bounceType === 'Permanent'
            ? 'bounced_hard'
            : 'bounced_soft';
      return arr(b['bouncedRecipients'])
        .map(obj)
        .filter((r): r is Obj => r !== undefined && typeof r['emailAddress'] === 'string')
        .map((r) => {
          const status = str(r['status']);
          const diagnostic = str(r['diagnosticCode']);
          const c = type === 'dropped' ? { type } : classifyBounce(type, status, diagnostic);
          return {
            email: r['emailAddress'] as string,
            type: c.type,
            extra: { reason: c.reason ?? SUB_TYPE_REASON[sub] ?? 'undefined', status, diagnostic },
          };
        });
    }
    case 'Complaint': {
      const c = obj(e['complaint']) ?? {};
      if (c['complaintFeedbackType'] === 'not-spam')
        return { ignore: "complaint with complaintFeedbackType 'not-spam' is not a complaint" };
      return arr(c['complainedRecipients'])
        .map(obj)
        .filter((r): r is Obj => r !== undefined && typeof r['emailAddress'] === 'string')
        .map((r) => ({
          email: r['emailAddress'] as string,
          type: 'complained',
          extra: { reason: 'feedback', diagnostic: str(c['complaintFeedbackType']) },
        }));
    }
    case 'DeliveryDelay': {
      const d = obj(e['deliveryDelay']) ?? {};
      return arr(d['delayedRecipients'])
        .map(obj)
        .filter((r): r is Obj => r !== undefined && typeof r['emailAddress'] === 'string')
        .map((r) => ({
          email: r['emailAddress'] as string,
          type: 'deferred',
          extra: { status: str(r['status']), diagnostic: str(r['diagnosticCode']) ?? str(d['delayType']) },
        }));
    }
    case 'Open': {
      const o = obj(e['open']) ?? {};
      return all('opened', { userAgent: str(o['userAgent']), ip: str(o['ipAddress']) });
    }
    case 'Click': {
      const c = obj(e['click']) ?? {};
      const url = str(c['link']);
      if (!url) return { reject: 'Click event has no click.link' };
      return all('clicked', { url, userAgent: str(c['userAgent']), ip: str(c['ipAddress']) });
    }
    case 'Subscription': {
      const s = obj(e['subscription']) ?? {};
      const prefs = obj(s['newTopicPreferences']);
      if (prefs?.['unsubscribeAll'] !== true)
        return { ignore: "'Subscription' without unsubscribeAll (opt-in or topic change) is not an engagement event" };
      return all('unsubscribed');
    }
    default:
      return { reject: `unknown SES event type ${JSON.stringify(kind)}` };
  }
}

/** The time of this event: the per-type timestamp when SES gives one, else the SNS Timestamp. */
function occurredAt(e: Obj, kind: string, snsTimestamp: unknown): Date | undefined {
  const section = {
    Bounce: 'bounce',
    Complaint: 'complaint',
    Delivery: 'delivery',
    Open: 'open',
    Click: 'click',
    DeliveryDelay: 'deliveryDelay',
    Reject: 'reject',
    Subscription: 'subscription',
  }[kind];
  const t = (section && str(obj(e[section])?.['timestamp'])) ?? str(snsTimestamp);
  if (t === undefined) return undefined;
  const at = dateFromText(t);
  // one SNS message per request: an unreadable or far-off date makes the whole body invalid (400)
  if (!at)
    throw new SwitchyardError(
      'WEBHOOK_PAYLOAD_INVALID',
      `SES ${kind} event timestamp is not a date between 1970 and 2100`,
    );
  return at;
}

function correlate(ev: EngagementEvent, mail: Obj): void {
  const tags = obj(mail['tags']) ?? {};
  const tag = (name: string): string | undefined => str(arr(tags[name])[0]);
  const header = (name: string): string | undefined => {
    const h = arr(mail['headers'])
      .map(obj)
      .find((x) => typeof x?.['name'] === 'string' && (x['name'] as string).toLowerCase() === name);
    return str(h?.['value']);
  };
  const ledgerId = tag('sy_msg') ?? header('x-switchyard-msg');
  if (ledgerId) ev.ledgerId = ledgerId;
  const campaignId = tag('sy_campaign');
  if (campaignId) ev.campaignId = campaignId;
  const contactId = tag('sy_contact');
  if (contactId) ev.contactId = contactId;
  const providerMessageId = str(mail['messageId']);
  if (providerMessageId) ev.providerMessageId = providerMessageId;
  const messageId = str(obj(mail['commonHeaders'])?.['messageId']) ?? header('message-id');
  if (messageId) ev.messageId = messageId.replace(/^<|>$/g, '');
}

export function normalize(body: unknown): NormalizeResult {
  const sns = obj(body);
  if (!sns || typeof sns['Type'] !== 'string' || typeof sns['MessageId'] !== 'string') {
    throw new SwitchyardError(
      'WEBHOOK_PAYLOAD_INVALID',
      'SES webhook body must be an SNS message object with Type and MessageId',
    );
  }
  const out: NormalizeResult = { events: [], rejected: [], ignored: [] };
  if (sns['Type'] !== 'Notification') {
    out.ignored.push({ index: 0, reason: `SNS ${sns['Type']} carries no SES event` });
    return out;
  }
  const message = sns['Message'];
  if (typeof message !== 'string')
    throw new SwitchyardError('WEBHOOK_PAYLOAD_INVALID', 'SNS Notification has no Message string');
  if (message.startsWith('Successfully validated SNS topic')) {
    out.ignored.push({ index: 0, reason: 'SES topic validation notice' });
    return out;
  }
  if (jsonNestingExceeds(message, MAX_MESSAGE_NESTING)) {
    throw new SwitchyardError('WEBHOOK_PAYLOAD_INVALID', `SNS Message nests deeper than ${MAX_MESSAGE_NESTING} levels`);
  }
  let e: Obj | undefined;
  try {
    e = obj(JSON.parse(message));
  } catch {
    e = undefined;
  }
  if (!e) throw new SwitchyardError('WEBHOOK_PAYLOAD_INVALID', 'SNS Message is not a JSON SES event object');
  const kind = str(e['eventType']) ?? str(e['notificationType']);
  const mail = obj(e['mail']);
  if (!kind) {
    out.rejected.push({ index: 0, reason: 'SES event has neither eventType nor notificationType' });
    return out;
  }
  if (!mail) {
    out.rejected.push({ index: 0, reason: `SES ${kind} event has no mail object` });
    return out;
  }
  const t = targets(e, kind, mail);
  if ('reject' in t) {
    out.rejected.push({ index: 0, reason: t.reject });
    return out;
  }
  if ('ignore' in t) {
    out.ignored.push({ index: 0, reason: t.ignore });
    return out;
  }
  const at = occurredAt(e, kind, sns['Timestamp']);
  if (!at) {
    out.rejected.push({ index: 0, reason: `SES ${kind} event has no readable timestamp` });
    return out;
  }
  if (t.length === 0) {
    out.rejected.push({ index: 0, reason: `SES ${kind} event names no recipient` });
    return out;
  }
  const sentAt = Date.parse(str(mail['timestamp']) ?? '');
  for (const target of t) {
    const ev: EngagementEvent = {
      type: target.type,
      sourceId: `ses:${sns['MessageId']}:${recipientHash(target.email)}`,
      provider: 'ses',
      occurredAt: at,
      email: target.email,
      raw: e,
    };
    for (const [k, v] of Object.entries(target.extra)) {
      if (v !== undefined) (ev as unknown as Obj)[k] = v;
    }
    correlate(ev, mail);
    const secondsSinceSend = Number.isNaN(sentAt) ? undefined : (at.getTime() - sentAt) / 1000;
    if (ev.type === 'opened')
      ev.isMachine = classifyOpen({ userAgent: ev.userAgent, ip: ev.ip, secondsSinceSend }).isMachine;
    if (ev.type === 'clicked')
      ev.isMachine = classifyClick({ userAgent: ev.userAgent, ip: ev.ip, secondsSinceSend }).isMachine;
    // one bad recipient is refused alone; the others of the same message still count
    const checked = finishEvent(ev, `SES ${kind} event`);
    if ('reject' in checked) out.rejected.push({ index: 0, reason: checked.reject });
    else out.events.push(checked);
  }
  return out;
}
