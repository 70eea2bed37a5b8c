import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import fc from 'fast-check';
import { createConsumer } from '../../src/bus/consumer.ts';
import type { Delivery } from '../../src/bus/port.ts';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { TOPICS, type LinkClicksPayload } from '../../src/bus/topics.ts';
import { clicksStage, linkTags } from '../../src/reactions/clicks-stage.ts';
import { createIngest } from '../../src/reactions/ingest.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import type { ReactionBatch } from '../../src/bus/topics.ts';

const log = pino({ level: 'silent' });
let db: Db;
before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
});
after(async () => {
  await db.close();
});

describe('link tags', () => {
  it('takes utm_campaign, utm_content, host and path segments; skips ids and extensions', () => {
    assert.deepEqual(
      linkTags(
        'https://www.Shop.example.com/Products/Running-Shoes/12345/spring.html?utm_campaign=Spring-Sale'
          + '&utm_content=hero%20button&utm_source=email',
      ),
      [
        'utm_campaign:spring-sale',
        'utm_content:hero button',
        'host:shop.example.com',
        'path:products',
        'path:running-shoes',
        'path:spring',
      ],
    );
    assert.deepEqual(linkTags('https://example.com/p/3f2a9c1e-77aa-4b7e-9c3d-0a1b2c3d4e5f'), [
      'host:example.com',
      'path:p',
    ]);
    assert.deepEqual(linkTags('https://example.com/caf%C3%A9/%E0%A4%A'), [
      'host:example.com',
      'path:café',
      'path:%e0%a4%a',
    ]);
    assert.deepEqual(linkTags('not a url'), []);
  });

  it('property: never throws, tags are unique and lower-case', () => {
    fc.assert(
      fc.property(fc.oneof(fc.webUrl({ withQueryParameters: true, withFragments: true }), fc.string()), (url) => {
        const tags = linkTags(url);
        return new Set(tags).size === tags.length && tags.every((t) => t === t.toLowerCase());
      }),
    );
  });
});

describe('clicks stage', () => {
  it(
    'publishes one link.clicked chunk per reaction batch with its human clicks that have a contact '
      + '(deterministic id); redelivery republishes nothing new',
    async () => {
      const clock = createManualClock();
      const bus = createPostgresLogBus({ db, clock });
      const ingest = createIngest({ db, bus, clock });
      const at = clock.now();
      const url = 'https://shop.example.com/pricing?utm_campaign=q2&utm_content=cta';
      await ingest([
        {
          type: 'clicked',
          sourceId: 'tracking:click-1',
          provider: 'tracking',
          occurredAt: at,
          contactId: 'c1',
          campaignId: 'cmp1',
          email: 'a@example.com',
          url,
          raw: null,
        },
        {
          type: 'clicked',
          sourceId: 'tracking:click-2',
          provider: 'tracking',
          occurredAt: at,
          contactId: 'c1',
          campaignId: 'cmp1',
          email: 'a@example.com',
          url,
          isMachine: true,
          raw: null,
        },
        {
          type: 'clicked',
          sourceId: 'tracking:click-3',
          provider: 'tracking',
          occurredAt: at,
          email: 'b@example.com',
          url,
          raw: null,
        },
        {
          type: 'opened',
          sourceId: 'tracking:open-1',
          provider: 'tracking',
          occurredAt: at,
          contactId: 'c1',
          campaignId: 'cmp1',
          raw: null,
        },
      ]);
      const stage = clicksStage({ bus });
      const handler = stage.consumers[0]!.handler as unknown as (
        m: Delivery<ReactionBatch>,
        ctx: { signal: AbortSignal },
      ) => Promise<void>;
      const seen: Delivery<ReactionBatch>[] = [];
      const consumer = createConsumer<ReactionBatch>(
        { bus, clock, log },
        stage.consumers[0]!.options,
        async (m, ctx) => {
          seen.push(m);
          await handler(m, ctx);
        },
      );
      assert.equal(await consumer.runOnce(), 1);
      await handler(seen[0]!, { signal: new AbortController().signal }); // a redelivery

      const received: LinkClicksPayload[] = [];
      const journeys = createConsumer<LinkClicksPayload>(
        { bus, clock, log },
        { topic: TOPICS.linkClicked, group: 'journeys-test' },
        async (m) => {
          assert.equal(m.id, `clicks:${seen[0]!.id}`);
          received.push(m.payload);
        },
      );
      await journeys.runOnce();
      assert.equal(received.length, 1, 'one chunk, published once');
      assert.deepEqual(received[0]!.clicks, [
        {
          contactId: 'c1',
          campaignId: 'cmp1',
          url,
          sourceId: 'tracking:click-1',
          occurredAt: at.toISOString(),
          tags: ['utm_campaign:q2', 'utm_content:cta', 'host:shop.example.com', 'path:pricing'],
        },
      ]);
    },
  );
});
