// Rough render-rate measurement (not a test): `node --import tsx test/campaigns/render/render-bench.ts`.
// Compiles the newsletter fixture once, then renders N recipients and reports renders/s per core.
import { readFileSync } from 'node:fs';
import { compileTemplate } from '../../../src/campaigns/render/compile.ts';
import { renderMessage } from '../../../src/campaigns/render/render-message.ts';
import type { RenderCampaign } from '../../../src/campaigns/render/render-message.ts';
import { createTokenCodec } from '../../../src/core/tracking-token.ts';

const html = readFileSync(new URL('../../fixtures/templates/newsletter.mjml', import.meta.url), 'utf8');
const campaign: RenderCampaign = {
  id: '0b7c6f1e-2a4d-4c8e-9f00-123456789abc', name: 'Weekly', from: { address: 'news@acme.example', name: 'Acme' },
  postalAddress: '1 Main St, Springfield', listUnsubscribeMailto: 'unsub@acme.example',
  trackingBaseUrl: 'https://t.acme.example', trackingSecret: 'bench-secret', returnPathDomain: 'bounce.acme.example',
  messageIdDomain: 'acme.example', sendingDomain: 'acme.example',
};
const products = [{ slug: 'widget', name: 'Widget' }, { slug: 'gadget', name: 'Gadget' }, { slug: 'gizmo', name: 'Gizmo' }];
const t0 = performance.now();
const compiled = await compileTemplate({ subject: 'News for {{ contact.firstName }}', html });
console.log(`compile: ${(performance.now() - t0).toFixed(0)} ms, html ${compiled.htmlSource?.length} chars, ${compiled.links.length} link slots`);

function run(n: number): number {
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    renderMessage(compiled, {
      contact: { id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, email: `u${i}@example.com`, firstName: 'Ann' },
      campaign, products,
    });
  }
  return n / ((performance.now() - start) / 1000);
}
run(2000);
console.log(`renderMessage: ${run(20000).toFixed(0)} renders/s (one core)`);

const codec = createTokenCodec('bench-secret');
const s = performance.now();
for (let i = 0; i < 100000; i++) codec.sign({ kind: 'c', ledgerId: `${campaign.id}:00000000-0000-4000-8000-000000000001`, url: 'https://acme.example/p/widget?ref=1', linkIndex: 1 });
console.log(`token sign: ${(100000 / ((performance.now() - s) / 1000)).toFixed(0)} tokens/s`);
const liquidOnly = performance.now();
const scope = { contact: { id: 'x', firstName: 'Ann' }, products, __sy_links: ['a', 'b', 'c'], __sy_track: (u: string) => u, __sy_open: 'o', unsubscribe_url: 'u', postal_address: 'p', sender_name: 's' };
for (let i = 0; i < 20000; i++) compiled.engines.html.renderSync(compiled.html!, scope);
console.log(`liquid html render alone: ${(20000 / ((performance.now() - liquidOnly) / 1000)).toFixed(0)} renders/s`);
const textOnly = performance.now();
for (let i = 0; i < 20000; i++) compiled.engines.text.renderSync(compiled.text!, scope);
console.log(`liquid text render alone: ${(20000 / ((performance.now() - textOnly) / 1000)).toFixed(0)} renders/s`);
const { renderPlan } = await import('../../../src/campaigns/render/fast-render.ts');
const fastOnly = performance.now();
for (let i = 0; i < 20000; i++) renderPlan(compiled.engines.html, compiled.plans.html!, scope);
console.log(`planned html render alone: ${(20000 / ((performance.now() - fastOnly) / 1000)).toFixed(0)} renders/s`);
console.log('html pieces:', compiled.plans.html?.pieces.map((p) => p.kind).join(','));
