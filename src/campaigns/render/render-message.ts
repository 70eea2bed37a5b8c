/**
 * Renders one recipient's message from a CompiledTemplate: evaluates the parsed Liquid, signs the
 * tracking, unsubscribe and VERP tokens, and sets the headers the render stage owns
 * (deliverability.md §8). Pure apart from HMAC: same inputs, same message (Message-ID included),
 * so a retried render after a crash produces an identical message.
 * HMACs per message: one message signature (open pixel, every static link, unsubscribe URLs and
 * mailto subject; core/tracking-token.ts version 1) and one VERP. A Liquid-built link costs an
 * HMAC only the first time its URL appears in the campaign (a link tag, kept per campaign and
 * combined with the message's track token); the strings that depend only on the campaign
 * (prefixes, mailto, signers) are prepared once per compiled template and campaign.
 */
import { escapeAttribute } from 'entities';
import type { Liquid, Template } from 'liquidjs';
import { SwitchyardError } from '../../core/errors.ts';
import { createTokenCodec } from '../../core/tracking-token.ts';
import type { TokenCodec } from '../../core/tracking-token.ts';
import type { OutboundMessage } from '../../connectors/esp/port.ts';
import type { PreparedCampaign, RenderCampaign } from './campaign-types.ts';
import { OPEN_VAR } from './compile.ts';
import type { CompiledTemplate } from './compile.ts';
import { budgetOptions, renderPlan } from './fast-render.ts';
import type { FastPlan, RenderBudget } from './fast-render.ts';
import { LINKS_VAR } from './links.ts';
import { neutraliseUnsafeUrls } from './url-safety.ts';
import { createVerpEncoder } from '../../core/bounce/verp.ts';
import { messageIdFor } from '../../core/message-id.ts';
import { isLimitError, TRACK_FN_VAR } from './liquid-engine.ts';

