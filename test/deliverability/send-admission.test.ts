/**
 * Hand-off results → governor outcomes (outcomeOf), and chunk admission (admitChunk) against a
 * real governor on the manual clock: grouped per receiving domain, paused → deferral.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from '../../src/clock/manual.ts';
import { SwitchyardError } from '../../src/core/errors.ts';
import { createGovernor, type GovernorAlert } from '../../src/deliverability/governor.ts';
import { admitChunk, outcomeOf } from '../../src/deliverability/send-admission.ts';
import { aMessage } from '../connectors/esp/port.contract.ts';

const key = { provider: 'smtp', sendingDomain: 'news.example.com', recipientDomain: 'gmail.com', campaignId: 'c1' };
const fail = (code: ConstructorParameters<typeof SwitchyardError>[0], details: Record<string, unknown>, retryAfterMs?: number) =>
  ({ ok: false as const, error: new SwitchyardError(code, 'x', { retryable: true, details, ...(retryAfterMs ? { retryAfterMs } : {}) }) });

describe('outcomeOf', () => {
  it('maps accepted, SMTP 4xx, HTTP 429 and other failures', () => {
    assert.deepEqual(outcomeOf({ ok: true, receipt: { providerMessageId: 'p', acceptedAt: new Date() } }, key, 12), { ...key, kind: 'accepted', latencyMs: 12 });
    assert.deepEqual(outcomeOf(fail('ESP_RATE_LIMITED', { smtpCode: 421, enhanced: '4.7.28', response: '421 4.7.28 rate limited' }), key, 5),
      { ...key, kind: 'deferred', smtpCode: 421, enhancedStatus: '4.7.28', diagnostic: '421 4.7.28 rate limited', latencyMs: 5 });
    assert.deepEqual(outcomeOf(fail('ESP_RATE_LIMITED', { status: 429 }, 2000), key, 5),
      { ...key, kind: 'deferred', httpStatus: 429, retryAfterMs: 2000, diagnostic: 'x', latencyMs: 5 });
    assert.equal(outcomeOf(fail('ESP_UNAVAILABLE', { status: 503 }), key, 5).kind, 'failed');
    assert.equal(outcomeOf(fail('ESP_RECIPIENT_REJECTED', { smtpCode: 550, enhanced: '5.1.1' }), key, 5).kind, 'failed');
  });
});

describe('admitChunk', () => {
  it('admits every message (per receiving domain) and defers a paused campaign', async () => {
    const clock = createManualClock();
    const alerts: GovernorAlert[] = [];
    const gov = createGovernor({ clock, onAlert: (a) => alerts.push(a) }, { breaker: { minSamples: 10, complaintRate: 0.05, operatorComplaintRate: 0.5 } });
    const msgs = [aMessage({ to: { address: 'a@gmail.com' } }), aMessage({ to: { address: 'b@yahoo.com' } }), aMessage({ to: { address: 'c@gmail.com' } })];
    assert.equal(await admitChunk(gov, 'smtp', 'c1', msgs), undefined);
    const groups = gov.status().receivingGroups.map((g) => `${g.scope.provider}/${g.scope.sendingDomain}/${g.scope.receivingGroup}`).sort();
    assert.deepEqual(groups, ['smtp/mail.example.test/google', 'smtp/mail.example.test/yahoo']);
    for (let i = 0; i < 20; i++) gov.report({ ...key, sendingDomain: 'mail.example.test', kind: 'accepted' });
    for (let i = 0; i < 5; i++) gov.report({ ...key, sendingDomain: 'mail.example.test', kind: 'complained' });
    assert.ok(alerts.some((a) => a.kind === 'paused' && a.scope.campaignId === 'c1'));
    const d = await admitChunk(gov, 'smtp', 'c1', msgs);
    assert.equal(d?.kind, 'defer');
    assert.match(d!.reason, /campaign c1 is paused/);
    assert.ok(d!.delayMs >= 5_000 && d!.delayMs <= 60_000);
  });
});
