/**
 * Process instances on the postgres-log bus: a live process's sweep releases the leases of an
 * instance whose heartbeat is too old (its messages are redelivered at once, attempt 2), leaves a
 * live instance's leases alone, and a clean stop removes the instance row.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { createProcessInstance, listRecoveries } from '../../src/recovery/instances.ts';
import type { Db } from '../../src/store/port.ts';
import { testDatabases, uniqueName } from '../support/databases.ts';

const T0 = new Date('2026-03-01T10:00:00Z');
const fetchOptions = { max: 10, leaseMs: 120_000, maxAttempts: 5 };

function capturingLog() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

/** One simulated process: its own clock (never advanced when it "dies"), bus and instance. */
function processOn(db: Db, id: string, log = pino({ level: 'silent' }), registry?: Registry) {
  const clock = createManualClock(T0);
  const bus = createPostgresLogBus({ db, clock, instanceId: id });
  // the loop never fires in these tests (an hour between heartbeats): tick() is driven by hand
  const instance = createProcessInstance(
    { db, bus, clock, log, registry },
    { id, heartbeatMs: 3_600_000, deadAfterMs: 3000 },
  );
  return { clock, bus, instance };
}

async function instanceIds(db: Db): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>('select id from process_instances order by id');
  return rows.map((r) => r.id);
}

for (const tdb of await testDatabases()) {
  describe(`process instances on ${tdb.label}`, { skip: tdb.skip }, () => {
    let passed = false;
    after(() => tdb.close(passed));

    it("releases a stopped instance's leases at once and leaves a live one's alone", async () => {
      const db = await tdb.open();
      const topic = uniqueName('rec').replaceAll('_', '-');
      const spec = { topic, group: 'g' };
      const other = { topic, group: 'h' };
      const { log, lines } = capturingLog();
      const registry = new Registry();
      const dead = processOn(db, uniqueName('dead'));
      const live = processOn(db, uniqueName('live'));
      const sweeper = processOn(db, uniqueName('sweeper'), log, registry);
      for (const p of [dead, live, sweeper]) await p.instance.start({ role: 'worker', stages: ['x'] });

      await dead.bus.publish(
        topic,
        Array.from({ length: 4 }, (_, i) => ({ id: `m${i}`, payload: { i } })),
      );
      const held = await dead.bus.fetch(spec, fetchOptions);
      assert.equal(held.messages.length, 4);
      const kept = await live.bus.fetch(other, fetchOptions);
      assert.equal(kept.messages.length, 4);

      // the live process heartbeats 2.5 s in (its own sweep then finds nobody stopped); at 5 s the
      // dead one has not heartbeat since the start
      await live.clock.advance(2500);
      await sweeper.clock.advance(5000);
      await live.instance.tick();
      const recovered = await sweeper.instance.tick();

      assert.equal(recovered.length, 1);
      assert.equal(recovered[0]!.instanceId, dead.instance.id);
      assert.deepEqual(recovered[0]!.released, [
        { topic, group: 'g', leases: 1, messages: 4, leaseEnd: new Date(T0.getTime() + 120_000) },
      ]);
      assert.deepEqual(
        (await instanceIds(db)).filter((i) => [dead, live, sweeper].some((p) => p.instance.id === i)).sort(),
        [live.instance.id, sweeper.instance.id].sort(),
      );

      // redelivered now, long before the 120 s lease: attempt 2, so in-doubt sends get marked
      const again = await sweeper.bus.fetch(spec, fetchOptions);
      assert.deepEqual(
        again.messages.map((m) => [m.id, m.attempt]),
        [
          ['m0', 2],
          ['m1', 2],
          ['m2', 2],
          ['m3', 2],
        ],
      );
      await again.settle(again.messages.map(() => ({ kind: 'ack' as const })));
      // the live instance's lease is untouched: group h has nothing to redeliver, and its settle works
      assert.equal((await sweeper.bus.fetch(other, fetchOptions)).messages.length, 0);
      await kept.settle(kept.messages.map(() => ({ kind: 'ack' as const })));
      // the dead process's late settle is tolerated (its lease is gone)
      await held.settle(held.messages.map(() => ({ kind: 'ack' as const })));

      const line = lines.find((l) => (l.recovered as { instance?: string } | undefined)?.instance === dead.instance.id);
      assert.ok(line, 'one info line names the stopped instance');
      assert.equal(line.level, 30);
      assert.match(String(line.msg), /released 1 leases, 4 messages/);
      assert.match(String(line.msg), new RegExp(`${topic}/g: 1 leases, 4 messages`));
      const metric = await registry.getSingleMetricAsString('switchyard_recovered_messages_total');
      assert.match(metric, new RegExp(`switchyard_recovered_messages_total\\{topic="${topic}",group="g"\\} 4`));
      const [last] = await listRecoveries(db, { since: T0 });
      assert.equal(last?.instanceId, dead.instance.id);
      assert.equal(last?.messages, 4);
      for (const p of [live, sweeper]) await p.instance.stop();
      passed = true;
    });

    it('releases the retry rows a stopped instance was redelivering', async () => {
      const db = await tdb.open();
      const topic = uniqueName('rty').replaceAll('_', '-');
      const spec = { topic, group: 'g' };
      const dead = processOn(db, uniqueName('dead'));
      const sweeper = processOn(db, uniqueName('sweeper'));
      await dead.instance.start({ role: 'worker', stages: ['x'] });
      await sweeper.instance.start({ role: 'worker', stages: ['x'] });
      await dead.bus.publish(topic, [{ id: 'r', payload: 1 }]);
      const first = await dead.bus.fetch(spec, fetchOptions);
      await first.settle([{ kind: 'retry', delayMs: 0, error: { code: 'X', message: 'x' } }]);
      const second = await dead.bus.fetch(spec, fetchOptions);
      assert.deepEqual(
        second.messages.map((m) => m.attempt),
        [2],
      );
      await sweeper.clock.advance(5000);
      const [r] = await sweeper.instance.tick();
      assert.deepEqual(r?.released, [{ topic, group: 'g', leases: 1, messages: 1, leaseEnd: null }]);
      const third = await sweeper.bus.fetch(spec, fetchOptions);
      assert.deepEqual(
        third.messages.map((m) => m.attempt),
        [3],
      );
      await sweeper.instance.stop();
      passed = true;
    });

    it('a clean stop deletes the row and releases what is still leased; a fresh heartbeat is never swept', async () => {
      const db = await tdb.open();
      const topic = uniqueName('stp').replaceAll('_', '-');
      const a = processOn(db, uniqueName('a'));
      const b = processOn(db, uniqueName('b'));
      await a.instance.start({ role: 'start', stages: ['send'] });
      await b.instance.start({ role: 'worker', stages: ['send'] });
      await a.bus.publish(topic, [{ id: 'one', payload: 1 }]);
      assert.equal((await a.bus.fetch({ topic, group: 'g' }, fetchOptions)).messages.length, 1);
      await b.clock.advance(2000);
      assert.deepEqual(await b.instance.tick(), [], 'a 2 s old heartbeat is not stopped (threshold 3 s)');
      await a.instance.stop();
      assert.ok(!(await instanceIds(db)).includes(a.instance.id));
      const redelivered = await b.bus.fetch({ topic, group: 'g' }, fetchOptions);
      assert.deepEqual(
        redelivered.messages.map((m) => [m.id, m.attempt]),
        [['one', 2]],
      );
      await b.instance.stop();
      assert.ok(!(await instanceIds(db)).includes(b.instance.id));
      passed = true;
    });
  });
}
