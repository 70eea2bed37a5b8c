/**
 * reportAccepted(key, n) against n report() calls of the same accepted outcome at the same clock
 * time: random sequences over a few providers, sending domains, receiving domains and campaigns,
 * with deferrals, bounces, complaints, resumes and clock jumps between the runs, and options small
 * enough that breakers trip, half-open and close, AIMD moves and keys are evicted inside runs.
 * Checked twice: on the entries themselves (every field, bit for bit, in map order) and through
 * the Governor (status, alerts, and what acquire admits afterwards).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createManualClock } from '../../src/clock/manual.ts';
import { isSwitchyardError } from '../../src/core/errors.ts';
import { createGovernor } from '../../src/deliverability/governor.ts';
import type { AlertScope, GovernorAlert, SendKey, SendOutcome } from '../../src/deliverability/governor.ts';
import { createEntries } from '../../src/deliverability/governor-entries.ts';
import { resolveGovernorOptions } from '../../src/deliverability/governor-options.ts';
import type { GovernorOptions } from '../../src/deliverability/governor-options.ts';
import { createReporter } from '../../src/deliverability/governor-report.ts';

const START = Date.parse('2026-03-02T23:59:00Z'); // a warm-up day boundary within reach

const keyArb: fc.Arbitrary<SendKey> = fc
  .record({
    provider: fc.constantFrom('smtp', 'sendgrid'),
    sendingDomain: fc.constantFrom('news.acme.io', 'warm.acme.io'),
    recipientDomain: fc.constantFrom('gmail.com', 'x@googlemail.com', 'yahoo.com', 'list.example.org', 'corp.io'),
    campaignId: fc.constantFrom<string | undefined>('c1', 'c2', undefined),
  })
  .map((k) =>
    k.campaignId === undefined
      ? { provider: k.provider, sendingDomain: k.sendingDomain, recipientDomain: k.recipientDomain }
      : k,
  );

type Other = Omit<SendOutcome, keyof SendKey>;
const otherArb = fc.constantFrom<Other>(
  { kind: 'deferred', smtpCode: 421, enhancedStatus: '4.7.0', diagnostic: 'try later' },
  { kind: 'deferred', smtpCode: 421, enhancedStatus: '4.7.28', diagnostic: 'rate limited' },
  { kind: 'deferred', smtpCode: 450, enhancedStatus: '4.2.1', diagnostic: 'user receiving too fast' },
  { kind: 'deferred', httpStatus: 429, retryAfterMs: 1_500, diagnostic: 'slow down' },
  { kind: 'bounced_hard', enhancedStatus: '5.1.1' },
  { kind: 'bounced_hard', enhancedStatus: '5.7.515', diagnostic: 'SC-001 blocked' },
  { kind: 'complained' },
  { kind: 'bounced_soft' },
  { kind: 'delivered' },
  { kind: 'failed', httpStatus: 503, diagnostic: 'unavailable' },
);

type Step =
  | { t: 'run'; key: SendKey; n: number; latencyMs: number | undefined }
  | { t: 'one'; key: SendKey; other: Other }
  | { t: 'advance'; ms: number }
  | { t: 'resume'; scope: AlertScope }
  | { t: 'acquire'; key: SendKey; n: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant('run' as const),
      key: keyArb,
      n: fc.integer({ min: 0, max: 120 }),
      latencyMs: fc.constantFrom(undefined, 40, 12_000),
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('one' as const), key: keyArb, other: otherArb }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('advance' as const),
      ms: fc.oneof(fc.integer({ min: 0, max: 3_000 }), fc.constantFrom(60_000, 3_600_000)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('resume' as const),
      scope: fc.constantFrom<AlertScope>({ campaignId: 'c1' }, { sendingDomain: 'warm.acme.io' }, { provider: 'smtp' }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('acquire' as const), key: keyArb, n: fc.integer({ min: 1, max: 200 }) }),
  },
);

/** The entries-level check may also step the clock back (an NTP step on a real clock): records
 *  into a window slot that already holds a later period are then ignored, in both forms alike. */
const stepOrBackArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 12, arbitrary: stepArb },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('advance' as const), ms: fc.integer({ min: -5_000, max: -1 }) }) },
);

