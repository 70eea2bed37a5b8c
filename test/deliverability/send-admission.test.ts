/**
 * Hand-off results → governor outcomes (outcomeOf, reportResults), and chunk admission
 * (admitChunk) against a real governor on the manual clock: grouped per (sending domain,
 * receiving domain), paused → deferral; reportResults leaves the governor as a report per result.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createManualClock } from '../../src/clock/manual.ts';
import { SwitchyardError } from '../../src/core/errors.ts';
import {
  createGovernor,
  type Governor,
  type GovernorAlert,
  type GovernorStatus,
  type ScopeStatus,
} from '../../src/deliverability/governor.ts';
import type { GovernorOptions } from '../../src/deliverability/governor-options.ts';
import { admitChunk, outcomeOf, reportResults, senderDomain } from '../../src/deliverability/send-admission.ts';
import type { BatchResult, OutboundMessage } from '../../src/connectors/esp/port.ts';
import { aMessage } from '../connectors/esp/port.contract.ts';

const key = { provider: 'smtp', sendingDomain: 'news.example.com', recipientDomain: 'gmail.com', campaignId: 'c1' };
const fail = (
  code: ConstructorParameters<typeof SwitchyardError>[0],
  details: Record<string, unknown>,
  retryAfterMs?: number,
) => ({
  ok: false as const,
  error: new SwitchyardError(code, 'x', { retryable: true, details, ...(retryAfterMs ? { retryAfterMs } : {}) }),
});

describe('outcomeOf', () => {
  it('maps accepted, SMTP 4xx, HTTP 429 and other failures', () => {
    assert.deepEqual(outcomeOf({ ok: true, receipt: { providerMessageId: 'p', acceptedAt: new Date() } }, key, 12), {
      ...key,
      kind: 'accepted',
      latencyMs: 12,
    });
    assert.deepEqual(
      outcomeOf(
        fail('ESP_RATE_LIMITED', { smtpCode: 421, enhanced: '4.7.28', response: '421 4.7.28 rate limited' }),
        key,
        5,
      ),
      {
        ...key,
        kind: 'deferred',
        smtpCode: 421,
        enhancedStatus: '4.7.28',
        diagnostic: '421 4.7.28 rate limited',
        latencyMs: 5,
      },
    );
    assert.deepEqual(outcomeOf(fail('ESP_RATE_LIMITED', { status: 429 }, 2000), key, 5), {
      ...key,
      kind: 'deferred',
      httpStatus: 429,
      retryAfterMs: 2000,
      diagnostic: 'x',
      latencyMs: 5,
    });
    assert.equal(outcomeOf(fail('ESP_UNAVAILABLE', { status: 503 }), key, 5).kind, 'failed');
    assert.equal(
      outcomeOf(fail('ESP_RECIPIENT_REJECTED', { smtpCode: 550, enhanced: '5.1.1' }), key, 5).kind,
      'failed',
    );
  });
});

describe('admitChunk', () => {
  it('admits every message (per receiving domain) and defers a paused campaign', async () => {
    const clock = createManualClock();
    const alerts: GovernorAlert[] = [];
    const gov = createGovernor(
      { clock, onAlert: (a) => alerts.push(a) },
      { breaker: { minSamples: 10, complaintRate: 0.05, operatorComplaintRate: 0.5 } },
    );
    const msgs = [
      aMessage({ to: { address: 'a@gmail.com' } }),
      aMessage({ to: { address: 'b@yahoo.com' } }),
      aMessage({ to: { address: 'c@gmail.com' } }),
    ];
    assert.equal(await admitChunk(gov, 'smtp', 'c1', msgs), undefined);
    const groups = gov
      .status()
      .receivingGroups.map((g) => `${g.scope.provider}/${g.scope.sendingDomain}/${g.scope.receivingGroup}`)
      .sort();
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

describe('admitChunk keys', () => {
  it('keys each message by its own sending domain, not the first message of its receiving domain', async () => {
    const gov = createGovernor({ clock: createManualClock(), onAlert: () => undefined }, {});
    const msgs = [
      aMessage({ to: { address: 'a@gmail.com' } }),
      aMessage({ from: { address: 'x@other.example.test' }, to: { address: 'b@Gmail.com ' } }),
    ];
    assert.equal(await admitChunk(gov, 'smtp', 'c1', msgs), undefined);
    const groups = gov
      .status()
      .receivingGroups.map((g) => `${g.scope.sendingDomain}/${g.scope.receivingGroup}`)
      .sort();
    assert.deepEqual(groups, ['mail.example.test/google', 'other.example.test/google']);
  });
});

const ok: BatchResult = { ok: true, receipt: { providerMessageId: 'p', acceptedAt: new Date(0) } };
const RESULTS: Record<string, BatchResult> = {
  ok,
  throttle: fail('ESP_UNAVAILABLE', { smtpCode: 421, enhanced: '4.7.0', response: '421 4.7.0 try later' }),
  hard: fail('ESP_RATE_LIMITED', { smtpCode: 421, enhanced: '4.7.28', response: '421 4.7.28 rate limited' }),
  recipient: fail('ESP_UNAVAILABLE', { smtpCode: 450, enhanced: '4.2.2', response: '450 4.2.2 mailbox full' }),
  http429: fail('ESP_RATE_LIMITED', { status: 429 }, 1_500),
  failed: fail('ESP_UNAVAILABLE', { status: 503 }),
};

/** What the send stage did before reportResults: one outcome and one report per result. */
function reportEach(
  gov: Governor,
  provider: string,
  campaignId: string,
  messages: readonly OutboundMessage[],
  results: readonly BatchResult[],
  attempted?: ReadonlySet<string>,
): void {
  results.forEach((res, i) => {
    const msg = messages[i]!;
    if (attempted !== undefined && !attempted.has(msg.correlation.contactId)) return;
    gov.report(
      outcomeOf(res, { provider, sendingDomain: senderDomain(msg), recipientDomain: msg.to.address, campaignId }),
    );
  });
}

