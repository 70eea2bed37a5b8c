/**
 * Turns one Mailgun JSON webhook (`{ signature, "event-data" }`) into EngagementEvents (esp.md §3–4).
 * Pure. Mailgun's event id is unique only within a day, so the sourceId is id + UTC day of the
 * event. Our ids come back in `event-data["user-variables"]` (sy_msg, sy_campaign, sy_contact).
 * Only a body without an `event-data` object, or with a timestamp out of range, throws
 * WEBHOOK_PAYLOAD_INVALID; a bad or unknown event (incl. one event-checks.ts refuses) is reported
 * in `rejected` (index 0).
 */
import { SwitchyardError } from '../../../core/errors.ts';
import type { EngagementEvent, EventType } from '../../../core/events.ts';
import { classifyClick, classifyOpen } from '../../../core/machine-detect.ts';
import { classifyBounce, dateFromUnixSeconds, finishEvent } from '../event-checks.ts';
import type { NormalizeResult } from '../../webhook-port.ts';

const SIMPLE: Record<string, EventType> = {
  delivered: 'delivered',
  rejected: 'dropped',
  complained: 'complained',
  opened: 'opened',
  clicked: 'clicked',
  unsubscribed: 'unsubscribed',
};

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** failed → deferred (temporary), dropped (Mailgun's own suppression), else hard or soft bounce. */
function failedType(d: Record<string, unknown>): EventType {
  if (d['severity'] === 'temporary') return 'deferred';
  const reason = str(d['reason']) ?? '';
  if (reason.startsWith('suppress-')) return 'dropped';
  return reason === 'bounce' ? 'bounced_hard' : 'bounced_soft';
}

function normalizeEvent(d: Record<string, unknown>): EngagementEvent | { reject: string } | { ignore: string } {
  const kind = d['event'];
  if (typeof kind !== 'string') return { reject: 'event-data has no "event" field' };
  if (kind === 'accepted') return { ignore: "'accepted' means queued by Mailgun (sent); not an engagement event" };
  const type = kind === 'failed' ? failedType(d) : SIMPLE[kind];
  if (!type) return { reject: `unknown Mailgun event type ${JSON.stringify(kind)}` };
  const id = str(d['id']);
  if (!id) return { reject: `${kind} event has no event-data.id` };
  const ts = d['timestamp'];
  if (typeof ts !== 'number') return { reject: `${kind} event ${id} has no numeric timestamp` };
  const occurredAt = dateFromUnixSeconds(ts);
  // one event per request: a number out of range makes the whole body invalid (400)
  if (!occurredAt)
    throw new SwitchyardError(
      'WEBHOOK_PAYLOAD_INVALID',
      'event-data.timestamp is not unix seconds between 1970 and 2100',
    );
  const email = str(d['recipient']);
  if (!email) return { reject: `${kind} event ${id} has no recipient` };

  const ev: EngagementEvent = {
    type,
    sourceId: `mailgun:${id}:${occurredAt.toISOString().slice(0, 10)}`,
    provider: 'mailgun',
    occurredAt,
    email,
    raw: d,
  };
  const headers = obj(obj(d['message'])?.['headers']);
  const messageId = str(headers?.['message-id']);
  if (messageId) {
    ev.messageId = messageId.replace(/^<|>$/g, '');
    ev.providerMessageId = ev.messageId;
  }
  const vars = obj(d['user-variables']);
  const ledgerId = str(vars?.['sy_msg']);
  if (ledgerId) ev.ledgerId = ledgerId;
  const campaignId = str(vars?.['sy_campaign']);
  if (campaignId) ev.campaignId = campaignId;
  const contactId = str(vars?.['sy_contact']);
  if (contactId) ev.contactId = contactId;
  const ua = str(obj(d['client-info'])?.['user-agent']);
  if (ua) ev.userAgent = ua;
  const ip = str(d['ip']);
  if (ip) ev.ip = ip;

  if (kind === 'failed') {
    const ds = obj(d['delivery-status']);
    const message = str(ds?.['description']) || str(ds?.['message']);
    const enhanced = message ? /\b[245]\.\d{1,3}\.\d{1,3}\b/.exec(message)?.[0] : undefined;
    const status = enhanced ?? str(ds?.['code']);
    if (status) ev.status = status;
    if (message) ev.diagnostic = message;
    const reason = str(d['reason']);
    if (type === 'dropped') ev.reason = 'suppressed';
    else if (reason === 'bounce' && type === 'bounced_hard')
      ev.reason = status?.startsWith('5.1.') ? 'userunknown' : 'undefined';
    else if (reason) ev.reason = reason === 'espblock' ? 'blocked' : 'undefined';
    if (type === 'bounced_hard' || type === 'bounced_soft') {
      const c = classifyBounce(type, enhanced ?? undefined, message);
      ev.type = c.type;
      if (c.reason) ev.reason = c.reason;
    }
  } else if (kind === 'rejected') {
    ev.reason = 'suppressed';
    const diag = str(obj(d['reject'])?.['reason']);
    if (diag) ev.diagnostic = diag;
  } else if (kind === 'opened') {
    ev.isMachine = classifyOpen({ userAgent: ua, ip }).isMachine;
  } else if (kind === 'clicked') {
    const url = str(d['url']);
    if (!url) return { reject: `clicked event ${id} has no url` };
    ev.url = url;
    ev.isMachine = classifyClick({ userAgent: ua, ip }).isMachine;
  }
  return finishEvent(ev, `${kind} event ${id}`);
}

export function normalize(body: unknown): NormalizeResult {
  const root = obj(body);
  if (!root)
    throw new SwitchyardError(
      'WEBHOOK_PAYLOAD_INVALID',
      `Mailgun body must be a JSON object, got ${Array.isArray(body) ? 'array' : body === null ? 'null' : typeof body}`,
    );
  const data = obj(root['event-data']);
  if (!data)
    throw new SwitchyardError(
      'WEBHOOK_PAYLOAD_INVALID',
      'Mailgun body has no "event-data" object (legacy form-post webhooks are not supported; configure JSON webhooks)',
    );
  const out: NormalizeResult = { events: [], rejected: [], ignored: [] };
  const r = normalizeEvent(data);
  if ('reject' in r) out.rejected.push({ index: 0, reason: r.reject });
  else if ('ignore' in r) out.ignored.push({ index: 0, reason: r.ignore });
  else out.events.push(r);
  return out;
}
