import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Command } from 'commander';
import pino from 'pino';
import { createConsumer } from '../../src/bus/consumer.ts';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { registerSuppressionCommands } from '../../src/cli/commands/suppression.ts';
import {
  enqueuePropagations,
  propagateDue,
  propagationStage,
  runPropagation,
  type PropagationDeps,
} from '../../src/compliance/propagation.ts';
import type { SuppressionItem, SuppressionSink } from '../../src/compliance/sink-port.ts';
import {
  createComplianceLogSink,
  createCrmSuppressionSink,
  createRecordingSuppressionSink,
  createWarehouseTableSink,
} from '../../src/compliance/sinks.ts';
import { getSuppressionStatus } from '../../src/compliance/suppression-status.ts';
import { createDemoCrm, ensureDemoCrmSchema, isKnownContact } from '../../src/connectors/crm/demo/adapter.ts';
import { SwitchyardError } from '../../src/core/errors.ts';
import { createIngest } from '../../src/reactions/ingest.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import type { SuppressedPayload } from '../../src/bus/topics.ts';

const log = pino({ level: 'silent' });
let db: Db;
before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
  await ensureDemoCrmSchema(db);
});
after(async () => {
  await db.close();
});

const unique = (): string => randomBytes(4).toString('hex');

/** A sink that answers from a script: each call takes the next step (default: confirm all). */
function scriptedSink(
  name: string,
  steps: ((items: readonly SuppressionItem[]) => { confirmed: string[] })[],
): SuppressionSink & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    name,
    calls,
    async suppress(items) {
      calls.push(items.map((i) => i.email));
      const step = steps.shift();
      return step === undefined ? { confirmed: items.map((i) => i.email) } : step(items);
    },
  };
}

