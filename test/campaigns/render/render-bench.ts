// Rough render-rate measurement (not a test): `node --import tsx test/campaigns/render/render-bench.ts`.
// Compiles the newsletter fixture once, then renders recipients on one core and reports the best
// of several rounds (other processes on the machine only ever make a round slower).
import { readFileSync } from 'node:fs';
import { compileTemplate } from '../../../src/campaigns/render/compile.ts';
import { renderMessage } from '../../../src/campaigns/render/render-message.ts';
import type { RenderCampaign } from '../../../src/campaigns/render/campaign-types.ts';
import { renderPlan } from '../../../src/campaigns/render/fast-render.ts';
import { createTokenCodec } from '../../../src/core/tracking-token.ts';
import { demoCampaign } from '../../../src/demo/campaign.ts';
import { demoRow } from '../../../src/connectors/warehouse/demo/generate.ts';

const html = readFileSync(new URL('../../fixtures/templates/newsletter.mjml', import.meta.url), 'utf8');
const campaign: RenderCampaign = {
  id: '0b7c6f1e-2a4d-4c8e-9f00-123456789abc',
  name: 'Weekly',
  from: { address: 'news@acme.example', name: 'Acme' },
  postalAddress: '1 Main St, Springfield',
  listUnsubscribeMailto: 'unsub@acme.example',
  trackingBaseUrl: 'https://t.acme.example',
  trackingSecret: 'bench-secret',
  returnPathDomain: 'bounce.acme.example',
  messageIdDomain: 'acme.example',
  sendingDomain: 'acme.example',
};
const products = [
  { slug: 'widget', name: 'Widget' },
  { slug: 'gadget', name: 'Gadget' },
  { slug: 'gizmo', name: 'Gizmo' },
];
const t0 = performance.now();
const compiled = await compileTemplate({ subject: 'News for {{ contact.firstName }}', html });
console.log(
  `compile: ${(performance.now() - t0).toFixed(0)} ms, html ${compiled.htmlSource?.length} chars, `
    + `${compiled.links.length} link slots`,
);

function best(label: string, n: number, body: (i: number) => void): void {
  let top = 0;
  for (let round = 0; round < 7; round++) {
    const start = performance.now();
    for (let i = 0; i < n; i++) body(i);
    top = Math.max(top, n / ((performance.now() - start) / 1000));
  }
  console.log(`${label}: ${top.toFixed(0)}/s (${(1e6 / top).toFixed(1)} µs each)`);
}

const sendAt = new Date('2026-03-02T10:00:00Z');
const contactId = (i: number): string => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
best('renderMessage, 3 products', 10000, (i) => {
  renderMessage(compiled, {
    contact: { id: contactId(i), email: `u${i}@example.com`, firstName: 'Ann' },
    campaign,
    products,
    sendAt,
  });
});
best('renderMessage, no products', 10000, (i) => {
  renderMessage(compiled, {
    contact: { id: contactId(i), email: `u${i}@example.com`, firstName: 'Ann' },
    campaign,
    products: [],
    sendAt,
  });
});
// What `npm run bench -- blast` sends: the demo campaign to the synthetic warehouse (a slug
// campaign id, one Liquid-built link with a few distinct URLs, one static link).
const demo = demoCampaign();
const demoCompiled = await compileTemplate({ subject: demo.subject, html: demo.template.html ?? '' });
const demoRender: RenderCampaign = {
  ...campaign,
  id: 'demo-autumn',
  name: demo.name,
  from: demo.from,
  replyTo: demo.replyTo,
  postalAddress: demo.postalAddress,
};
const demoContacts = Array.from({ length: 10000 }, (_, i) => {
  const row = demoRow(1, i);
  return {
    id: row.customer_id,
    email: row.email_address,
    firstName: row.first_name,
    lastName: row.last_name,
    company: row.company,
    plan: row.plan,
  };
});
best('renderMessage, demo campaign', 10000, (i) => {
  renderMessage(demoCompiled, {
    contact: demoContacts[i] as (typeof demoContacts)[number],
    campaign: demoRender,
    sendAt,
  });
});
const codec = createTokenCodec('bench-secret');
best('token sign (click, UUID ledger)', 50000, (i) => {
  codec.sign({
    kind: 'c',
    ledgerId: `${campaign.id}:${contactId(i)}`,
    url: 'https://acme.example/p/widget?ref=1',
    linkIndex: 1,
  });
});
best('token sign (message, UUID ledger)', 50000, (i) => {
  codec.signMessage({ ledgerId: `${campaign.id}:${contactId(i)}`, sentAt: 1_772_445_600 });
});
const scope = {
  contact: { id: 'x', firstName: 'Ann' },
  products,
  __sy_links: ['a', 'b', 'c'],
  __sy_track: (u: string) => u,
  __sy_open: 'o',
  unsubscribe_url: 'u',
  postal_address: 'p',
  sender_name: 's',
};
best('html part via liquidjs renderSync', 5000, () => compiled.engines.html.renderSync(compiled.html ?? [], scope));
best(
  'html part via fast-render plan',
  20000,
  () => compiled.plans.html && renderPlan(compiled.engines.html, compiled.plans.html, scope),
);
best(
  'text part via fast-render plan',
  20000,
  () => compiled.plans.text && renderPlan(compiled.engines.text, compiled.plans.text, scope),
);
