/**
 * The CRM the stages use: HubSpot or Salesforce when configured (their requests paced by a token
 * bucket in the store, shared by every process; Salesforce also polls for changed contacts), the
 * demo CRM when the demo workspace is on (its demo_crm_* tables are created here, not by a
 * migration), otherwise none. Only with a CRM does a
 * suppression propagate to one. Also what turns verified CRM webhook changes into bus messages.
 */
import { readFileSync } from 'node:fs';
import type { Bus } from '../bus/port.ts';
import { publishTo, TOPICS } from '../bus/topics.ts';
import type { Clock } from '../clock/port.ts';
import type { Config } from '../config.ts';
import { createCrmBatcher } from '../connectors/crm/batcher.ts';
import { createDemoCrm, ensureDemoCrmSchema } from '../connectors/crm/demo/adapter.ts';
import { createHubspotCrm } from '../connectors/crm/hubspot/adapter.ts';
import { createNoCrm } from '../connectors/crm/none/adapter.ts';
import { createSalesforceCrm } from '../connectors/crm/salesforce/adapter.ts';
import { createSalesforceChangePoller } from '../connectors/crm/salesforce/changes.ts';
import type { Crm, CrmContactChange } from '../connectors/crm/port.ts';
import { budgetBucket, createSharedRateLimiter } from '../connectors/crm/shared-rate-limit.ts';
import { createCrmSuppressionSink } from '../compliance/sinks.ts';
import type { SuppressionSink } from '../compliance/sink-port.ts';
import type { CrmUsage } from '../observability/crm-metrics.ts';
import type { Db } from '../store/port.ts';

/** Share of engaged contacts whose simulated deal the demo workspace's CRM closes. */
const DEMO_DEAL_SHARE = 0.2;

/** HubSpot's burst window. */
const HUBSPOT_WINDOW_MS = 10_000;

/** A loop that reads CRM changes and hands them to `publish` until the signal aborts. */
export type CrmChangeFeed = (
  publish: (changes: CrmContactChange[]) => Promise<unknown>,
  log: { warn(obj: object, msg: string): void },
) => (signal: AbortSignal) => Promise<void>;

export async function createConfiguredCrm(
  config: Config['crm'],
  deps: { db: Db; clock: Clock },
  options: { simulateDeals?: boolean } = {},
): Promise<{
  crm: Crm;
  sinks: SuppressionSink[];
  usage?: () => CrmUsage;
  changeFeed?: CrmChangeFeed;
  lookupBatchSize?: number;
}> {
  // lookupBatchSize (a vendor CRM's own maxBatchSize; the batcher's is unbounded) turns the profile cache on
  if (config.kind === 'none') return { crm: createNoCrm(), sinks: [] };
  if (config.kind === 'salesforce') {
    const sf = config.salesforce;
    const limiter = createSharedRateLimiter(deps, budgetBucket('salesforce', sf.requestsPerSecond, 1000));
    const salesforce = createSalesforceCrm(
      { ...deps, limiter },
      {
        loginUrl: sf.loginUrl,
        ...(sf.instanceUrl === undefined ? {} : { instanceUrl: sf.instanceUrl }),
        apiVersion: sf.apiVersion,
        credentials:
          sf.clientSecret !== undefined
            ? { flow: 'client-credentials', clientId: sf.clientId, clientSecret: sf.clientSecret }
            : {
                flow: 'jwt-bearer',
                clientId: sf.clientId,
                username: sf.jwt?.username as string,
                privateKeyPem: readFileSync(sf.jwt?.keyFile as string, 'utf8'),
              },
        fields: sf.fields,
        rateLimit: { requests: sf.requestsPerSecond, perMs: 1000 },
        usageThreshold: sf.usageThreshold,
      },
    );
    const crm = createCrmBatcher(salesforce, { clock: deps.clock });
    const changeFeed: CrmChangeFeed = (publish, log) => (signal) =>
      createSalesforceChangePoller({ ...deps, crm: salesforce, publish, log }, { intervalMs: sf.pollIntervalMs }).run(
        signal,
      );
    return {
      crm,
      sinks: [createCrmSuppressionSink(crm)],
      usage: () => ({ crm: 'salesforce', ...salesforce.usage() }),
      changeFeed,
      lookupBatchSize: salesforce.maxBatchSize,
    };
  }
  if (config.kind === 'hubspot') {
    const { token, oauth, baseUrl, requestsPer10s, properties, subscriptionId } = config.hubspot;
    const limiter = createSharedRateLimiter(deps, budgetBucket('hubspot', requestsPer10s, HUBSPOT_WINDOW_MS));
    // the CRM Search API (deal reads) has its own limit besides the account's burst
    const searchLimiter = createSharedRateLimiter(deps, budgetBucket('hubspot:search', 4, 1000));
    const hubspot = createHubspotCrm(
      { ...deps, limiter, searchLimiter },
      {
        ...(oauth === undefined ? { token } : { oauth }),
        baseUrl,
        properties,
        ...(subscriptionId === undefined ? {} : { subscriptionId }),
        rateLimit: { requests: requestsPer10s, perMs: HUBSPOT_WINDOW_MS },
      },
    );
    const crm = createCrmBatcher(hubspot, { clock: deps.clock });
    return {
      crm,
      sinks: [createCrmSuppressionSink(crm)],
      usage: () => ({ crm: 'hubspot', ...hubspot.usage() }),
      lookupBatchSize: hubspot.maxBatchSize,
    };
  }
  await ensureDemoCrmSchema(deps.db);
  // local tables: a batch size and rate a real vendor would not allow
  // the demo CRM is tables in this store: a profile cache in front of it would only add writes
  const crm = createCrmBatcher(
    createDemoCrm(deps, {
      maxBatchSize: 1000,
      rateLimit: { requests: 1000, perMs: 1000 },
      ...(options.simulateDeals === true ? { simulateDeals: { share: DEMO_DEAL_SHARE } } : {}),
    }),
    { clock: deps.clock },
  );
  return { crm, sinks: [createCrmSuppressionSink(crm)] };
}

/** Publishes CRM changes on contact.changed; the message id `source:eventId` makes a redelivery a duplicate. */
export function createContactChangePublisher(
  bus: Pick<Bus, 'publish'>,
): (changes: CrmContactChange[]) => Promise<{ accepted: number; duplicates: number }> {
  return async (changes) => {
    const byId = new Map(changes.map((c) => [`${c.source}:${c.eventId}`, c]));
    const messages = [...byId].map(([id, payload]) => ({ id, key: payload.crmId, payload }));
    const { published, duplicates } = await publishTo(bus, TOPICS.contactChanged, messages);
    return { accepted: published, duplicates: duplicates + (changes.length - byId.size) };
  };
}
