/**
 * Failover wrapper over two real sandbox ESPs on the manual clock: a failing primary moves new
 * batches to the secondary, no message is ever in both outboxes, and the primary is used again
 * after the cool-down. Commit point is the weaker of the two.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from '../../src/clock/manual.ts';
import { createSandboxEsp } from '../../src/connectors/esp/sandbox/adapter.ts';
import type { Esp } from '../../src/connectors/esp/port.ts';
import { createFailoverEsp } from '../../src/deliverability/failover-esp.ts';
import { aMessage } from '../connectors/esp/port.contract.ts';

function pair() {
  const clock = createManualClock(new Date('2026-03-02T10:00:00Z'));
  const emit = async (): Promise<void> => undefined;
  const primary = createSandboxEsp({ clock, emit }, { eventDelayMs: 86_400_000 });
  const secondary = createSandboxEsp({ clock, emit }, { eventDelayMs: 86_400_000 });
  const switches: string[] = [];
  const esp = createFailoverEsp(primary, secondary, {
    clock,
    failureThreshold: 2,
    coolDownMs: 60_000,
    onSwitch: (to) => switches.push(to),
  });
  return { clock, primary, secondary, esp, switches };
}

describe('failover ESP', () => {
  it('sends attachments only when both ESPs do, under the smaller of their caps', () => {
    const clock = createManualClock(new Date('2026-03-02T10:00:00Z'));
    const emit = async (): Promise<void> => undefined;
    const sandbox = createSandboxEsp({ clock, emit });
    const capped = (n: number): Esp => ({ ...createSandboxEsp({ clock, emit }), maxAttachmentBytes: n });
    const plain: Esp = { ...createSandboxEsp({ clock, emit }), supportsAttachments: false };
    const both = createFailoverEsp(capped(9000), capped(3000), { clock });
    assert.equal(both.supportsAttachments, true);
    assert.equal(both.maxAttachmentBytes, 3000);
    assert.equal(createFailoverEsp(sandbox, capped(5000), { clock }).maxAttachmentBytes, 5000);
    assert.equal(createFailoverEsp(sandbox, sandbox, { clock }).maxAttachmentBytes, undefined);
    assert.equal(createFailoverEsp(sandbox, plain, { clock }).supportsAttachments, false);
  });

  it(
    'routes to the secondary after the primary fails, never sends one message through both, and returns '
      + 'after the cool-down',
    async () => {
      const { clock, primary, secondary, esp, switches } = pair();
      const batch1 = [aMessage(), aMessage()];
      assert.ok((await esp.sendBatch(batch1)).every((r) => r.ok));
      assert.equal(esp.name, 'sandbox');
      assert.equal(esp.active(), 'primary');

      primary.failNext(2);
      const failed = [[aMessage(), aMessage()], [aMessage()]];
      for (const b of failed) {
        const res = await esp.sendBatch(b);
        assert.ok(
          res.every((r) => !r.ok && r.error.code === 'ESP_UNAVAILABLE' && r.error.retryable),
          'a failed attempt is returned failed and retryable',
        );
      }
      assert.equal(esp.active(), 'secondary');
      // the send stage's chunk retry: the same messages now go to the secondary
      for (const b of failed) assert.ok((await esp.sendBatch(b)).every((r) => r.ok));
      const fresh = [aMessage()];
      assert.ok((await esp.sendBatch(fresh)).every((r) => r.ok));

      const inPrimary = new Set(primary.outbox().map((m) => m.messageId));
      const inSecondary = new Set(secondary.outbox().map((m) => m.messageId));
      assert.deepEqual(
        [...inPrimary].filter((id) => inSecondary.has(id)),
        [],
        'no message in both outboxes',
      );
      assert.deepEqual([...inSecondary].sort(), [...failed.flat(), ...fresh].map((m) => m.messageId).sort());
      assert.deepEqual([...inPrimary].sort(), batch1.map((m) => m.messageId).sort());

      await clock.advance(59_999);
      assert.equal(esp.active(), 'secondary');
      await clock.advance(1);
      assert.equal(esp.active(), 'primary');
      const later = aMessage();
      assert.ok((await esp.sendBatch([later])).every((r) => r.ok));
      assert.ok(primary.outbox().some((m) => m.messageId === later.messageId));
      assert.deepEqual(switches, ['secondary', 'primary']);
    },
  );

  it('one failure below the threshold, or a partial failure, does not switch', async () => {
    const { primary, esp } = pair();
    primary.failNext(1);
    await esp.sendBatch([aMessage()]);
    await esp.sendBatch([aMessage()]);
    primary.failNext(1);
    await esp.sendBatch([aMessage()]);
    assert.equal(esp.active(), 'primary', 'failures not in a row');
  });

  it('commit point is the weaker of the two; bad options fail clearly', () => {
    const clock = createManualClock();
    const fake = (commitPoint: Esp['commitPoint']): Esp => ({
      name: 'x',
      commitPoint,
      maxBatchSize: 10,
      send: async () => {
        throw new Error('unused');
      },
      sendBatch: async () => [],
      close: async () => undefined,
    });
    assert.equal(
      createFailoverEsp(fake('before-final-dot'), fake('before-final-dot'), { clock }).commitPoint,
      'before-final-dot',
    );
    assert.equal(
      createFailoverEsp(fake('before-final-dot'), fake('before-request'), { clock }).commitPoint,
      'before-request',
    );
    assert.equal(
      createFailoverEsp(fake('before-request'), fake('before-final-dot'), { clock }).commitPoint,
      'before-request',
    );
    assert.throws(
      () => createFailoverEsp(fake('before-request'), fake('before-request'), { clock, failureThreshold: 0 }),
      /failureThreshold must be an integer >= 1 \(got 0\)/,
    );
  });
});
