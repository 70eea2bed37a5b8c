import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { testDatabases, uniqueName } from '../support/databases.ts';
import { busContract, busGroupPublishContract } from './port.contract.ts';

for (const tdb of await testDatabases()) {
  describe(`postgres-log bus on ${tdb.label}`, { skip: tdb.skip }, () => {
    let passed = true;
    after(() => tdb.close(passed));
    busContract(
      `postgres-log/${tdb.label}`,
      async () => {
        const db = await tdb.open();
        return { makeBus: (clock) => createPostgresLogBus({ db, clock }) };
      },
      () => {
        passed = false;
      },
    );
    busGroupPublishContract(`postgres-log/${tdb.label}`, async () => {
      const db = await tdb.open();
      return { makeBus: (clock) => createPostgresLogBus({ db, clock }) };
    });
    it('publishes inside a caller transaction: delivered once it commits, never when it rolls back', async () => {
      const db = await tdb.open();
      const bus = createPostgresLogBus({ db, clock: createManualClock() });
      const topic = uniqueName('topic').replaceAll('_', '.');
      const spec = { topic, group: 'g' };
      const opts = { max: 100, leaseMs: 30_000, maxAttempts: 3 };
      try {
        await bus.ensureGroup(spec);
        await assert.rejects(
          db.transaction(async (tx) => {
            await bus.publishInTransaction!(tx, topic, [{ id: 'rolled-back', payload: { n: 0 } }]);
            throw new Error('caller fails after publishing');
          }),
          /caller fails/,
        );
        const counts = await db.transaction((tx) =>
          bus.publishInTransaction!(tx, topic, [
            { id: 'a', payload: { n: 1 } },
            { id: 'b', key: 'k', payload: { n: 2 } },
          ]),
        );
        assert.deepEqual(counts, { published: 2, duplicates: 0 });
        assert.deepEqual(
          await db.transaction((tx) => bus.publishInTransaction!(tx, topic, [{ id: 'a', payload: { n: 1 } }])),
          { published: 0, duplicates: 1 },
        );
        const batch = await bus.fetch(spec, opts);
        assert.deepEqual(
          batch.messages.map((m) => [m.id, m.key, m.payload]),
          [
            ['a', null, { n: 1 }],
            ['b', 'k', { n: 2 }],
          ],
        );
      } catch (err) {
        passed = false;
        throw err;
      } finally {
        await bus.close();
      }
    });
  });
}
