/**
 * The HubSpot CRM adapter (private-app token): contacts by batch read (100 per call, keyed by the
 * configured id property), engagement written back by batch update, opt-outs through the v4
 * communication-preferences batch API (unsubscribe from all email; opt-in again by writing
 * SUBSCRIBED to the configured subscription type), follow-up tasks as task objects associated
 * with the contact, journey field updates by one PATCH keyed by the id property. Every request
 * goes through the client (shared rate limit, 429 hold-off, error mapping). A vendor error about
 * one record fails that record only (`failed`). Engagement never regresses: the current value is
 * read first, in the same call.
 */
import type { Clock } from '../../../clock/port.ts';
import { SwitchyardError } from '../../../core/errors.ts';
import type { Db } from '../../../store/port.ts';
import { isSwitchyardError } from '../../../core/errors.ts';
import type { Crm, CrmRecord, CrmRecordFailure, EngagementUpdate, OptOutItem } from '../port.ts';
import type { SharedRateLimiter } from '../shared-rate-limit.ts';
import { createHubspotClient, type HubspotClient, type HubspotUsage } from './client.ts';
import { type HubspotOAuth, oauthHubspotAccess, staticHubspotAccess } from './oauth.ts';
import { readHubspotDealChanges, readHubspotDeals } from './deals.ts';
import {
  batchErrors,
  batchReadBody,
  DEFAULT_PROPERTIES,
  failuresFor,
  type HubspotObject,
  type HubspotPropertyMap,
  matchResults,
  parseHubspotTime,
  resultsOf,
  toCrmRecord,
} from './contacts.ts';
import { checkFields, checkOptOut, checkTask, latestEngagementPerContact } from '../input-checks.ts';
import { claimTaskKey, selectTaskKey } from '../task-keys.ts';

export const HUBSPOT_BATCH_SIZE = 100;
/** HubSpot-defined association type: task → contact. */
const TASK_TO_CONTACT = 204;

export interface HubspotCrmOptions {
  /** A private-app token; or `oauth`, an OAuth app's client and refresh token (exactly one of them). */
  token?: string;
  oauth?: HubspotOAuth;
  baseUrl: string;
  properties?: Partial<HubspotPropertyMap>;
  /** Subscription type written SUBSCRIBED when a contact opts in again; without it opt-ins fail. */
  subscriptionId?: number;
  /** The request budget this adapter declares (requests per `perMs`) for the batcher. */
  rateLimit: { requests: number; perMs: number };
  fetch?: typeof fetch;
  maxAttempts?: number;
  /** Internal name of the deal stage that means won; default 'closedwon' (the default pipeline). */
  wonStage?: string;
  /** Currency of deals without deal_currency_code; default usd. */
  dealCurrency?: string;
}

export interface HubspotCrm extends Crm {
  /** Rate-limit figures from HubSpot's response headers and this process's counts (for /metrics). */
  usage(): HubspotUsage;
}

