import { after, describe } from 'node:test';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { testDatabases } from '../support/databases.ts';
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
  });
}
