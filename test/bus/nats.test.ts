/**
 * The bus contract on the NATS JetStream adapter (a real nats-server, NATS_URL or 127.0.0.1:4222),
 * with its store-side tables on each test database. Every run uses its own subject prefix and
 * deletes its streams afterwards, since the server is shared.
 */
import { after, describe } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createNatsBus } from '../../src/bus/nats/adapter.ts';
import { testDatabases, uniqueName } from '../support/databases.ts';
import { natsUnreachable, NATS_TEST_URL } from '../support/nats.ts';
import { busContract, busGroupPublishContract } from './port.contract.ts';

const unreachable = await natsUnreachable(NATS_TEST_URL);

for (const tdb of await testDatabases()) {
  const prefix = uniqueName('t').replaceAll('_', '');
  describe(`nats bus on ${tdb.label}`, { skip: tdb.skip ?? unreachable ?? false }, () => {
    let passed = true;
    after(async () => {
      await tdb.close(passed);
      await deleteStreams(prefix);
    });
    const harness = async () => {
      const db = await tdb.open();
      return {
        makeBus: (clock: Parameters<typeof createNatsBus>[0]['clock']) =>
          createNatsBus({ db, clock, url: NATS_TEST_URL }, { prefix }),
      };
    };
    busContract(`nats/${tdb.label}`, harness, () => {
      passed = false;
    });
    busGroupPublishContract(`nats/${tdb.label}`, harness);
  });
}

async function deleteStreams(prefix: string): Promise<void> {
  if (unreachable !== null) return;
  const nc = await connect({ servers: NATS_TEST_URL });
  const jsm = await jetstreamManager(nc);
  for await (const name of jsm.streams.names())
    if (name.startsWith(`${prefix.toUpperCase()}_`)) await jsm.streams.delete(name);
  await nc.close();
}