/** Status with each list in a fixed order: reportResults may touch keys in another order. */
function sorted(st: GovernorStatus): GovernorStatus {
  const by = (a: ScopeStatus, b: ScopeStatus): number => JSON.stringify(a.scope).localeCompare(JSON.stringify(b.scope));
  return {
    at: st.at,
    providers: [...st.providers].sort(by),
    sendingDomains: [...st.sendingDomains].sort(by),
    receivingGroups: [...st.receivingGroups].sort(by),
    campaigns: [...st.campaigns].sort(by),
  };
}

describe('reportResults', () => {
  it('property: the governor ends as with one report per result (status, alerts, later admissions)', async () => {
    const messageArb = fc.record({
      from: fc.constantFrom('news@acme.io', 'news@acme.io', 'news@acme.io', 'promo@shop.io'),
      to: fc.constantFrom('gmail.com', 'googlemail.com', 'yahoo.com', 'corp.io', 'inbox.example.test'),
      result: fc.oneof(
        { weight: 12, arbitrary: fc.constant('ok') },
        { weight: 3, arbitrary: fc.constantFrom(...Object.keys(RESULTS)) },
      ),
      attempted: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    });
    const chunkArb = fc.record({
      messages: fc.array(messageArb, { maxLength: 300 }),
      latencyMs: fc.constantFrom(30, 15_000),
      useAttempted: fc.boolean(),
      advanceMs: fc.integer({ min: 0, max: 3_000 }),
      complaints: fc.integer({ min: 0, max: 2 }),
    });
    const optionsArb = fc.record({
      breaker: fc.record({
        minSamples: fc.integer({ min: 5, max: 300 }),
        halfOpenSamples: fc.integer({ min: 1, max: 50 }),
        cooldownMs: fc.constantFrom(0, 2_000),
        complaintRate: fc.constantFrom(0.002, 0.02),
        operatorComplaintRate: fc.constantFrom(0.05, 0.5),
      }),
      receivingAimd: fc.record({
        increaseIntervalMs: fc.constantFrom(1, 2_000),
        decreaseCooldownMs: fc.constantFrom(0, 2_000),
      }),
    });
    await fc.assert(
      fc.asyncProperty(
        optionsArb,
        fc.array(chunkArb, { minLength: 1, maxLength: 6 }),
        async (options: GovernorOptions, chunks) => {
          const side = () => {
            const clock = createManualClock();
            const alerts: GovernorAlert[] = [];
            return { clock, alerts, gov: createGovernor({ clock, onAlert: (a) => alerts.push(a) }, options) };
          };
          const each = side();
          const grouped = side();
          const admitted = (g: Governor, key: Parameters<Governor['tryAcquireMany']>[1]): number | string => {
            try {
              return g.tryAcquireMany(1_000, key);
            } catch (err) {
              return String(err);
            }
          };
          let n = 0;
          for (const chunk of chunks) {
            const messages = chunk.messages.map((m) =>
              aMessage({ from: { address: m.from }, to: { address: `u${++n}@${m.to}` } }),
            );
            // equal latencies within a chunk: then the grouped form is exactly one report per result
            const results = chunk.messages.map((m) => ({ ...RESULTS[m.result]!, latencyMs: chunk.latencyMs }));
            const attempted = chunk.useAttempted
              ? new Set(messages.filter((_, i) => chunk.messages[i]!.attempted).map((m) => m.correlation.contactId))
              : undefined;
            // complaints arrive from reactions between chunks, so breakers trip, half-open and close
            for (let i = 0; i < chunk.complaints; i++) {
              for (const g of [each.gov, grouped.gov])
                g.report({
                  provider: 'smtp',
                  sendingDomain: 'acme.io',
                  recipientDomain: 'gmail.com',
                  campaignId: 'c1',
                  kind: 'complained',
                });
            }
            reportEach(each.gov, 'smtp', 'c1', messages, results, attempted);
            reportResults(grouped.gov, 'smtp', 'c1', messages, results, attempted);
            assert.deepStrictEqual(sorted(grouped.gov.status()), sorted(each.gov.status()));
            const alertOrder = (a: GovernorAlert[]): string[] => a.map((x) => JSON.stringify(x)).sort();
            assert.deepStrictEqual(alertOrder(grouped.alerts), alertOrder(each.alerts));
            for (const m of messages.slice(0, 5)) {
              const key = {
                provider: 'smtp',
                sendingDomain: senderDomain(m),
                recipientDomain: m.to.address,
                campaignId: 'c1',
              };
              assert.deepStrictEqual(admitted(grouped.gov, key), admitted(each.gov, key));
            }
            await each.clock.advance(chunk.advanceMs);
            await grouped.clock.advance(chunk.advanceMs);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('reports accepted results once per key, skips messages not handed over, and names a length mismatch', () => {
    const calls: string[] = [];
    const real = createGovernor({ clock: createManualClock(), onAlert: () => undefined }, {});
    const gov: Governor = {
      ...real,
      reportAccepted: (k, count, latencyMs) => {
        calls.push(`accepted ${k.sendingDomain}/${k.recipientDomain} x${count}`);
        real.reportAccepted(k, count, latencyMs);
      },
      report: (out) => {
        calls.push(`${out.kind} ${out.recipientDomain}`);
        real.report(out);
      },
    };
    const msgs = ['a@gmail.com', 'b@yahoo.com', 'c@gmail.com', 'd@gmail.com', 'e@yahoo.com', 'f@gmail.com'].map((to) =>
      aMessage({ to: { address: to } }),
    );
    const results = [ok, ok, ok, RESULTS.throttle!, ok, ok];
    reportResults(
      gov,
      'smtp',
      'c1',
      msgs,
      results,
      new Set(msgs.filter((_, i) => i !== 5).map((m) => m.correlation.contactId)),
    );
    assert.deepEqual(calls, [
      'accepted mail.example.test/gmail.com x2',
      'accepted mail.example.test/yahoo.com x1',
      'deferred gmail.com',
      'accepted mail.example.test/yahoo.com x1',
    ]);
    assert.equal(real.status().providers[0]?.attempts, 5);
    assert.throws(() => reportResults(gov, 'smtp', 'c1', msgs, results.slice(1)), /5 result\(s\) for 6 message\(s\)/);
  });
});
