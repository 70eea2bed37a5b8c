/**
 * The governor in front of the sandbox ESP itself, configured with a receiving domain that
 * defers (421 4.7.0, ESP_RATE_LIMITED) above a hidden rate: the same convergence the issue asks
 * for, through the real adapter and its error mapping rather than a stand-in receiver.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from '../../src/clock/manual.ts';
import { createSandboxEsp } from '../../src/connectors/esp/sandbox/adapter.ts';
import { createGovernor, type SendKey } from '../../src/deliverability/governor.ts';
import { aMessage } from '../connectors/esp/port.contract.ts';

const key: SendKey = {
  provider: 'sandbox',
  sendingDomain: 'news.example.com',
  recipientDomain: 'gmail.com',
  campaignId: 'c-sandbox',
};

describe('governor with the sandbox ESP deferring above a hidden rate', () => {
  it(
    'converges to >= 90% of the hidden rate with < 5% ' + 'of attempts deferred, then backs off when it drops',
    async (t) => {
      const clock = createManualClock();
      const gov = createGovernor({ clock, onAlert: () => undefined }, {});
      let hidden = 150;
      const makeEsp = (rate: number) =>
        createSandboxEsp(
          { clock, emit: async () => undefined },
          {
            receivingDomainLimits: { 'gmail.com': rate },
            rates: { delivered: 0, bounce: 0, open: 0, click: 0, unsubscribe: 0, complaint: 0 },
            outboxLimit: 10,
          },
        );
      let esp = makeEsp(hidden);
      const counts = { accepted: 0, deferred: 0 };
      const ac = new AbortController();
      const done = (async () => {
        for (;;) {
          const n = await gov.acquireMany(50, key, ac.signal);
          const results = await esp.sendBatch(
            Array.from({ length: n }, () => aMessage({ to: { address: 'someone@gmail.com' } })),
          );
          for (const r of results) {
            if (r.ok) {
              counts.accepted++;
              gov.report({ ...key, kind: 'accepted' });
              continue;
            }
            counts.deferred++;
            const d = r.error.details as { smtpCode?: number; enhanced?: string } | undefined;
            gov.report({
              ...key,
              kind: 'deferred',
              smtpCode: d?.smtpCode ?? 421,
              enhancedStatus: d?.enhanced ?? '4.7.0',
              retryAfterMs: r.error.retryAfterMs,
            });
          }
        }
      })().catch((err: unknown) => err);

      await clock.advance(0);
      await clock.advance(120_000); // ramp-up
      const before = { ...counts };
      await clock.advance(180_000);
      const accepted = counts.accepted - before.accepted;
      const deferred = counts.deferred - before.deferred;
      t.diagnostic(
        `steady: ${(accepted / 180).toFixed(1)}/s of ${hidden}, deferred `
          + `${((100 * deferred) / (accepted + deferred)).toFixed(2)}%`,
      );
      assert.ok(accepted / 180 >= 0.9 * hidden, `achieved ${accepted / 180}/s`);
      assert.ok(deferred / (accepted + deferred) < 0.05, `deferred ${deferred} of ${accepted + deferred}`);

      hidden = 40;
      esp = makeEsp(hidden);
      await clock.advance(5_000);
      const group = gov.status().receivingGroups.find((g) => g.scope.receivingGroup === 'google');
      assert.ok(
        group?.ratePerSec !== null && group !== undefined && group.ratePerSec <= 1.5 * hidden,
        `backed off to ${group?.ratePerSec}/s within 5 s`,
      );
      const mid = { ...counts };
      await clock.advance(120_000);
      const acc2 = counts.accepted - mid.accepted;
      const def2 = counts.deferred - mid.deferred;
      t.diagnostic(
        `after drop: ${(acc2 / 120).toFixed(1)}/s of ${hidden}, deferred ${((100 * def2) / (acc2 + def2)).toFixed(2)}%`,
      );
      assert.ok(acc2 / 120 >= 0.9 * hidden && def2 / (acc2 + def2) < 0.05);

      ac.abort(new Error('stop'));
      await clock.advance(1);
      await done;
      await esp.close();
    },
  );
});
