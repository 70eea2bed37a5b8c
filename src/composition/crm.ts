/**
 * The CRM the stages use: the demo CRM when the demo workspace is on (its demo_crm_* tables are
 * created here, not by a migration), otherwise none. Only with a CRM does a suppression
 * propagate to one.
 */
import type { Clock } from '../clock/port.ts';
import type { Config } from '../config.ts';
import { createCrmBatcher } from '../connectors/crm/batcher.ts';
import { createDemoCrm, ensureDemoCrmSchema } from '../connectors/crm/demo/adapter.ts';
import { createNoCrm } from '../connectors/crm/none/adapter.ts';
import type { Crm } from '../connectors/crm/port.ts';
import { createCrmSuppressionSink } from '../compliance/sinks.ts';
import type { SuppressionSink } from '../compliance/sink-port.ts';
import type { Db } from '../store/port.ts';

export async function createConfiguredCrm(
  demo: Config['demo'],
  deps: { db: Db; clock: Clock },
): Promise<{ crm: Crm; sinks: SuppressionSink[] }> {
  if (!demo.enabled) return { crm: createNoCrm(), sinks: [] };
  await ensureDemoCrmSchema(deps.db);
  // local tables: a batch size and rate a real vendor would not allow
  const crm = createCrmBatcher(
    createDemoCrm(deps, { maxBatchSize: 1000, rateLimit: { requests: 1000, perMs: 1000 } }),
    { clock: deps.clock },
  );
  return { crm, sinks: [createCrmSuppressionSink(crm)] };
}
