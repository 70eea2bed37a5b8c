/**
 * Events that come back with only our Message-ID (a DSN without VERP, an ESP event without our
 * custom fields) map to their ledger row: current ids name the row, which must exist; ids of mail
 * sent before that format are found by the ledger's stored message_id.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { getSuppression } from '../../src/compliance/suppression.ts';
import { messageIdFor } from '../../src/core/message-id.ts';
import { createIngest, type Ingest } from '../../src/reactions/ingest.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';

let db: Db;
let ingest: Ingest;
const clock = createManualClock(new Date('2026-11-26T12:00:00Z'));
before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
  ingest = createIngest({ db, bus: createPostgresLogBus({ db, clock }), clock });
  await db.query(
    `insert into send_ledger (campaign_id, contact_id, email, state, chunk, message_id, updated_at) values
    ('spring', 'cus_1', 'ann@example.com', 'sent', 0, null, $1),
    ('spring', 'cus:2', 'bob@example.com', 'sent', 0, null, $1),
    ('autumn', 'cus_3', 'cy@example.com', 'sent', 0, '0123456789abcdef0123456789abcdef@shop.example.com', $1)`,
    [clock.now()],
  );
});
after(async () => {
  await db.close();
});

async function stored(
  sourceId: string,
): Promise<{ campaign_id: string | null; contact_id: string | null; email: string | null }> {
  const {
    rows: [r],
  } = await db.query<{ campaign_id: string | null; contact_id: string | null; email: string | null }>(
    'select campaign_id, contact_id, email from engagement_events where source_id = $1',
    [sourceId],
  );
  return r!;
}

describe('ingest correlates by Message-ID', () => {
  it(
    'a current Message-ID names its row: campaign, contact and the ledger email; a hard bounce suppresses '
      + 'that address',
    async () => {
      const at = clock.now();
      await ingest([
        {
          type: 'bounced_hard',
          sourceId: 'dsn:1',
          provider: 'inbound',
          occurredAt: at,
          raw: {},
          messageId: messageIdFor('spring', 'cus_1', 'shop.example.com'),
        },
        {
          type: 'opened',
          sourceId: 'ses:2',
          provider: 'ses',
          occurredAt: at,
          raw: {},
          email: 'bob@example.com',
          messageId: messageIdFor('spring', 'cus:2', 'shop.example.com'),
        },
      ]);
      assert.deepEqual(await stored('dsn:1'), { campaign_id: 'spring', contact_id: 'cus_1', email: 'ann@example.com' });
      // an open keeps no address once its contact is known (PII at rest, docs/privacy.md), nor the vendor payload
      assert.deepEqual(await stored('ses:2'), { campaign_id: 'spring', contact_id: 'cus:2', email: null });
      const { rows } = await db.query<{ raw: unknown }>(`select raw from engagement_events where source_id = 'ses:2'`);
      assert.equal(rows[0]!.raw, null);
      assert.equal((await getSuppression(db, 'ann@example.com'))?.reason, 'bounced_hard');
    },
  );

  it('a well-formed Message-ID for a row that does not exist correlates nothing', async () => {
    await ingest([
      {
        type: 'complained',
        sourceId: 'arf:3',
        provider: 'inbound',
        occurredAt: clock.now(),
        raw: {},
        messageId: messageIdFor('spring', 'cus_404', 'shop.example.com'),
      },
    ]);
    assert.deepEqual(await stored('arf:3'), { campaign_id: null, contact_id: null, email: null });
  });

  it('mail sent before the format is still found by its stored message_id', async () => {
    await ingest([
      {
        type: 'bounced_soft',
        sourceId: 'dsn:4',
        provider: 'inbound',
        occurredAt: clock.now(),
        raw: {},
        messageId: '0123456789abcdef0123456789abcdef@shop.example.com',
      },
    ]);
    assert.deepEqual(await stored('dsn:4'), { campaign_id: 'autumn', contact_id: 'cus_3', email: 'cy@example.com' });
  });
});
