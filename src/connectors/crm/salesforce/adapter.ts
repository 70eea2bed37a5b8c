/**
 * The Salesforce CRM adapter (connected app, OAuth client-credentials or JWT bearer): contacts by
 * SOQL look-up on the configured id field (chunked so each request-URI stays short), engagement
 * written back through sObject Collections (200 records per call, allOrNone=false), opt-outs as
 * `HasOptedOutOfEmail` on every Contact and unconverted Lead with the address, follow-up tasks as
 * Task records on the contact, journey field updates by PATCH of the Contact found by SOQL. Every
 * request goes through the client (shared rate limit, daily budget, token refresh, error mapping).
 * A vendor error about one record fails that record only. Engagement never regresses: the current
 * value is read first.
 */
import type { Clock } from '../../../clock/port.ts';
import { isSwitchyardError, SwitchyardError } from '../../../core/errors.ts';
import type { Db } from '../../../store/port.ts';
import type { Crm, CrmRecord, CrmRecordFailure, EngagementUpdate, OptOutItem } from '../port.ts';
import type { SharedRateLimiter } from '../shared-rate-limit.ts';
import type { SalesforceCredentials } from './auth.ts';
import { createSalesforceClient, type SalesforceClient, type SalesforceUsage } from './client.ts';
import { checkFields, checkOptOut, checkTask, latestEngagementPerContact } from '../input-checks.ts';
import { claimTaskKey, selectTaskKey } from '../task-keys.ts';
import {
  DEFAULT_FIELDS,
  keyOf,
  OPT_OUT_FIELD,
  parseSalesforceTime,
  type SalesforceFieldMap,
  type SalesforceRecord,
  saveFailures,
  selectFields,
  toCrmRecord,
} from './records.ts';
import { chunkIn, field } from './soql.ts';
import { readSalesforceDealChanges, readSalesforceDeals } from './deals.ts';

/** sObject Collections take at most 200 records per call. */
export const SALESFORCE_BATCH_SIZE = 200;

export interface SalesforceCrmOptions {
  loginUrl: string;
  instanceUrl?: string;
  apiVersion: string;
  credentials: SalesforceCredentials;
  fields?: Partial<SalesforceFieldMap>;
  /** The request budget this adapter declares (requests per `perMs`) for the batcher. */
  rateLimit: { requests: number; perMs: number };
  usageThreshold?: number;
  throttleHoldMs?: number;
  fetch?: typeof fetch;
  /** Currency of Opportunity amounts (single-currency orgs record none); default usd. */
  dealCurrency?: string;
}

export interface SalesforceCrm extends Crm {
  /** Daily-allocation figures from Sforce-Limit-Info and this process's counts (for /metrics). */
  usage(): SalesforceUsage;
  readonly client: SalesforceClient;
  readonly fields: SalesforceFieldMap;
}

