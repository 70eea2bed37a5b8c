/**
 * Renders one recipient's message from a CompiledTemplate: evaluates the parsed Liquid, signs the
 * tracking, unsubscribe and VERP tokens, and sets the headers the render stage owns
 * (deliverability.md §8). Pure apart from HMAC: same inputs, same message (Message-ID included),
 * so a retried render after a crash produces an identical message.
 * HMACs per message: one message signature (open pixel, every static link, unsubscribe URLs and
 * mailto subject; core/tracking-token.ts version 1), one per distinct Liquid-built link, one VERP.
 */
import { createHash } from 'node:crypto';
import { escapeAttribute } from 'entities';
import type { Liquid, Template } from 'liquidjs';
import { SwitchyardError } from '../../core/errors.ts';
import { createTokenCodec } from '../../core/tracking-token.ts';
import type { TokenCodec } from '../../core/tracking-token.ts';
import type { Address, OutboundMessage } from '../../connectors/esp/port.ts';
import { OPEN_VAR } from './compile.ts';
import type { CompiledTemplate } from './compile.ts';
import { renderPlan } from './fast-render.ts';
import type { FastPlan } from './fast-render.ts';
import { LINKS_VAR } from './links.ts';
import { encodeVerpAddress } from '../../core/bounce/verp.ts';
import { TRACK_FN_VAR } from './liquid-engine.ts';
import type { TrackFn } from './liquid-engine.ts';

export interface RenderContact {
  id: string;
  email: string;
  firstName?: string;
  [field: string]: unknown;
}

export interface RenderCampaign {
  id: string;
  name: string;
  from: Address;
  replyTo?: Address;
  subject?: string;
  /** Sender's physical postal address; required in every message (CAN-SPAM, CASL). */
  postalAddress: string;
  /** Mailbox for mailto unsubscribes, `unsub@example.com` or `mailto:unsub@example.com`. */
  listUnsubscribeMailto: string;
  /** e.g. `https://t.example.com` (no trailing slash needed). */
  trackingBaseUrl: string;
  /** Signing secrets, newest first (a single string is one secret). Never exposed to templates. */
  trackingSecret: string | readonly string[];
  returnPathDomain: string;
  messageIdDomain: string;
  sendingDomain: string;
}

export interface RenderContext {
  contact: RenderContact;
  campaign: RenderCampaign;
  /** When the send stage hands the message over (its clock). Stamped into click and open tokens
   *  so the tracking endpoint can spot scanner clicks seconds after delivery; omit for no stamp. */
  sendAt?: Date;
  /** Extra template variables (e.g. products); they cannot override the names above. */
  [extra: string]: unknown;
}

/** `<sha256(campaignId:contactId) prefix>@domain`: stable per ledger row, unique across rows. */
export function messageIdFor(campaignId: string, contactId: string, domain: string): string {
  const hash = createHash('sha256').update(`${campaignId}:${contactId}`).digest('hex').slice(0, 32);
  return `${hash}@${domain}`;
}

function renderFailed(err: unknown, campaignId: string, contactId: string, part: string): SwitchyardError {
  return new SwitchyardError('TEMPLATE_RENDER_FAILED',
    `rendering the ${part} for contact ${contactId} failed: ${(err as Error).message}`,
    { details: { campaignId, contactId, part }, cause: err });
}

/** `<prefix><index>` for each link known at compile time (the tracking endpoint resolves the
 *  index in the campaign's template); Liquid hrefs sign their own token through TRACK_FN_VAR. */
function staticLinks(compiled: CompiledTemplate, prefix: string): string[] {
  const out: string[] = new Array<string>(compiled.links.length).fill('');
  const escaped = escapeAttribute(prefix);
  for (const link of compiled.links) {
    if (link.url !== undefined) out[link.index] = `${escaped}${link.index}`;
  }
  return out;
}

function codecFor(compiled: CompiledTemplate, secrets: string | readonly string[]): TokenCodec {
  const key = typeof secrets === 'string' ? secrets : secrets.join('\n');
  let codec = compiled.codecs.get(key);
  if (codec === undefined) {
    codec = createTokenCodec(secrets);
    compiled.codecs.set(key, codec);
  }
  return codec;
}

function renderPart(engine: Liquid, templates: Template[], plan: FastPlan | null, scope: Record<string, unknown>): string {
  return plan === null ? engine.renderSync(templates, scope) as string : renderPlan(engine, plan, scope);
}

function mailtoAddress(value: string): string {
  return value.replace(/^mailto:/i, '').split('?')[0] as string;
}

/**
 * The VERP return path: the same case-insensitive base32 token the inbound bounce parser decodes
 * (core/bounce/verp.ts; MTAs may lower-case local parts). Ids too long for the 64-octet local
 * part fall back to the plain bounce mailbox; bounces then correlate by Message-ID.
 */
