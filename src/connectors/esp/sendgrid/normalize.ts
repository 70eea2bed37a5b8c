/**
 * Turns a SendGrid Event Webhook batch (a JSON array) into EngagementEvents (esp.md §3–4). Pure.
 * One bad or unknown event is reported in `rejected` and never stops the rest of the batch; events
 * we recognise but do not carry (processed, group_resubscribe) go to `ignored`. Only a body that is
 * not an array of objects throws WEBHOOK_PAYLOAD_INVALID. Our ids ride as top-level `sy_*` custom args.
 * Every event passes event-checks.ts (address, time range, storable text) or is rejected alone.
 */
import { SwitchyardError } from '../../../core/errors.ts';
import type { EngagementEvent, EventType } from '../../../core/events.ts';
import { classifyClick, classifyOpen } from '../../../core/machine-detect.ts';
import { classifyBounce, dateFromUnixSeconds, finishEvent } from '../event-checks.ts';
import type { NormalizeResult } from '../../webhook-port.ts';

/** SendGrid bounce_classification → our bounce reason taxonomy (bounces.md §6). */
const CLASSIFICATION_REASON: Record<string, string> = {
  'Invalid Address': 'userunknown',
  'Mailbox Unavailable': 'suspend',
  'Technical Failure': 'systemerror',
  Content: 'spamdetected',
  Reputation: 'badreputation',
  'Frequency or Volume Too High': 'toomanyconn',
  Unclassified: 'undefined',
};

const SIMPLE: Record<string, EventType> = {
  delivered: 'delivered',
  deferred: 'deferred',
  dropped: 'dropped',
  spamreport: 'complained',
  open: 'opened',
  click: 'clicked',
  unsubscribe: 'unsubscribed',
  group_unsubscribe: 'unsubscribed',
};
const IGNORED: Record<string, string> = {
  processed: "'processed' means accepted by SendGrid (sent); not an engagement event",
  group_resubscribe: "'group_resubscribe' (resubscribed) is not an engagement event type",
};

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;
}

function bounceType(e: Record<string, unknown>): EventType {
  const status = str(e['status']) ?? '';
  if (e['type'] === 'blocked') return 'bounced_soft';
  if (e['bounce_classification'] === 'Invalid Address' || /^5\.1\.\d+$/.test(status)) return 'bounced_hard';
  return 'bounced_soft';
}

function normalizeOne(e: Record<string, unknown>): EngagementEvent | { reject: string } | { ignore: string } {
  const kind = e['event'];
  if (typeof kind !== 'string') return { reject: 'event has no "event" field' };
  if (IGNORED[kind]) return { ignore: IGNORED[kind] };
  const type: EventType | undefined = kind === 'bounce' ? bounceType(e) : SIMPLE[kind];
  if (!type) return { reject: `unknown SendGrid event type ${JSON.stringify(kind)}` };
  const id = str(e['sg_event_id']);
  if (!id) return { reject: `${kind} event has no sg_event_id` };
  const occurredAt = dateFromUnixSeconds(e['timestamp']);
  if (!occurredAt) return { reject: `${kind} event ${id} has no numeric timestamp in range` };
  const email = str(e['email']);
  if (!email) return { reject: `${kind} event ${id} has no email` };

  const ev: EngagementEvent = { type, sourceId: `sendgrid:${id}`, provider: 'sendgrid', occurredAt, email, raw: e };
  const smtpId = str(e['smtp-id']);
  if (smtpId) ev.messageId = smtpId.replace(/^<|>$/g, '');
  const sgMessageId = str(e['sg_message_id']);
  if (sgMessageId) ev.providerMessageId = sgMessageId.split('.filter')[0];
  const ledgerId = str(e['sy_msg']);
  if (ledgerId) ev.ledgerId = ledgerId;
  const campaignId = str(e['sy_campaign']);
  if (campaignId) ev.campaignId = campaignId;
  const contactId = str(e['sy_contact']);
  if (contactId) ev.contactId = contactId;
  const ua = str(e['useragent']);
  if (ua) ev.userAgent = ua;
  const ip = str(e['ip']);
  if (ip) ev.ip = ip;

  if (kind === 'bounce') {
    const cls = str(e['bounce_classification']);
    ev.reason = (cls && CLASSIFICATION_REASON[cls]) ?? (e['type'] === 'blocked' ? 'blocked' : 'undefined');
    const status = str(e['status']);
    if (status) ev.status = status;
    const diag = str(e['reason']);
    if (diag) ev.diagnostic = diag;
    const c = classifyBounce(type, status, diag);
    ev.type = c.type;
    if (c.reason) ev.reason = c.reason;
  } else if (kind === 'deferred') {
    const diag = str(e['response']);
    if (diag) ev.diagnostic = diag;
  } else if (kind === 'dropped') {
    ev.reason = 'suppressed';
    const diag = str(e['reason']);
    if (diag) ev.diagnostic = diag;
  } else if (kind === 'open') {
    ev.isMachine = classifyOpen({ userAgent: ua, ip, providerSaysMachine: e['sg_machine_open'] === true }).isMachine;
  } else if (kind === 'click') {
    const url = str(e['url']);
    if (!url) return { reject: `click event ${id} has no url` };
    ev.url = url;
    ev.isMachine = classifyClick({ userAgent: ua, ip }).isMachine;
  }
  return finishEvent(ev, `${kind} event ${id}`);
}

export function normalize(body: unknown): NormalizeResult {
  if (!Array.isArray(body)) {
    throw new SwitchyardError(
      'WEBHOOK_PAYLOAD_INVALID',
      `SendGrid body must be a JSON array of events, got ${body === null ? 'null' : typeof body}`,
    );
  }
  const out: NormalizeResult = { events: [], rejected: [], ignored: [] };
  body.forEach((item: unknown, index) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      out.rejected.push({ index, reason: 'event is not a JSON object' });
      return;
    }
    const r = normalizeOne(item as Record<string, unknown>);
    if ('reject' in r) out.rejected.push({ index, reason: r.reject });
    else if ('ignore' in r) out.ignored.push({ index, reason: r.ignore });
    else out.events.push(r);
  });
  return out;
}
