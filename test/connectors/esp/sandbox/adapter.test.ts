/**
 * The sandbox Esp: the shared contract (its far side is its own outbox and fault switches), then
 * the simulation: events after eventDelayMs of clock time, correlation and deterministic ids, no
 * timer per message, hidden per-domain limits, and events kept when emit fails.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from '../../../../src/clock/manual.ts';
import { createSandboxEsp, mulberry32 } from '../../../../src/connectors/esp/sandbox/adapter.ts';
import type { SandboxEsp, SandboxEspOptions } from '../../../../src/connectors/esp/sandbox/adapter.ts';
import type { EngagementEvent } from '../../../../src/core/events.ts';
import type { Esp } from '../../../../src/connectors/esp/port.ts';
import { aMessage, espContract } from '../port.contract.ts';
import type { EspHarness } from '../port.contract.ts';

const ALL = { delivered: 1, bounce: 0, open: 1, click: 1, unsubscribe: 1, complaint: 1 };

function lower(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

async function sandboxHarness(): Promise<EspHarness> {
  const clock = createManualClock();
  const esp = createSandboxEsp({ clock, emit: async () => {} }, { refuse: ['nobody@inbox.example.test'] });
  const extra: Esp[] = [];
  return {
    esp,
    received: async () =>
      esp.outbox().map((r) => ({
        to: r.to,
        from: r.from,
        subject: r.subject,
        messageId: r.messageId,
        headers: lower(r.headers),
        correlation: r.correlation,
      })),
    requestSizes: () => esp.requestSizes(),
    refusedAddress: 'nobody@inbox.example.test',
    throttleNext: (n, sec) => esp.throttleNext(n, sec === undefined ? undefined : sec * 1000),
    failNext: (n) => esp.failNext(n),
    reportsRetryAfter: true,
    attachmentsUnreadable: 'the sandbox records file names and sizes, not bytes',
    async withBadCredentials() {
      const bad = createSandboxEsp({ clock, emit: async () => {} }, { simulateAuthFailure: true });
      extra.push(bad);
      return bad;
    },
    async close() {
      await esp.close();
      for (const e of extra) await e.close();
    },
  };
}

function setup(options: SandboxEspOptions = {}) {
  const clock = createManualClock();
  const emitted: EngagementEvent[][] = [];
  const esp: SandboxEsp = createSandboxEsp(
    {
      clock,
      emit: async (e) => {
        emitted.push(e);
      },
      random: mulberry32(42),
    },
    options,
  );
  return { clock, esp, emitted, all: () => emitted.flat() };
}

describe('sandbox esp', () => {
  espContract('sandbox', sandboxHarness);

  it('emits delivered, opened, clicked, unsubscribed, complained after the delay, with correlation', async () => {
    const { clock, esp, emitted, all } = setup({ rates: ALL, eventDelayMs: 500 });
    const msg = aMessage();
    const receipt = await esp.send(msg);
    assert.equal(await esp.flushDue(), 0);
    await clock.advance(499);
    assert.equal(await esp.flushDue(), 0);
    await clock.advance(1);
    assert.equal(await esp.flushDue(), 1);
    assert.equal(emitted[0]![0]!.type, 'delivered');
    await clock.advance(2000);
    assert.equal(await esp.flushDue(), 4);
    const events = all();
    assert.deepEqual(
      events.map((e) => e.type),
      ['delivered', 'opened', 'clicked', 'unsubscribed', 'complained'],
    );
    for (const e of events) {
      assert.equal(e.provider, 'sandbox');
      assert.equal(e.campaignId, msg.correlation.campaignId);
      assert.equal(e.contactId, msg.correlation.contactId);
      assert.equal(e.ledgerId, msg.correlation.ledgerId);
      assert.equal(e.messageId, msg.messageId);
      assert.equal(e.providerMessageId, receipt.providerMessageId);
      assert.equal(e.email, msg.to.address);
      assert.equal(e.sourceId, `sandbox:${receipt.providerMessageId}:${e.type}`);
    }
    assert.equal(events.find((e) => e.type === 'clicked')?.url, 'https://shop.example.test/autumn');
    assert.equal(events[1]!.occurredAt.getTime() - events[0]!.occurredAt.getTime(), 500);
    assert.equal(esp.counts().eventsPending, 0);
  });

  it('hard-bounces with a reason and emits nothing else for that message', async () => {
    const { clock, esp, all } = setup({ rates: { ...ALL, bounce: 1 } });
    await esp.send(aMessage());
    await clock.advance(10_000);
    await esp.flushDue();
    const events = all();
    assert.equal(events.length, 1);
    assert.equal(events[0]!.type, 'bounced_hard');
    assert.equal(events[0]!.reason, 'userunknown');
    assert.equal(events[0]!.status, '5.1.1');
  });

  it('is deterministic for a seed and keeps no timer per message', async () => {
    const run = async () => {
      const { clock, esp, all } = setup();
      const msgs = Array.from({ length: 5000 }, (_, i) => aMessage({ messageId: `det-${i}@x.test` }));
      await esp.sendBatch(msgs);
      assert.equal(clock.pending(), 0, 'no sleeper per message');
      await clock.advance(10_000);
      await esp.flushDue();
      return all().map((e) => `${e.sourceId}`);
    };
    const a = await run();
    const b = await run();
    assert.deepEqual(a, b);
    assert.ok(a.filter((id) => id.endsWith(':delivered')).length > 4500);
    assert.ok(a.some((id) => id.endsWith(':opened')));
  });

  it('defers sends beyond the hidden per-second limit of a receiving domain', async () => {
    const { clock, esp } = setup({ receivingDomainLimits: { 'slow.example.test': 2 } });
    const to = (n: number) => aMessage({ to: { address: `u${n}@slow.example.test` } });
    await esp.send(to(1));
    await esp.send(to(2));
    const err = (await esp.send(to(3)).catch((e: unknown) => e)) as {
      code: string;
      retryable: boolean;
      details: Record<string, unknown>;
    };
    assert.equal(err.code, 'ESP_RATE_LIMITED');
    assert.equal(err.retryable, true);
    assert.equal(err.details['smtpCode'], 421);
    assert.equal(err.details['enhanced'], '4.7.0');
    await esp.send(aMessage()); // other domains are not limited
    await clock.advance(1000);
    await esp.send(to(4));
    const batch = await esp.sendBatch([to(5), to(6)]);
    assert.deepEqual(
      batch.map((r) => r.ok),
      [true, false],
    );
    assert.equal(esp.counts().deferred, 2);
  });

  it('keeps events when emit fails and emits them on the next flush', async () => {
    const clock = createManualClock();
    let failing = true;
    const got: EngagementEvent[] = [];
    const esp = createSandboxEsp(
      {
        clock,
        emit: async (e) => {
          if (failing) throw new Error('ingest down');
          got.push(...e);
        },
      },
      { rates: { ...ALL, open: 0, unsubscribe: 0, complaint: 0 } },
    );
    await esp.send(aMessage());
    await clock.advance(1000);
    await assert.rejects(esp.flushDue(), /ingest down/);
    assert.equal(esp.counts().eventsPending, 1);
    failing = false;
    assert.equal(await esp.flushDue(), 1);
    assert.equal(got[0]!.type, 'delivered');
  });

  it('flushEveryMs runs one clock loop that emits due events until close()', async () => {
    const { clock, esp, all } = setup({ rates: ALL, flushEveryMs: 1000, eventDelayMs: 1000 });
    await esp.send(aMessage());
    assert.equal(clock.pending(), 1);
    await clock.advance(5000);
    assert.equal(all().length, 5);
    await esp.close();
    assert.equal(clock.pending(), 0);
  });

  it('keeps the outbox bounded and counts everything', async () => {
    const { esp } = setup({ outboxLimit: 10, rates: { ...ALL, delivered: 0 } });
    for (let i = 0; i < 40; i++) await esp.send(aMessage());
    assert.ok(esp.outbox().length <= 15);
    assert.equal(esp.counts().accepted, 40);
  });
});
