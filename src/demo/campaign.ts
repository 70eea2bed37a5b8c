/** The demo workspace's ready-made campaign: an MJML newsletter to the synthetic warehouse. */
import type { CampaignInput } from '../campaigns/service.ts';

export function demoCampaign(overrides: Partial<CampaignInput> = {}): CampaignInput {
  return {
    name: 'Demo: autumn product update',
    from: { address: 'news@demo.example.com', name: 'Switchyard Demo' },
    replyTo: { address: 'replies@demo.example.com', name: 'Demo team' },
    subject: 'What is new this autumn, {{ contact.firstName | default: "friend" }}',
    template: {
      html: `<mjml><mj-body><mj-section><mj-column>
  <mj-text font-size="20px">Hello {{ contact.firstName | default: "there" }},</mj-text>
  <mj-text>Your {{ contact.plan }} plan just got three new features.</mj-text>
  <mj-button href="https://demo.example.com/whats-new?plan={{ contact.plan }}">See what is new</mj-button>
  <mj-text><a href="https://demo.example.com/pricing">Compare plans</a></mj-text>
</mj-column></mj-section></mj-body></mjml>`,
    },
    audience: { source: 'demo' },
    postalAddress: 'Demo Corp, 1 Example Street, Springfield, 12345, US',
    priority: 'bulk',
    ...overrides,
  };
}
