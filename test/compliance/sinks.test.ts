import { after, before, describe } from 'node:test';
import { createManualClock } from '../../src/clock/manual.ts';
import {
  createComplianceLogSink,
  createCrmSuppressionSink,
  createRecordingSuppressionSink,
  createWarehouseTableSink,
} from '../../src/compliance/sinks.ts';
import { createDemoCrm, ensureDemoCrmSchema } from '../../src/connectors/crm/demo/adapter.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { suppressionSinkContract } from './sink-port.contract.ts';

let db: Db;
before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
  await ensureDemoCrmSchema(db);
});
after(async () => {
  await db.close();
});

const exists = async (sql: string, email: string): Promise<boolean> => (await db.query(sql, [email])).rows.length > 0;

describe('suppression sinks', () => {
  suppressionSinkContract('crm (demo CRM)', async () => {
    const clock = createManualClock();
    // maxBatchSize 1: the sink must split batches itself
    return {
      sink: createCrmSuppressionSink(createDemoCrm({ db, clock }, { maxBatchSize: 1 })),
      holds: (e) => exists('select 1 from demo_crm_opt_outs where email = $1 and opted_out', e),
    };
  });
  suppressionSinkContract('warehouse table', async () => ({
    sink: createWarehouseTableSink({ db, clock: createManualClock() }),
    holds: (e) => exists('select 1 from suppression_export where email = $1', e),
  }));
  suppressionSinkContract('compliance log', async () => ({
    sink: createComplianceLogSink({ db, clock: createManualClock() }),
    holds: (e) => exists('select 1 from compliance_suppression_log where email = $1', e),
  }));
  suppressionSinkContract('recording (sandbox ESP)', async () => {
    const sink = createRecordingSuppressionSink('esp');
    return { sink, holds: async (e) => sink.received.some((i) => i.email === e) };
  });
});