describe('suppression propagation', () => {
  it('an unsubscribe reaches the ESP, CRM, warehouse table and compliance log, each confirmed', async () => {
    const clock = createManualClock();
    const bus = createPostgresLogBus({ db, clock });
    const ingest = createIngest({ db, bus, clock });
    const crm = createDemoCrm({ db, clock });
    const esp = createRecordingSuppressionSink('esp');
    const sinks = [
      esp,
      createCrmSuppressionSink(crm),
      createWarehouseTableSink({ db, clock }),
      createComplianceLogSink({ db, clock }),
    ];
    const deps: PropagationDeps = { db, clock, log, sinks };
    let contactId = `c_${unique()}`;
    while (!isKnownContact(contactId)) contactId = `c_${unique()}`;
    const email = `Jane.${unique()}@Example.com`;
    await ingest([
      {
        type: 'unsubscribed',
        sourceId: `tracking:unsub:${email}`,
        provider: 'tracking',
        occurredAt: clock.now(),
        email,
        contactId,
        raw: null,
      },
    ]);

    const stage = propagationStage(deps);
    const consumer = createConsumer<SuppressedPayload>(
      { bus, clock, log },
      stage.consumers[0]!.options,
      stage.consumers[0]!.handler as never,
    );
    // the group makes the first attempt itself: confirmed before its message is settled
    assert.equal(await consumer.runOnce(), 1);
    const lower = email.toLowerCase();
    const status = await getSuppressionStatus(db, email);
    assert.deepEqual(status.suppressed?.reason, 'unsubscribed');
    assert.deepEqual(
      status.systems.map((s) => s.system),
      ['compliance', 'crm', 'esp', 'warehouse'],
    );
    assert.equal(await propagateDue(deps), 0, 'nothing left for the loop');
    assert.ok(
      status.systems.every(
        (s) => s.status === 'confirmed' && s.attempts === 1 && s.confirmedAt?.getTime() === clock.now().getTime(),
      ),
      JSON.stringify(status),
    );
    assert.deepEqual(esp.received, [{ email: lower, reason: 'unsubscribed', contactId }]);
    assert.equal((await crm.lookup([contactId])).get(contactId)?.optedOut, true);
    const { rows: exported } = await db.query(
      'select email, reason, contact_id from suppression_export where email = $1',
      [lower],
    );
    assert.deepEqual(exported, [{ email: lower, reason: 'unsubscribed', contact_id: contactId }]);
    const { rows: logged } = await db.query('select reason from compliance_suppression_log where email = $1', [lower]);
    assert.deepEqual(logged, [{ reason: 'unsubscribed' }]);

    // a redelivered contact.suppressed message changes nothing
    await (stage.consumers[0]!.handler as unknown as (m: unknown) => Promise<void>)({
      payload: {
        email: lower,
        reason: 'unsubscribed',
        source: 'x',
        contactId,
        campaignId: null,
        at: clock.now().toISOString(),
      },
    });
    assert.equal(await propagateDue(deps), 0);
    assert.ok((await getSuppressionStatus(db, email)).systems.every((s) => s.status === 'confirmed'));
  });

  it('retries unconfirmed and failed calls with exponential backoff, then gives up after maxAttempts', async () => {
    const clock = createManualClock();
    const name = `flaky-${unique()}`;
    const a = `a.${unique()}@example.com`;
    const b = `b.${unique()}@example.com`;
    const unavailable = () => {
      throw new SwitchyardError('CRM_UNAVAILABLE', 'vendor 503', { retryable: true });
    };
    // one first attempt per address (each handler call is its own group), then the loop's retry of both
    const flaky = scriptedSink(name, [
      unavailable,
      unavailable,
      (items) => ({ confirmed: items.filter((i) => i.email === a).map((i) => i.email.toUpperCase()) }),
    ]);
    const deps: PropagationDeps = { db, clock, log, sinks: [flaky], options: { maxAttempts: 3 } };
    const stage = propagationStage(deps);
    const handler = stage.consumers[0]!.handler as unknown as (m: unknown) => Promise<void>;
    for (const email of [a, b])
      await handler({
        payload: {
          email,
          reason: 'complained',
          source: 't',
          contactId: null,
          campaignId: null,
          at: clock.now().toISOString(),
        },
      });

    // the group's own first attempt failed: pending, with the backoff, for the loop
    assert.equal(flaky.calls.length, 2);
    assert.equal(await propagateDue(deps), 0, 'not before the backoff');
    let s = (await getSuppressionStatus(db, a)).systems[0]!;
    assert.equal(s.status, 'pending');
    assert.equal(s.lastError, 'CRM_UNAVAILABLE: vendor 503');
    assert.equal(s.nextAttemptAt?.getTime(), clock.now().getTime() + 30_000);
    await clock.advance(29_999);
    assert.equal(await propagateDue(deps), 0, 'not before the backoff');
    await clock.advance(1);
    assert.equal(await propagateDue(deps), 2);
    s = (await getSuppressionStatus(db, a)).systems[0]!;
    assert.deepEqual([s.status, s.attempts], ['confirmed', 2]);
    const sb = (await getSuppressionStatus(db, b)).systems[0]!;
    assert.deepEqual([sb.status, sb.attempts, sb.lastError], ['pending', 2, `${name} did not confirm the address`]);
    assert.equal(sb.nextAttemptAt?.getTime(), clock.now().getTime() + 60_000);
    flaky.suppress = async (items) => {
      flaky.calls.push(items.map((i) => i.email));
      return { confirmed: [] };
    };
    await clock.advance(60_000);
    assert.equal(await propagateDue(deps), 1);
    const gaveUp = (await getSuppressionStatus(db, b)).systems[0]!;
    assert.deepEqual([gaveUp.status, gaveUp.attempts, gaveUp.nextAttemptAt], ['failed', 3, null]);
  });

  it(
    'a permanent failure of a batch tries each address ' + 'alone, so one bad address does not hold back the rest',
    async () => {
      const clock = createManualClock();
      const good = `good.${unique()}@example.com`;
      const bad = `bad.${unique()}@example.com`;
      const picky = scriptedSink(`picky-${unique()}`, []);
      picky.suppress = async (items) => {
        picky.calls.push(items.map((i) => i.email));
        if (items.some((i) => i.email === bad))
          throw new SwitchyardError('VALIDATION_FAILED', 'address refused by vendor');
        return { confirmed: items.map((i) => i.email) };
      };
      const deps: PropagationDeps = { db, clock, log, sinks: [picky] };
      await enqueuePropagations(
        db,
        [good, bad].map((email) => ({ email, reason: 'bounced_hard' })),
        [picky.name],
        clock.now(),
      );
      assert.equal(await propagateDue(deps), 2);
      assert.equal(picky.calls.length, 3);
      assert.equal((await getSuppressionStatus(db, good)).systems[0]?.status, 'confirmed');
      const s = (await getSuppressionStatus(db, bad)).systems[0]!;
      assert.deepEqual([s.status, s.lastError], ['failed', 'VALIDATION_FAILED: address refused by vendor']);
    },
  );

  it("a first attempt that never finished (its process stopped) is the loop's once its lease ends", async () => {
    const clock = createManualClock();
    const email = `lease.${unique()}@example.com`;
    let called!: () => void;
    const sinkCalled = new Promise<void>((resolve) => {
      called = resolve;
    });
    let hung = true;
    const sink = scriptedSink(`lease-${unique()}`, []);
    sink.suppress = async (items) => {
      sink.calls.push(items.map((i) => i.email));
      if (hung) {
        hung = false;
        called();
        return new Promise(() => undefined);
      }
      return { confirmed: items.map((i) => i.email) };
    };
    const deps: PropagationDeps = { db, clock, log, sinks: [sink], options: { leaseMs: 60_000 } };
    const handler = propagationStage(deps).consumers[0]!.handler as unknown as (m: unknown) => Promise<void>;
    void handler({
      payload: {
        email,
        reason: 'manual',
        source: 't',
        contactId: null,
        campaignId: null,
        at: clock.now().toISOString(),
      },
    });
    await sinkCalled;
    const leased = (await getSuppressionStatus(db, email)).systems[0]!;
    assert.deepEqual([leased.status, leased.attempts], ['pending', 0], 'visible as pending while attempted');
    assert.equal(leased.nextAttemptAt?.getTime(), clock.now().getTime() + 60_000);
    assert.equal(await propagateDue(deps), 0, 'leased to the first attempt');
    await clock.advance(60_000);
    assert.equal(await propagateDue(deps), 1);
    const done = (await getSuppressionStatus(db, email)).systems[0]!;
    assert.deepEqual([done.status, done.attempts], ['confirmed', 1]);
    assert.equal(sink.calls.length, 2);
  });

  it('the loop propagates on the clock until aborted', async () => {
    const clock = createManualClock();
    const sink = createRecordingSuppressionSink(`loop-${unique()}`);
    const deps: PropagationDeps = { db, clock, log, sinks: [sink], options: { intervalMs: 500 } };
    const stop = new AbortController();
    const loop = runPropagation(deps, stop.signal);
    await clock.advance(0);
    await enqueuePropagations(
      db,
      [{ email: `loop.${unique()}@example.com`, reason: 'manual' }],
      [sink.name],
      clock.now(),
    );
    assert.equal(sink.received.length, 0);
    await clock.advance(500);
    assert.equal(sink.received.length, 1);
    stop.abort();
    await loop;
  });
});