const optionsArb: fc.Arbitrary<GovernorOptions> = fc
  .record({
    breaker: fc.record({
      minSamples: fc.integer({ min: 5, max: 200 }),
      halfOpenSamples: fc.integer({ min: 1, max: 60 }),
      cooldownMs: fc.constantFrom(0, 1_000, 5_000),
      complaintRate: fc.constantFrom(0.002, 0.02, 0.1),
      hardBounceRate: fc.constantFrom(0.02, 0.1),
      operatorComplaintRate: fc.constantFrom(0.003, 0.05, 0.5),
      windowMs: fc.constantFrom(2_000, 60_000),
      windowBuckets: fc.constantFrom(1, 4, 60),
    }),
    receivingAimd: fc.record({
      increaseIntervalMs: fc.constantFrom(1, 500, 2_000),
      decreaseCooldownMs: fc.constantFrom(0, 500, 2_000),
      latencyTargetMs: fc.constantFrom(undefined, 10_000),
      ratioHalfLifeMs: fc.constantFrom(250, 1_000),
      minUtilisation: fc.constantFrom(0, 0.5),
    }),
    // small maxKeys / idleEvictMs evict the run's own keys, so reportAccepted must take the long way
    maxKeys: fc.constantFrom(3, 6, 10_000, 10_000, 10_000, 10_000),
    idleEvictMs: fc.constantFrom(0, 2_000, 3_600_000, 3_600_000, 3_600_000, 3_600_000),
    statsWindowMs: fc.constantFrom(1_000, 300_000),
  })
  .map((o) => ({
    ...o,
    providers: { sendgrid: { ratePerSec: 40 } },
    sendingDomains: {
      'warm.acme.io': { warmup: { startedAt: new Date(START - 3 * 86_400_000) } },
      'news.acme.io': { ratePerSec: 300 },
    },
  }));

const accepted = (key: SendKey, latencyMs: number | undefined): SendOutcome =>
  latencyMs === undefined ? { ...key, kind: 'accepted' } : { ...key, kind: 'accepted', latencyMs };

describe('governor reportAccepted', () => {
  it('property: the entries after reportAccepted(key, n) are those after n report() calls, bit for bit', () => {
    fc.assert(
      fc.property(optionsArb, fc.array(stepOrBackArb, { maxLength: 40 }), (options, steps) => {
        const o = resolveGovernorOptions(options);
        let now = START;
        const side = () => {
          const entries = createEntries(o);
          const alerts: unknown[] = [];
          const reporter = createReporter(
            entries,
            o,
            () => now,
            (kind, scope, reason, at) => alerts.push({ kind, scope, reason, at }),
          );
          return { entries, alerts, reporter };
        };
        const perMessage = side();
        const counted = side();
        for (const s of steps) {
          if (s.t === 'advance') now += s.ms;
          else if (s.t === 'one') for (const x of [perMessage, counted]) x.reporter.report({ ...s.key, ...s.other });
          else if (s.t === 'run') {
            for (let i = 0; i < s.n; i++) perMessage.reporter.report(accepted(s.key, s.latencyMs));
            counted.reporter.reportAccepted(s.key, s.n, s.latencyMs);
          }
          assert.deepStrictEqual(counted.entries.all(), perMessage.entries.all());
          assert.deepStrictEqual(counted.alerts, perMessage.alerts);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('property: status, alerts and later admissions agree through the Governor', async () => {
    await fc.assert(
      fc.asyncProperty(optionsArb, fc.array(stepArb, { maxLength: 40 }), async (options, steps) => {
        const side = () => {
          const clock = createManualClock(new Date(START));
          const alerts: GovernorAlert[] = [];
          return { clock, alerts, gov: createGovernor({ clock, onAlert: (a) => alerts.push(a) }, options) };
        };
        const perMessage = side();
        const counted = side();
        const admitted = (g: typeof perMessage, key: SendKey, n: number): number | string => {
          try {
            return g.gov.tryAcquireMany(n, key);
          } catch (err) {
            if (isSwitchyardError(err)) return `${err.code}: ${err.message}`;
            throw err;
          }
        };
        const keys: SendKey[] = [];
        for (const s of steps) {
          switch (s.t) {
            case 'advance':
              await perMessage.clock.advance(s.ms);
              await counted.clock.advance(s.ms);
              break;
            case 'one':
              for (const x of [perMessage, counted]) x.gov.report({ ...s.key, ...s.other });
              break;
            case 'resume':
              for (const x of [perMessage, counted]) x.gov.resume(s.scope, { operator: true });
              break;
            case 'acquire':
              assert.deepStrictEqual(admitted(counted, s.key, s.n), admitted(perMessage, s.key, s.n));
              break;
            case 'run':
              keys.push(s.key);
              for (let i = 0; i < s.n; i++) perMessage.gov.report(accepted(s.key, s.latencyMs));
              counted.gov.reportAccepted(s.key, s.n, s.latencyMs);
              break;
          }
          assert.deepStrictEqual(counted.gov.status(), perMessage.gov.status());
        }
        assert.deepStrictEqual(counted.alerts, perMessage.alerts);
        // later behaviour: what each key is admitted over the next seconds
        for (let second = 0; second < 3; second++) {
          for (const key of keys)
            assert.deepStrictEqual(admitted(counted, key, 1_000), admitted(perMessage, key, 1_000));
          await perMessage.clock.advance(1_000);
          await counted.clock.advance(1_000);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('rejects a count that is not a whole number', () => {
    const gov = createGovernor({ clock: createManualClock(), onAlert: () => undefined }, {});
    const key = { provider: 'smtp', sendingDomain: 'news.acme.io', recipientDomain: 'gmail.com' };
    assert.throws(() => gov.reportAccepted(key, 2.5), /whole count >= 0 \(got 2\.5\)/);
    assert.throws(() => gov.reportAccepted(key, -1), /whole count/);
    gov.reportAccepted(key, 0);
    assert.deepEqual(gov.status().providers, []);
  });
});
