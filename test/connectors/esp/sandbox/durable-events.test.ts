/**
 * The sandbox with a store: its pending simulated events outlive the process that accepted the
 * messages (a new sandbox on the same store emits them when due, with the same events the
 * in-memory sandbox would have emitted), two sandboxes flushing at once never emit a row twice,
 * a failed emit keeps the events for the next flush, and a flush loop with nothing of its own
 * pending still picks up what a stopped sandbox left, within a minute.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createManualClock } from '../../../../src/clock/manual.ts';
import { createSandboxEsp, mulberry32 } from '../../../../src/connectors/esp/sandbox/adapter.ts';
import type { EngagementEvent } from '../../../../src/core/events.ts';
import type { Db } from '../../../../src/store/port.ts';
import { testDatabases } from '../../../support/databases.ts';
import { aMessage } from '../port.contract.ts';

const ALL = { delivered: 1, bounce: 0, open: 1, click: 1, unsubscribe: 1, complaint: 1 };
const T0 = new Date('2026-04-01T08:00:00Z');

function sandboxOn(db: Db | undefined, clock = createManualClock(T0), options = {}) {
  const emitted: EngagementEvent[] = [];
  const esp = createSandboxEsp(
    {
      clock,
      db,
      random: mulberry32(7),
      emit: async (events) => {
        emitted.push(...events);
      },
    },
    { eventDelayMs: 1000, ...options },
  );
  return { clock, esp, emitted };
}

const summary = (events: EngagementEvent[]) => events.map((e) => `${e.sourceId}@${e.occurredAt.toISOString()}`).sort();

for (const tdb of await testDatabases()) {
  describe(`sandbox events in the store on ${tdb.label}`, { skip: tdb.skip }, () => {
    let passed = false;
    after(() => tdb.close(passed));

    it('a new sandbox on the same store emits what a stopped one accepted, as the in-memory one would', async () => {
      const db = await tdb.open();
      const messages = Array.from({ length: 20 }, () => aMessage());
      const first = sandboxOn(db, createManualClock(T0), { rates: { ...ALL, open: 0.5, click: 0.5 } });
      await first.esp.sendBatch(messages);
      await first.clock.advance(1000);
      await first.esp.flushDue(); // the delivered events only
      assert.equal(first.emitted.length, 20);
      assert.ok(first.emitted.every((e) => e.type === 'delivered'));
      await first.esp.close(); // stops: nothing more comes from it

      const restarted = sandboxOn(db, createManualClock(new Date(T0.getTime() + 10_000)));
      await restarted.esp.flushDue();
      const memory = sandboxOn(undefined, createManualClock(T0), { rates: { ...ALL, open: 0.5, click: 0.5 } });
      await memory.esp.sendBatch(messages);
      await memory.clock.advance(10_000);
      await memory.esp.flushDue();
      assert.deepEqual(summary([...first.emitted, ...restarted.emitted]), summary(memory.emitted));
      assert.ok(restarted.emitted.some((e) => e.type === 'opened'));
      const { rows } = await db.query<{ n: number }>(
        'select count(*)::int as n from sandbox_events where provider_message_id = any($1::text[])',
        [messages.map((m) => `sandbox-${m.messageId}`)],
      );
      assert.equal(rows[0]!.n, 0, 'every row emitted to its last stage is gone');
      await restarted.esp.close();
      passed = true;
    });

    it('two sandboxes flushing the same store at once emit each event once', async () => {
      const db = await tdb.open();
      const clock = createManualClock(T0);
      const a = sandboxOn(db, clock, { rates: ALL, emitBatchSize: 7 });
      const b = sandboxOn(db, clock, { rates: ALL, emitBatchSize: 7 });
      const messages = Array.from({ length: 30 }, () => aMessage());
      await a.esp.sendBatch(messages.slice(0, 15));
      await b.esp.sendBatch(messages.slice(15));
      await clock.advance(10_000);
      await Promise.all([a.esp.flushDue(), b.esp.flushDue(), a.esp.flushDue(), b.esp.flushDue()]);
      await Promise.all([a.esp.flushDue(), b.esp.flushDue()]);
      const ids = [...a.emitted, ...b.emitted]
        .map((e) => e.sourceId)
        .filter((id) => messages.some((m) => id.includes(m.messageId)));
      assert.equal(new Set(ids).size, ids.length, 'no event emitted twice');
      assert.equal(ids.length, 30 * 5);
      passed = true;
    });

    it("a flush loop emits its own events as they fall due and a stopped sandbox's within a minute", async () => {
      const db = await tdb.open();
      const rates = { ...ALL, open: 0, click: 0, unsubscribe: 0, complaint: 0 };
      const clock = createManualClock(T0);
      const looping = sandboxOn(db, clock, { rates, flushEveryMs: 1000 });
      // one tick of the loop: wake it, then wait until its flush is done and it sleeps again
      const tick = async () => {
        await clock.advance(1000);
        while (clock.pending() === 0) await new Promise<void>((r) => setImmediate(r));
      };
      await tick(); // its first round looks at the store: nothing there yet
      const own = aMessage();
      await looping.esp.send(own);
      await tick();
      await tick();
      assert.deepEqual(
        looping.emitted.map((e) => e.sourceId),
        [`sandbox:sandbox-${own.messageId}:delivered`],
      );

      const stopped = sandboxOn(db, createManualClock(clock.now()), { rates });
      const left = aMessage();
      await stopped.esp.send(left);
      await stopped.esp.close();
      let ticks = 0;
      while (looping.emitted.length < 2 && ticks < 61) {
        await tick();
        ticks++;
      }
      assert.deepEqual(
        looping.emitted.map((e) => e.sourceId).slice(1),
        [`sandbox:sandbox-${left.messageId}:delivered`],
        `emitted after ${ticks} s`,
      );
      await looping.esp.close();
      passed = true;
    });

    it('a failed emit keeps the events for the next flush', async () => {
      const db = await tdb.open();
      const clock = createManualClock(T0);
      let failing = true;
      const emitted: EngagementEvent[] = [];
      const esp = createSandboxEsp(
        {
          clock,
          db,
          emit: async (events) => {
            if (failing) throw new Error('ingest down');
            emitted.push(...events);
          },
        },
        { rates: { ...ALL, open: 0, click: 0, unsubscribe: 0, complaint: 0 }, eventDelayMs: 1000 },
      );
      const msg = aMessage();
      await esp.send(msg);
      await clock.advance(1000);
      await assert.rejects(esp.flushDue(), /ingest down/);
      failing = false;
      assert.equal(await esp.flushDue(), 1);
      assert.deepEqual(
        emitted.map((e) => e.sourceId),
        [`sandbox:sandbox-${msg.messageId}:delivered`],
      );
      passed = true;
    });
  });
}