describe('suppression CLI', () => {
  async function run(args: string[]): Promise<{ out: string[]; err: string[]; code: number }> {
    const out: string[] = [];
    const err: string[] = [];
    let code = 0;
    const program = new Command().exitOverride();
    const clock = createManualClock(new Date('2026-02-02T00:00:00Z'));
    registerSuppressionCommands(program, async () => ({ db, clock, close: async () => {} }), {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
      setExitCode: (c) => {
        code = c;
      },
    });
    await program.parseAsync(['node', 'switchyard', ...args]);
    return { out, err, code };
  }

  it('add, show and remove an address; bad input is refused by name', async () => {
    const email = `cli.${unique()}@example.com`;
    assert.deepEqual((await run(['suppression', 'show', email])).out, [
      `${email}: not suppressed`,
      '  no propagation recorded',
    ]);
    assert.deepEqual((await run(['suppression', 'add', email, '--reason', 'manual'])).out, [
      'suppressed; 4 system(s) queued for propagation',
    ]);
    const shown = await run(['suppression', 'show', email]);
    assert.equal(shown.code, 0);
    assert.equal(shown.out[0], `${email}: suppressed (manual, source cli, since 2026-02-02T00:00:00.000Z)`);
    assert.match(shown.out[1]!, /^ {2}compliance +pending, attempts 0, next 2026-02-02T00:00:00.000Z$/);
    assert.equal(shown.out.length, 5);
    const json = JSON.parse((await run(['suppression', 'show', email, '--json'])).out[0]!) as { systems: unknown[] };
    assert.equal(json.systems.length, 4);
    assert.deepEqual((await run(['suppression', 'add', email])).out, [
      'already suppressed; 0 system(s) queued for propagation',
    ]);
    assert.deepEqual((await run(['suppression', 'remove', email])).out, ['suppression removed']);
    assert.deepEqual(await run(['suppression', 'remove', email]), { out: ['not suppressed'], err: [], code: 1 });
    const bad = await run(['suppression', 'add', 'not-an-address']);
    assert.deepEqual(bad, { out: [], err: ['VALIDATION_FAILED: "not-an-address" is not an email address'], code: 2 });
    const badReason = await run(['suppression', 'add', email, '--reason', 'bored']);
    assert.equal(badReason.code, 2);
    assert.match(badReason.err[0]!, /reason "bored" is not one of/);
  });
});
