import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { getSuppression } from '../../src/compliance/suppression.ts';
import type { EngagementEvent } from '../../src/core/events.ts';
import { createIngest } from '../../src/reactions/ingest.ts';
import { applySoftBounces } from '../../src/reactions/soft-bounce-stage.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';

describe('soft bounces suppress after the limit', () => {
  let db: Db;
  before(async () => {
    db = await createPgliteDb({});
    await migrate(db);
  });
  after(() => db.close());

  const event = (email: string, type: EngagementEvent['type'], n: number, at: Date): EngagementEvent => ({
    type,
    sourceId: `t:${email}:${type}:${n}`,
    provider: 'test',
    occurredAt: at,
    email,
    raw: {},
  });

  it('the 7th soft bounce in the window suppresses; a delivery in between resets the count', async () => {
    const clock = createManualClock();
    const bus = createPostgresLogBus({ db, clock });
    const ingest = createIngest({ db, bus, clock });
    const deps = { db, bus, clock };
    for (let i = 0; i < 6; i++) {
      await ingest([event('soft@example.com', 'bounced_soft', i, clock.now())]);
      await clock.advance(3_600_000);
    }
    const six = {
      events: [
        {
          sourceId: 'x',
          type: 'bounced_soft' as const,
          provider: 'test',
          occurredAt: '',
          email: 'soft@example.com',
          messageId: null,
          campaignId: null,
          contactId: null,
          isMachine: false,
          reason: null,
          url: null,
        },
      ],
    };
    assert.deepEqual(await applySoftBounces(deps, six), []);
    await ingest([event('soft@example.com', 'bounced_soft', 6, clock.now())]);
    assert.deepEqual(await applySoftBounces(deps, six), ['soft@example.com']);
    assert.equal((await getSuppression(db, 'soft@example.com'))?.reason, 'bounced_soft');

    // another address: 6 bounces, a delivery, then 3 more — not suppressed
    const other = { events: [{ ...six.events[0]!, email: 'reset@example.com' }] };
    for (let i = 0; i < 6; i++) {
      await ingest([event('reset@example.com', 'bounced_soft', i, clock.now())]);
      await clock.advance(60_000);
    }
    await ingest([event('reset@example.com', 'delivered', 0, clock.now())]);
    for (let i = 6; i < 9; i++) {
      await clock.advance(60_000);
      await ingest([event('reset@example.com', 'bounced_soft', i, clock.now())]);
    }
    assert.deepEqual(await applySoftBounces(deps, other), []);
    assert.equal(await getSuppression(db, 'reset@example.com'), null);
    await bus.close();
  });
});