export interface RenderContact {
  id: string;
  email: string;
  firstName?: string;
  [field: string]: unknown;
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

/** Link tags kept per campaign (a URL and its tag, ~100 bytes each). Per-recipient URLs
 *  (`?ref={{ contact.id }}`) never repeat: they fill the map, which is then cleared (bounded). */
const LINK_TAG_ENTRIES = 4096;

function sameSecrets(a: string | readonly string[], b: string | readonly string[]): boolean {
  if (a === b) return true;
  if (typeof a === 'string' || typeof b === 'string') return false;
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

function matches(p: PreparedCampaign, c: RenderCampaign): boolean {
  const s = p.source;
  return (
    s.id === c.id
    && s.trackingBaseUrl === c.trackingBaseUrl
    && sameSecrets(s.trackingSecret, c.trackingSecret)
    && s.listUnsubscribeMailto === c.listUnsubscribeMailto
    && s.returnPathDomain === c.returnPathDomain
    && s.messageIdDomain === c.messageIdDomain
    && s.name === c.name
    && s.postalAddress === c.postalAddress
    && (s.from === c.from || (s.from.address === c.from.address && s.from.name === c.from.name))
  );
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

function mailtoAddress(value: string): string {
  return value.replace(/^mailto:/i, '').split('?')[0] as string;
}

/**
 * The VERP return path: the same case-insensitive base32 token the inbound bounce parser decodes
 * (core/bounce/verp.ts; MTAs may lower-case local parts). Ids too long for the 64-octet local
 * part fall back to the plain bounce mailbox; bounces then correlate by Message-ID.
 */
function returnPathOf(campaign: RenderCampaign): (contactId: string) => string {
  const secret = typeof campaign.trackingSecret === 'string' ? campaign.trackingSecret : campaign.trackingSecret[0]!;
  const encode = createVerpEncoder({ secret, domain: campaign.returnPathDomain });
  const fallback = `bounces@${campaign.returnPathDomain}`;
  return (contactId) => {
    try {
      return encode({ campaignId: campaign.id, contactId });
    } catch {
      return fallback;
    }
  };
}

function prepare(compiled: CompiledTemplate, campaign: RenderCampaign): PreparedCampaign {
  const current = compiled.prepared.current;
  if (current !== null && matches(current, campaign)) return current;
  const base = campaign.trackingBaseUrl.replace(/\/+$/, '');
  const staticSuffixes: (string | null)[] = new Array<string | null>(compiled.links.length).fill(null);
  for (const link of compiled.links) {
    if (link.url !== undefined) staticSuffixes[link.index] = escapeAttribute(`/${link.index}`);
  }
  const { id, from } = campaign;
  const prepared: PreparedCampaign = {
    // a snapshot: the campaign object may be rebuilt or changed between chunks (see matches)
    source: { ...campaign },
    codec: codecFor(compiled, campaign.trackingSecret),
    clickPrefix: `${base}/t/c/`,
    escapedClickPrefix: escapeAttribute(`${base}/t/c/`),
    openPrefix: `${base}/t/o/`,
    unsubscribePrefix: `${base}/t/u/`,
    mailtoPrefix: `, <mailto:${mailtoAddress(campaign.listUnsubscribeMailto)}?subject=unsubscribe-`,
    staticSuffixes,
    scopeCampaign: { id, name: campaign.name, from, postalAddress: campaign.postalAddress },
    senderName: from.name ?? from.address,
    returnPath: returnPathOf(campaign),
    linkTags: new Map(),
    track: (url, linkIndex) => prepared.trackPrefix + linkTagSuffix(prepared, id, url, linkIndex),
    trackPrefix: '',
  };
  compiled.prepared.current = prepared;
  return prepared;
}

/** `/<linkIndex>/<link tag>` for a Liquid-built URL: one HMAC the first time the campaign renders
 *  this URL for this link, a map lookup after that. */
function linkTagSuffix(p: PreparedCampaign, campaignId: string, url: string, linkIndex: number): string {
  const key = `${linkIndex} ${url}`;
  let suffix = p.linkTags.get(key);
  if (suffix === undefined) {
    suffix = `/${linkIndex}/${p.codec.signLink(campaignId, linkIndex, url)}`;
    // Full: start over. Evicting the oldest entry one at a time makes V8 iterate past deleted
    // slots on every insert, far dearer than a clear; repeated URLs are simply signed again.
    if (p.linkTags.size >= LINK_TAG_ENTRIES) p.linkTags.clear();
    p.linkTags.set(key, suffix);
  }
  return suffix;
}

function renderPart(
  engine: Liquid,
  templates: Template[],
  plan: FastPlan | null,
  scope: Record<string, unknown>,
  budget: RenderBudget,
): string {
  return plan === null
    ? (engine.renderSync(templates, scope, budgetOptions(budget)) as string)
    : renderPlan(engine, plan, scope, budget);
}

/** TEMPLATE_LIMIT_EXCEEDED (permanent: the same recipient trips it again) or TEMPLATE_RENDER_FAILED. */
function renderFailed(err: unknown, campaignId: string, contactId: string, part: string): SwitchyardError {
  const details = { campaignId, contactId, part };
  if (isLimitError(err)) {
    return new SwitchyardError(
      'TEMPLATE_LIMIT_EXCEEDED',
      `rendering the ${part} for contact ${contactId} exceeded the template limits (render time, memory or `
        + `size): ${(err as Error).message}`,
      { details, cause: err },
    );
  }
  return new SwitchyardError(
    'TEMPLATE_RENDER_FAILED',
    `rendering the ${part} for contact ${contactId} failed: ${(err as Error).message}`,
    { details, cause: err },
  );
}

/** One recipient's OutboundMessage. Throws TEMPLATE_LIMIT_EXCEEDED, TEMPLATE_RENDER_FAILED,
 *  CAMPAIGN_INVALID (no postal address) or VALIDATION_FAILED (contact without an email address). */
export function renderMessage(compiled: CompiledTemplate, ctx: RenderContext): OutboundMessage {
  const { contact, campaign, sendAt } = ctx;
  if (typeof campaign.postalAddress !== 'string' || campaign.postalAddress.trim() === '') {
    throw new SwitchyardError(
      'CAMPAIGN_INVALID',
      `campaign ${campaign.id} has no sender postal address (required by CAN-SPAM and CASL)`,
      { details: { campaignId: campaign.id } },
    );
  }
  if (typeof contact.email !== 'string' || !contact.email.includes('@')) {
    throw new SwitchyardError('VALIDATION_FAILED', `contact ${contact.id} has no email address to send to`, {
      details: { campaignId: campaign.id, contactId: contact.id },
    });
  }
  const p = prepare(compiled, campaign);
  const ledgerId = `${campaign.id}:${contact.id}`;
  const tokens = p.codec.signMessage(
    sendAt === undefined ? { ledgerId } : { ledgerId, sentAt: Math.floor(sendAt.getTime() / 1000) },
  );
  const unsubscribeUrl = p.unsubscribePrefix + tokens.unsubscribe;
  // Extra variables first, so they cannot override the names below.
  const scope: Record<string, unknown> = {};
  for (const key in ctx) {
    if (key !== 'campaign' && key !== 'sendAt' && Object.hasOwn(ctx, key)) scope[key] = ctx[key];
  }
  scope['contact'] = contact;
  scope['campaign'] = p.scopeCampaign;
  scope['unsubscribe_url'] = unsubscribeUrl;
  scope['postal_address'] = campaign.postalAddress;
  scope['sender_name'] = p.senderName;

  let subject: string;
  let html: string | undefined;
  let text: string;
  let part = 'subject';
  const { limits } = compiled.engines;
  const budget: RenderBudget = { deadline: limits.now() + limits.renderMs, now: limits.now };
  try {
    subject = renderPart(compiled.engines.text, compiled.subject, compiled.plans.subject, scope, budget)
      .replace(/\s+/g, ' ')
      .trim();
    if (compiled.html !== null) {
      part = 'html';
      // html and text show the same Liquid-built links: the campaign keeps each URL's tag.
      p.trackPrefix = p.clickPrefix + tokens.track;
      scope[TRACK_FN_VAR] = p.track;
      const escapedPrefix = p.escapedClickPrefix + tokens.track;
      const links = new Array<string>(p.staticSuffixes.length);
      for (let i = 0; i < links.length; i++) {
        const suffix = p.staticSuffixes[i];
        links[i] = suffix === null || suffix === undefined ? '' : escapedPrefix + suffix;
      }
      scope[LINKS_VAR] = links;
      scope[OPEN_VAR] = p.openPrefix + tokens.track;
      html = renderPart(compiled.engines.html, compiled.html, compiled.plans.html, scope, budget);
      if (compiled.printsRawMarkup) html = neutraliseUnsafeUrls(html);
    }
    part = 'text';
    if (compiled.text !== null)
      text = renderPart(compiled.engines.text, compiled.text, compiled.plans.text, scope, budget);
    else if (compiled.textFromHtml !== null && html !== undefined) text = compiled.textFromHtml(html);
    else text = '';
    if (compiled.textIsDerived) text = text.trim();
  } catch (err) {
    throw renderFailed(err, campaign.id, contact.id, part);
  }

  const message: OutboundMessage = {
    messageId: messageIdFor(campaign.id, contact.id, campaign.messageIdDomain),
    from: campaign.from,
    to: { address: contact.email },
    subject,
    text,
    headers: {
      'List-Unsubscribe': `<${unsubscribeUrl}>${p.mailtoPrefix}${tokens.unsubscribe}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      'X-Switchyard-Msg': ledgerId,
    },
    returnPath: p.returnPath(contact.id),
    correlation: { campaignId: campaign.id, contactId: contact.id, ledgerId },
  };
  if (html !== undefined) message.html = html;
  if (campaign.replyTo !== undefined) message.replyTo = campaign.replyTo;
  return message;
}
