/**
 * Compile once, render many: one compiled template per campaign, kept while the campaign sends
 * (bounded; the oldest is dropped first), plus how a campaign becomes the renderer's context.
 */
import { compileTemplate, type CompiledTemplate } from './render/compile.ts';
import type { RenderCampaign } from './render/campaign-types.ts';
import type { TemplateLimits } from './render/liquid-engine.ts';
import { variantDefinition } from './ab-test.ts';
import type { Campaign } from './types.ts';

export interface RenderSettings {
  /** Public base URL of the tracking endpoints. */
  trackingBaseUrl: string;
  /** Newest first. */
  trackingSecrets: readonly string[];
  /** Domain of the VERP return path and the mailto unsubscribe (default: the sender's domain). */
  returnPathDomain?: string;
}

export interface TemplateCache {
  /** `variant`: an A/B test's variant (its own subject and content), else the campaign's own. */
  get(c: Campaign, variant?: number): Promise<CompiledTemplate>;
  /** The limits every template compiled here renders under (validation should check the same). */
  readonly limits: TemplateLimits | undefined;
}

/** `limits`: render time and memory per recipient (config SWITCHYARD_TEMPLATE_*), for preview
 *  and sending alike, since both render through this cache. */
export function createTemplateCache(maxEntries = 64, limits?: TemplateLimits): TemplateCache {
  const cache = new Map<string, Promise<CompiledTemplate>>();
  return {
    limits,
    get(c, variant) {
      const key = variant === undefined ? c.id : `${c.id}#${variant}`;
      let hit = cache.get(key);
      if (hit === undefined) {
        const d = variantDefinition(c.definition, variant);
        hit = compileTemplate(
          { subject: d.subject, ...d.template },
          { postalAddress: d.postalAddress, ...(limits === undefined ? {} : { limits }) },
        );
        hit.catch(() => cache.delete(key));
        cache.set(key, hit);
        if (cache.size > maxEntries) cache.delete(cache.keys().next().value as string);
      }
      return hit;
    },
  };
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

export function renderCampaignOf(c: Campaign, s: RenderSettings, variant?: number): RenderCampaign {
  const d = variantDefinition(c.definition, variant);
  const senderDomain = domainOf(d.from.address);
  const returnPathDomain = s.returnPathDomain ?? senderDomain;
  return {
    id: c.id,
    name: d.name,
    from: d.from,
    replyTo: d.replyTo,
    subject: d.subject,
    postalAddress: d.postalAddress,
    listUnsubscribeMailto: `unsubscribe@${returnPathDomain}`,
    trackingBaseUrl: s.trackingBaseUrl,
    trackingSecret: s.trackingSecrets,
    returnPathDomain,
    messageIdDomain: senderDomain,
    sendingDomain: senderDomain,
  };
}