export function createSalesforceCrm(
  deps: { db: Db; clock: Clock; limiter: SharedRateLimiter },
  options: SalesforceCrmOptions,
): SalesforceCrm {
  const map: SalesforceFieldMap = { ...DEFAULT_FIELDS, ...options.fields };
  selectFields(map); // refuses a malformed field name at start-up, not at the first call
  const client = createSalesforceClient({
    loginUrl: options.loginUrl,
    ...(options.instanceUrl ? { instanceUrl: options.instanceUrl } : {}),
    apiVersion: options.apiVersion,
    credentials: options.credentials,
    limiter: deps.limiter,
    clock: deps.clock,
    ...(options.usageThreshold === undefined ? {} : { usageThreshold: options.usageThreshold }),
    ...(options.throttleHoldMs === undefined ? {} : { throttleHoldMs: options.throttleHoldMs }),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const queryPath = `${client.dataPath}/query?q=`;
  const dealReader = {
    query: (soql: string) => client.query<Record<string, unknown>>(soql),
    queryPath,
    map,
    currency: options.dealCurrency ?? 'usd',
  };

  function checkSize(method: string, n: number): void {
    if (n > SALESFORCE_BATCH_SIZE)
      throw new SwitchyardError(
        'VALIDATION_FAILED',
        `Salesforce ${method}: ${n} items exceed ${SALESFORCE_BATCH_SIZE}`,
      );
  }

  /** Records whose `where` field is one of `values`, by that value (lower-cased for emails). */
  async function select(
    object: 'Contact' | 'Lead',
    where: string,
    values: readonly string[],
    fields: string[],
    extra = '',
  ): Promise<SalesforceRecord[]> {
    const soqls = chunkIn(
      values,
      queryPath,
      (list) => `SELECT ${fields.join(', ')} FROM ${object} WHERE ${field(where)} IN (${list})${extra}`,
    );
    const out: SalesforceRecord[] = [];
    for (const soql of soqls) out.push(...(await client.query<SalesforceRecord>(soql)));
    return out;
  }

  async function read(ids: readonly string[]): Promise<Map<string, SalesforceRecord>> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return new Map();
    const records = await select('Contact', map.idField, unique, selectFields(map));
    const byKey = new Map<string, SalesforceRecord>();
    for (const r of records) {
      const own = r[map.idField];
      if (typeof own === 'string' && own !== '') byKey.set(keyOf(own, map), r);
    }
    const out = new Map<string, SalesforceRecord>();
    for (const id of unique) {
      const hit = byKey.get(keyOf(id, map));
      if (hit !== undefined) out.set(id, hit);
    }
    return out;
  }

  /** PATCH /composite/sobjects in calls of 200; failures keyed by the caller's key of each record. */
  async function update(
    records: { key: string; type: string; id: string; values: Record<string, unknown> }[],
  ): Promise<CrmRecordFailure[]> {
    const failed: CrmRecordFailure[] = [];
    for (let i = 0; i < records.length; i += SALESFORCE_BATCH_SIZE) {
      const chunk = records.slice(i, i + SALESFORCE_BATCH_SIZE);
      const res = await client.send('PATCH', `${client.dataPath}/composite/sobjects`, {
        allOrNone: false,
        records: chunk.map((r) => ({ attributes: { type: r.type }, id: r.id, ...r.values })),
      });
      failed.push(...saveFailures(res.body, chunk.length, (j) => (chunk[j] as { key: string }).key));
    }
    return failed;
  }

  return {
    name: 'salesforce',
    maxBatchSize: SALESFORCE_BATCH_SIZE,
    rateLimit: options.rateLimit,
    client,
    fields: map,
    usage: () => client.usage(),

    async lookup(ids) {
      checkSize('lookup', ids.length);
      const found = await read(ids);
      const out = new Map<string, CrmRecord>();
      for (const [id, r] of found) out.set(id, toCrmRecord(id, r, map));
      return out;
    },

    async updateEngagement(updates) {
      checkSize('updateEngagement', updates.length);
      const latest = latestEngagementPerContact(updates);
      const found = await read([...latest.keys()]);
      const writes: Parameters<typeof update>[0] = [];
      for (const [contactId, r] of found) {
        const u = latest.get(contactId) as EngagementUpdate;
        const stored = parseSalesforceTime(r[map.lastEngagedAt]);
        if (stored !== undefined && stored > u.lastEngagedAt) continue; // never regress
        writes.push({
          key: contactId,
          type: 'Contact',
          id: r.Id,
          values: { [map.engagementScore]: u.score, [map.lastEngagedAt]: u.lastEngagedAt.toISOString() },
        });
      }
      const failed = writes.length === 0 ? [] : await update(writes);
      return { updated: found.size - failed.length, ...(failed.length > 0 ? { failed } : {}) };
    },

    async eraseContacts(emails) {
      checkSize('eraseContacts', emails.length);
      const wanted = [...new Set(emails.map((e) => e.trim().toLowerCase()))];
      const people = [
        ...(await select('Contact', 'Email', wanted, ['Id', 'Email'])),
        ...(await select('Lead', 'Email', wanted, ['Id', 'Email'], ' AND IsConverted = false')),
      ];
      const byId = new Map(
        people.map((r) => [
          r.Id,
          String(r.Email ?? '')
            .trim()
            .toLowerCase(),
        ]),
      );
      const failed: CrmRecordFailure[] = [];
      const ids = [...byId.keys()];
      // sObject Collections delete: up to 200 ids per call, each answered on its own
      for (let i = 0; i < ids.length; i += SALESFORCE_BATCH_SIZE) {
        const chunk = ids.slice(i, i + SALESFORCE_BATCH_SIZE);
        const res = await client.send(
          'DELETE',
          `${client.dataPath}/composite/sobjects?ids=${chunk.join(',')}&allOrNone=false`,
        );
        failed.push(...saveFailures(res.body, chunk.length, (j) => byId.get(chunk[j] as string) as string));
      }
      const bad = new Set(failed.map((f) => f.key));
      const held = new Set(byId.values());
      return {
        erased: wanted.filter((e) => held.has(e) && !bad.has(e)),
        notFound: wanted.filter((e) => !held.has(e)),
        ...(failed.length > 0 ? { failed } : {}),
      };
    },

    async setOptOut(items) {
      checkSize('setOptOut', items.length);
      for (const item of items) checkOptOut(item);
      const last = new Map<string, OptOutItem>();
      for (const item of items) last.set(item.email.trim().toLowerCase(), item);
      const emails = [...last.keys()];
      const fields = ['Id', 'Email', OPT_OUT_FIELD];
      const people = [
        ...(await select('Contact', 'Email', emails, fields)),
        ...(await select('Lead', 'Email', emails, fields, ' AND IsConverted = false')),
      ];
      const writes: Parameters<typeof update>[0] = [];
      for (const r of people) {
        const email = typeof r.Email === 'string' ? r.Email.trim().toLowerCase() : '';
        const wanted = last.get(email);
        if (wanted === undefined || r[OPT_OUT_FIELD] === wanted.optedOut) continue; // already so
        writes.push({
          key: email,
          type: r.attributes?.type ?? 'Contact',
          id: r.Id,
          values: { [OPT_OUT_FIELD]: wanted.optedOut },
        });
      }
      // an address no record holds cannot be mailed from the CRM: confirmed as it stands
      const refused = writes.length === 0 ? [] : await update(writes);
      const failedEmails = new Map<string, string>();
      for (const f of refused) if (!failedEmails.has(f.key)) failedEmails.set(f.key, f.message);
      const norm = (e: string): string => e.trim().toLowerCase();
      const confirmed = items.filter((i) => !failedEmails.has(norm(i.email))).map((i) => i.email);
      const failed = items
        .filter((i) => failedEmails.has(norm(i.email)))
        .map((i) => ({ key: i.email, message: failedEmails.get(norm(i.email)) as string }));
      return { confirmed, ...(failed.length > 0 ? { failed } : {}) };
    },

    async updateFields(update) {
      checkFields(update);
      const contact = (await read([update.contactId])).get(update.contactId);
      if (contact === undefined) return { updated: false };
      return client
        .send('PATCH', `${client.dataPath}/sobjects/Contact/${encodeURIComponent(contact.Id)}`, update.fields)
        .then(
          () => ({ updated: true }),
          (err: unknown) => {
            // deleted between the look-up and the write: the contact is no longer known
            if (isSwitchyardError(err) && err.details?.status === 404) return { updated: false };
            throw err;
          },
        );
    },

    async createTask(task) {
      checkTask(task);
      if (task.dedupeKey !== undefined) {
        const known = await selectTaskKey(deps.db, 'salesforce', task.dedupeKey);
        if (known !== undefined) return { id: known };
      }
      const contact = (await read([task.contactId])).get(task.contactId);
      if (contact === undefined)
        throw new SwitchyardError(
          'VALIDATION_FAILED',
          `Salesforce has no contact ${task.contactId} to attach a task to`,
        );
      const owner = contact[map.owner];
      const res = await client.send('POST', `${client.dataPath}/sobjects/Task`, {
        Subject: `[${task.kind}] ${task.title}`.slice(0, 255),
        Description: task.body,
        WhoId: contact.Id,
        Status: 'Not Started',
        Priority: 'Normal',
        ActivityDate: deps.clock.now().toISOString().slice(0, 10),
        ...(map.owner === 'OwnerId' && typeof owner === 'string' && owner !== '' ? { OwnerId: owner } : {}),
      });
      const id = (res.body as { id?: unknown } | undefined)?.id;
      if (typeof id !== 'string')
        throw new SwitchyardError('CRM_UNAVAILABLE', 'Salesforce created a task but returned no id', {
          retryable: true,
        });
      if (task.dedupeKey === undefined) return { id };
      const winner = await claimTaskKey(deps.db, 'salesforce', task.dedupeKey, id, deps.clock.now());
      // a concurrent twin got the key first: remove our copy so the owner sees one task
      if (winner !== id) await client.send('DELETE', `${client.dataPath}/sobjects/Task/${encodeURIComponent(id)}`);
      return { id: winner };
    },
    readClosedWonDeals(o) {
      return readSalesforceDeals(dealReader, o);
    },
    readChangedDeals(o) {
      return readSalesforceDealChanges(dealReader, o);
    },
  };
}