export function createHubspotCrm(
  deps: {
    db: Db;
    clock: Clock;
    limiter: SharedRateLimiter;
    /** The CRM Search API's own budget (4 requests/s per token, connectors.md), taken before each search. */
    searchLimiter?: SharedRateLimiter;
  },
  options: HubspotCrmOptions,
): HubspotCrm {
  const map: HubspotPropertyMap = { ...DEFAULT_PROPERTIES, ...options.properties };
  if ((options.token === undefined) === (options.oauth === undefined))
    throw new SwitchyardError(
      'CONFIG_INVALID',
      'HubSpot needs exactly one of a private-app token and OAuth app credentials',
    );
  const access =
    options.oauth === undefined
      ? staticHubspotAccess(options.token as string)
      : oauthHubspotAccess(options.oauth, {
          baseUrl: options.baseUrl,
          clock: deps.clock,
          ...(options.fetch ? { fetch: options.fetch } : {}),
        });
  const client: HubspotClient = createHubspotClient({
    access,
    baseUrl: options.baseUrl,
    limiter: deps.limiter,
    clock: deps.clock,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
  });

  const searchLimiter = deps.searchLimiter;
  const dealOptions = {
    wonStage: options.wonStage ?? 'closedwon',
    currency: options.dealCurrency ?? 'usd',
    idProperty: map.idProperty,
    ...(searchLimiter ? { beforeSearch: () => searchLimiter.acquire() } : {}),
  };

  function checkSize(method: string, n: number): void {
    if (n > HUBSPOT_BATCH_SIZE)
      throw new SwitchyardError('VALIDATION_FAILED', `HubSpot ${method}: ${n} items exceed ${HUBSPOT_BATCH_SIZE}`);
  }

  async function read(ids: readonly string[]): Promise<Map<string, HubspotObject>> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return new Map();
    const res = await client.send('POST', '/crm/v3/objects/contacts/batch/read', batchReadBody(unique, map));
    return matchResults(unique, resultsOf(res.body), map);
  }

  return {
    name: 'hubspot',
    maxBatchSize: HUBSPOT_BATCH_SIZE,
    rateLimit: options.rateLimit,
    usage: () => client.usage(),

    async lookup(ids) {
      checkSize('lookup', ids.length);
      const found = await read(ids);
      const out = new Map<string, CrmRecord>();
      for (const [id, obj] of found) out.set(id, toCrmRecord(id, obj, map));
      return out;
    },

    async updateEngagement(updates) {
      checkSize('updateEngagement', updates.length);
      const latest = latestEngagementPerContact(updates);
      const found = await read([...latest.keys()]);
      const inputs: { id: string; properties: Record<string, string> }[] = [];
      const byCrmId = new Map<string, string>();
      for (const [contactId, obj] of found) {
        const u = latest.get(contactId) as EngagementUpdate;
        const stored = parseHubspotTime(obj.properties?.[map.lastEngagedAt]);
        if (stored !== undefined && stored > u.lastEngagedAt) continue; // never regress
        byCrmId.set(obj.id, contactId);
        inputs.push({
          id: obj.id,
          properties: {
            [map.engagementScore]: String(u.score),
            [map.lastEngagedAt]: u.lastEngagedAt.toISOString(),
          },
        });
      }
      if (inputs.length === 0) return { updated: found.size };
      const res = await client.send('POST', '/crm/v3/objects/contacts/batch/update', { inputs });
      const failed = failuresFor(batchErrors(res.body), (id) => byCrmId.get(id));
      const written = new Set(resultsOf(res.body).map((r) => byCrmId.get(r.id)));
      for (const contactId of byCrmId.values()) {
        if (!written.has(contactId) && !failed.some((f) => f.key === contactId))
          failed.push({ key: contactId, message: 'HubSpot returned no result for this contact' });
      }
      return { updated: found.size - failed.length, ...(failed.length > 0 ? { failed } : {}) };
    },

    async eraseContacts(emails) {
      checkSize('eraseContacts', emails.length);
      const erased: string[] = [];
      const notFound: string[] = [];
      const failed: CrmRecordFailure[] = [];
      // HubSpot's GDPR delete takes one contact per request, keyed by email; 404 = nobody holds it
      for (const email of new Set(emails.map((e) => e.trim().toLowerCase()))) {
        const status = await client
          .send('POST', '/crm/v3/objects/contacts/gdpr-delete', { objectId: email, idProperty: 'email' })
          .then(
            (res) => res.status,
            (err: unknown) => {
              // the client turns a 404 into VALIDATION_FAILED; here it is the answer "nobody holds it"
              if (isSwitchyardError(err) && err.details?.status === 404) return 404;
              throw err;
            },
          );
        if (status === 404) notFound.push(email);
        else if (status >= 200 && status < 300) erased.push(email);
        else failed.push({ key: email, message: `HubSpot answered ${status}` });
      }
      return { erased, notFound, ...(failed.length > 0 ? { failed } : {}) };
    },
    async setOptOut(items) {
      checkSize('setOptOut', items.length);
      for (const item of items) checkOptOut(item);
      const last = new Map<string, OptOutItem>();
      for (const item of items) last.set(item.email.trim().toLowerCase(), item);
      const outs = [...last].filter(([, i]) => i.optedOut).map(([email]) => email);
      const ins = [...last].filter(([, i]) => !i.optedOut);
      const done = new Set<string>();
      const failed: CrmRecordFailure[] = [];
      if (outs.length > 0) {
        const res = await client.send(
          'POST',
          '/communication-preferences/v4/statuses/batch/unsubscribe-all?channel=EMAIL',
          { inputs: outs },
        );
        collect(res.body, done, failed);
      }
      if (ins.length > 0 && options.subscriptionId === undefined) {
        for (const [email] of ins)
          failed.push({ key: email, message: 'opting in needs SWITCHYARD_HUBSPOT_SUBSCRIPTION_ID' });
      } else if (ins.length > 0) {
        const res = await client.send('POST', '/communication-preferences/v4/statuses/batch/write', {
          inputs: ins.map(([email, i]) => ({
            subscriberIdString: email,
            channel: 'EMAIL',
            statusState: 'SUBSCRIBED',
            subscriptionId: options.subscriptionId,
            legalBasis: 'CONSENT_WITH_NOTICE',
            legalBasisExplanation: i.reason,
          })),
        });
        collect(res.body, done, failed);
      }
      // confirmed and failed speak the emails as the caller gave them, in the caller's order
      const given = (email: string): string[] =>
        items.filter((i) => i.email.trim().toLowerCase() === email).map((i) => i.email);
      const confirmed = items.filter((i) => done.has(i.email.trim().toLowerCase())).map((i) => i.email);
      const failures = failed.flatMap((f) => given(f.key).map((key) => ({ key, message: f.message })));
      return { confirmed, ...(failures.length > 0 ? { failed: failures } : {}) };
    },

    async updateFields(update) {
      checkFields(update);
      // one PATCH keyed by our id property (HubSpot resolves it); properties are strings, '' clears
      const properties = Object.fromEntries(
        Object.entries(update.fields).map(([k, v]) => [k, v === null ? '' : String(v)]),
      );
      const id = encodeURIComponent(update.contactId);
      const query = map.idProperty === 'hs_object_id' ? '' : `?idProperty=${encodeURIComponent(map.idProperty)}`;
      return client.send('PATCH', `/crm/v3/objects/contacts/${id}${query}`, { properties }).then(
        () => ({ updated: true }),
        (err: unknown) => {
          // the client turns a 404 into VALIDATION_FAILED; here it means HubSpot has no such contact
          if (isSwitchyardError(err) && err.details?.status === 404) return { updated: false };
          throw err;
        },
      );
    },

    async createTask(task) {
      checkTask(task);
      if (task.dedupeKey !== undefined) {
        const known = await selectTaskKey(deps.db, 'hubspot', task.dedupeKey);
        if (known !== undefined) return { id: known };
      }
      const contact = (await read([task.contactId])).get(task.contactId);
      if (contact === undefined)
        throw new SwitchyardError('VALIDATION_FAILED', `HubSpot has no contact ${task.contactId} to attach a task to`);
      const owner = contact.properties?.[map.owner];
      const res = await client.send('POST', '/crm/v3/objects/tasks', {
        properties: {
          hs_timestamp: deps.clock.now().toISOString(),
          hs_task_subject: `[${task.kind}] ${task.title}`,
          hs_task_body: task.body,
          hs_task_status: 'NOT_STARTED',
          hs_task_type: 'TODO',
          ...(owner ? { hubspot_owner_id: owner } : {}),
        },
        associations: [
          {
            to: { id: contact.id },
            types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: TASK_TO_CONTACT }],
          },
        ],
      });
      const id = (res.body as { id?: unknown } | undefined)?.id;
      if (typeof id !== 'string' && typeof id !== 'number')
        throw new SwitchyardError('CRM_UNAVAILABLE', 'HubSpot created a task but returned no id', { retryable: true });
      if (task.dedupeKey === undefined) return { id: String(id) };
      const winner = await claimTaskKey(deps.db, 'hubspot', task.dedupeKey, String(id), deps.clock.now());
      // a concurrent twin got the key first: remove our copy so the owner sees one task
      if (winner !== String(id)) await client.send('DELETE', `/crm/v3/objects/tasks/${encodeURIComponent(String(id))}`);
      return { id: winner };
    },
    readClosedWonDeals(o) {
      return readHubspotDeals(client, dealOptions, o);
    },
    readChangedDeals(o) {
      return readHubspotDealChanges(client, dealOptions, o);
    },
  };
}

function collect(body: unknown, done: Set<string>, failed: CrmRecordFailure[]): void {
  for (const r of (body as { results?: { subscriberIdString?: unknown }[] } | undefined)?.results ?? []) {
    if (typeof r?.subscriberIdString === 'string') done.add(r.subscriberIdString.trim().toLowerCase());
  }
  failed.push(...failuresFor(batchErrors(body), (k) => (done.has(k.toLowerCase()) ? undefined : k.toLowerCase())));
}