function returnPathFor(campaign: RenderCampaign, contactId: string): string {
  const secret = typeof campaign.trackingSecret === 'string' ? campaign.trackingSecret : campaign.trackingSecret[0]!;
  try {
    return encodeVerpAddress({ campaignId: campaign.id, contactId }, { secret, domain: campaign.returnPathDomain });
  } catch {
    return `bounces@${campaign.returnPathDomain}`;
  }
}

/** One recipient's OutboundMessage. Throws TEMPLATE_RENDER_FAILED, CAMPAIGN_INVALID (no postal
 *  address) or VALIDATION_FAILED (contact without an email address). */
export function renderMessage(compiled: CompiledTemplate, ctx: RenderContext): OutboundMessage {
  const { contact, campaign, sendAt, ...extra } = ctx;
  if (typeof campaign.postalAddress !== 'string' || campaign.postalAddress.trim() === '') {
    throw new SwitchyardError('CAMPAIGN_INVALID', `campaign ${campaign.id} has no sender postal address (required by CAN-SPAM and CASL)`,
      { details: { campaignId: campaign.id } });
  }
  if (typeof contact.email !== 'string' || !contact.email.includes('@')) {
    throw new SwitchyardError('VALIDATION_FAILED', `contact ${contact.id} has no email address to send to`,
      { details: { campaignId: campaign.id, contactId: contact.id } });
  }
  const ledgerId = `${campaign.id}:${contact.id}`;
  const codec = codecFor(compiled, campaign.trackingSecret);
  const base = campaign.trackingBaseUrl.replace(/\/+$/, '');
  const stamp = sendAt === undefined ? {} : { sentAt: Math.floor(sendAt.getTime() / 1000) };
  const tokens = codec.signMessage({ ledgerId, ...stamp });
  const unsubscribeUrl = `${base}/t/u/${tokens.unsubscribe}`;
  const scope: Record<string, unknown> = {
    ...extra,
    contact,
    campaign: { id: campaign.id, name: campaign.name, from: campaign.from, postalAddress: campaign.postalAddress },
    unsubscribe_url: unsubscribeUrl,
    postal_address: campaign.postalAddress,
    sender_name: campaign.from.name ?? campaign.from.address,
  };

  let subject: string;
  let html: string | undefined;
  let text: string;
  let part = 'subject';
  try {
    subject = renderPart(compiled.engines.text, compiled.subject, compiled.plans.subject, scope).replace(/\s+/g, ' ').trim();
    if (compiled.html !== null) {
      part = 'html';
      // html and text show the same Liquid-built links: sign each (url, link) once per recipient.
      const signed = new Map<string, string>();
      const track: TrackFn = (url, linkIndex) => {
        const key = `${linkIndex} ${url}`;
        let tracked = signed.get(key);
        if (tracked === undefined) {
          tracked = `${base}/t/c/${codec.sign({ kind: 'c', ledgerId, url, linkIndex, ...stamp })}`;
          signed.set(key, tracked);
        }
        return tracked;
      };
      scope[TRACK_FN_VAR] = track;
      scope[LINKS_VAR] = staticLinks(compiled, `${base}/t/c/${tokens.track}/`);
      scope[OPEN_VAR] = `${base}/t/o/${tokens.track}`;
      html = renderPart(compiled.engines.html, compiled.html, compiled.plans.html, scope);
    }
    part = 'text';
    if (compiled.text !== null) text = renderPart(compiled.engines.text, compiled.text, compiled.plans.text, scope);
    else if (compiled.textFromHtml !== null && html !== undefined) text = compiled.textFromHtml(html);
    else text = '';
    if (compiled.textIsDerived) text = text.trim();
  } catch (err) {
    throw renderFailed(err, campaign.id, contact.id, part);
  }

  const mailto = mailtoAddress(campaign.listUnsubscribeMailto);
  const message: OutboundMessage = {
    messageId: messageIdFor(campaign.id, contact.id, campaign.messageIdDomain),
    from: campaign.from,
    to: { address: contact.email },
    subject,
    text,
    headers: {
      'List-Unsubscribe': `<${unsubscribeUrl}>, <mailto:${mailto}?subject=unsubscribe-${tokens.unsubscribe}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      'X-Switchyard-Msg': ledgerId,
    },
    returnPath: returnPathFor(campaign, contact.id),
    correlation: { campaignId: campaign.id, contactId: contact.id, ledgerId },
  };
  if (html !== undefined) message.html = html;
  if (campaign.replyTo !== undefined) message.replyTo = campaign.replyTo;
  return message;
}
