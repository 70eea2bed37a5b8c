// Builders for render tests: a campaign and a context with overrides.
import { readFileSync } from 'node:fs';
import type { RenderCampaign, RenderContext } from '../../../src/campaigns/render/render-message.ts';

export const SECRET = 'render-test-secret';

export function aCampaign(overrides: Partial<RenderCampaign> = {}): RenderCampaign {
  return {
    id: 'camp-1', name: 'Weekly news', from: { address: 'news@acme.example', name: 'Acme' },
    postalAddress: '1 Main St, Springfield, IL 62701', listUnsubscribeMailto: 'unsub@acme.example',
    trackingBaseUrl: 'https://t.acme.example', trackingSecret: SECRET, returnPathDomain: 'bounce.acme.example',
    messageIdDomain: 'mail.acme.example', sendingDomain: 'acme.example',
    ...overrides,
  };
}

export function aContext(overrides: Partial<RenderContext> = {}): RenderContext {
  return {
    contact: { id: 'contact-7', email: 'ann@example.com', firstName: 'Ann' },
    campaign: aCampaign(),
    products: [{ slug: 'widget', name: 'Widget' }, { slug: 'gizmo', name: 'Gizmo & Co' }],
    ...overrides,
  };
}

export function fixture(name: string): string {
  return readFileSync(new URL(`../../fixtures/templates/${name}`, import.meta.url), 'utf8');
}

/** Every `/t/<kind>/<token>` in a string, in order. */
export function trackingTokens(text: string, kind: 'c' | 'o' | 'u'): string[] {
  return [...text.matchAll(new RegExp(`https://t\\.acme\\.example/t/${kind}/([A-Za-z0-9_-]+)`, 'g'))].map((m) => m[1] as string);
}
