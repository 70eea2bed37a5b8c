// Builders for render tests: a campaign and a context with overrides.
import { readFileSync } from 'node:fs';
import type { RenderCampaign } from '../../../src/campaigns/render/campaign-types.ts';
import type { RenderContext } from '../../../src/campaigns/render/render-message.ts';
import { staticLinkUrl } from '../../../src/campaigns/render/links.ts';
import type { LinkSlot } from '../../../src/campaigns/render/links.ts';
import { createTokenCodec } from '../../../src/core/tracking-token.ts';

export const SECRET = 'render-test-secret';

export function aCampaign(overrides: Partial<RenderCampaign> = {}): RenderCampaign {
  return {
    id: 'camp-1',
    name: 'Weekly news',
    from: { address: 'news@acme.example', name: 'Acme' },
    postalAddress: '1 Main St, Springfield, IL 62701',
    listUnsubscribeMailto: 'unsub@acme.example',
    trackingBaseUrl: 'https://t.acme.example',
    trackingSecret: SECRET,
    returnPathDomain: 'bounce.acme.example',
    messageIdDomain: 'mail.acme.example',
    sendingDomain: 'acme.example',
    ...overrides,
  };
}

export function aContext(overrides: Partial<RenderContext> = {}): RenderContext {
  return {
    contact: { id: 'contact-7', email: 'ann@example.com', firstName: 'Ann' },
    campaign: aCampaign(),
    products: [
      { slug: 'widget', name: 'Widget' },
      { slug: 'gizmo', name: 'Gizmo & Co' },
    ],
    ...overrides,
  };
}

export function fixture(name: string): string {
  return readFileSync(new URL(`../../fixtures/templates/${name}`, import.meta.url), 'utf8');
}

/** Every `/t/<kind>/<token>` in a string, in order. */
export function trackingTokens(text: string, kind: 'c' | 'o' | 'u'): string[] {
  return [...text.matchAll(new RegExp(`https://t\\.acme\\.example/t/${kind}/([A-Za-z0-9_-]+)`, 'g'))].map(
    (m) => m[1] as string,
  );
}

export interface ClickTarget {
  /** `message`: `/t/c/<message token>/<index>` (static link); `tagged`: `/t/c/<message token>/<index>/<link tag>`
   *  (Liquid-built link); `link`: `/t/c/<token with its url>` (per-link token, mail sent before link tags). */
  form: 'message' | 'tagged' | 'link';
  ledgerId: string;
  linkIndex?: number;
  url?: string;
  sentAt?: number;
}

/** Every click link in a string, resolved as the tracking endpoint does: a message token's index
 *  through the template's static links, a per-link token through the URL it carries. */
export function clickTargets(text: string, links: readonly LinkSlot[], secret = SECRET): (ClickTarget | null)[] {
  const codec = createTokenCodec(secret);
  return [
    ...text.matchAll(/https:\/\/t\.acme\.example\/t\/c\/([A-Za-z0-9_-]+)(?:\/(\d+)(?:\/([A-Za-z0-9_-]+))?)?/g),
  ].map((m): ClickTarget | null => {
    const [, token, index, tag] = m as unknown as [string, string, string | undefined, string | undefined];
    if (index !== undefined && tag !== undefined) {
      const p = codec.verifyMessage(token, 'track');
      const url =
        p === null ? null : codec.verifyLink(tag, p.ledgerId.slice(0, p.ledgerId.indexOf(':')), Number(index));
      return p === null || url === null ? null : { form: 'tagged', ...p, linkIndex: Number(index), url };
    }
    if (index !== undefined) {
      const p = codec.verifyMessage(token, 'track');
      const url = staticLinkUrl(links, Number(index));
      return p === null || url === null ? null : { form: 'message', ...p, linkIndex: Number(index), url };
    }
    const p = codec.verify(token);
    if (p === null || p.kind !== 'c') return null;
    const { kind: _kind, ...rest } = p;
    return { form: 'link', ...rest };
  });
}
