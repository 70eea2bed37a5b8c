/**
 * The demo CRM: a stand-in CRM for `npm start`, demos and benchmarks, stored in demo_crm_*
 * tables of the Switchyard store. Account status, tier and owner are derived from the contact id
 * (same id, same account, every run); about 3% of ids are deliberately unknown so callers meet
 * the "missing ids are absent" case. Engagement scores, opt-outs, fields and tasks are real rows.
 * `latencyMs` and `failRate` simulate a slow or flaky vendor on the injected clock; failures are
 * drawn from a seeded sequence, so a run is reproducible. Never used to test a real adapter.
 */
import type { Clock } from '../../../clock/port.ts';
import { SwitchyardError } from '../../../core/errors.ts';
import type { Db } from '../../../store/port.ts';
import type { Crm, CrmDeal, CrmRecord, CrmTask, EngagementUpdate } from '../port.ts';
import { decodeDealCursor, encodeDealCursor } from '../deal-cursor.ts';
import { checkEngagement, checkFields, checkOptOut } from '../input-checks.ts';
import {
  DEMO_CRM_SCHEMA,
  type DemoDeal,
  eraseByEmail,
  insertContactDeals,
  insertTask,
  selectAccounts,
  selectChangedDeals,
  selectDeals,
  upsertEngagement,
  upsertFields,
  upsertOptOuts,
} from './queries.ts';

export interface DemoCrmDeps {
  db: Db;
  clock: Clock;
}

export interface DemoCrmOptions {
  /** Simulated time per request on the clock; default 0. */
  latencyMs?: number;
  /** Share of requests that fail with CRM_UNAVAILABLE before doing anything, 0…1; default 0. */
  failRate?: number;
  /** Seed of the failure sequence; default 1. */
  seed?: number;
  /** Default 100 (like HubSpot's batch endpoints). */
  maxBatchSize?: number;
  /** Default 80 requests / 10 s (80% of HubSpot's smallest burst limit). */
  rateLimit?: { requests: number; perMs: number };
  /**
   * Closes simulated won deals, so attribution has revenue to credit in the demo workspace: a
   * contact whose engagement score reaches `minScore` (default 25, about one click) closes one deal
   * with a chance of `share` (drawn from the contact id and seed, so the same contacts every run), at
   * the time of the update, worth a year of its tier's plan. Off by default.
   */
  simulateDeals?: { share: number; minScore?: number };
}

/** A year of the demo plans, in cents, by account tier. */
const DEAL_AMOUNT_MINOR: Record<string, number> = { smb: 120_000, 'mid-market': 960_000, enterprise: 4_800_000 };

/** Creates the demo CRM's tables if they are missing (idempotent; not a migration). */
export async function ensureDemoCrmSchema(db: Db): Promise<void> {
  await db.exec(DEMO_CRM_SCHEMA);
}

const STATUSES: [string, number][] = [
  ['prospect', 20],
  ['trial', 15],
  ['customer', 55],
  ['churned', 10],
];
const TIERS: [string, number][] = [
  ['smb', 60],
  ['mid-market', 30],
  ['enterprise', 10],
];
const STATUS_WEIGHT = totalWeight(STATUSES);
const TIER_WEIGHT = totalWeight(TIERS);
const OWNERS = [
  { id: 'own_1', name: 'Alex Rivera', email: 'alex.rivera@crm.example.com' },
  { id: 'own_2', name: 'Sam Okafor', email: 'sam.okafor@crm.example.com' },
  { id: 'own_3', name: 'Mia Lindqvist', email: 'mia.lindqvist@crm.example.com' },
  { id: 'own_4', name: 'Jordan Chen', email: 'jordan.chen@crm.example.com' },
  { id: 'own_5', name: 'Priya Nair', email: 'priya.nair@crm.example.com' },
];
const UNKNOWN_PERCENT = 3;

export function createDemoCrm(deps: DemoCrmDeps, options: DemoCrmOptions = {}): Crm {
  const { db, clock } = deps;
  const latencyMs = options.latencyMs ?? 0;
  const failRate = options.failRate ?? 0;
  const seed = options.seed ?? 1;
  const maxBatchSize = options.maxBatchSize ?? 100;
  if (!(failRate >= 0 && failRate <= 1))
    throw new SwitchyardError('VALIDATION_FAILED', `failRate must be within 0…1, got ${failRate}`);
  let requestCount = 0;

  /** Simulates the round trip: latency on the clock, then maybe a vendor failure. */
  async function request(method: string, items: number): Promise<void> {
    if (items > maxBatchSize)
      throw new SwitchyardError(
        'VALIDATION_FAILED',
        `demo CRM ${method}: ${items} items exceed maxBatchSize ${maxBatchSize}`,
      );
    requestCount += 1;
    if (latencyMs > 0) await clock.sleep(latencyMs);
    if (failRate > 0 && hashUnit(`${seed}:${requestCount}`) < failRate) {
      throw new SwitchyardError(
        'CRM_UNAVAILABLE',
        `demo CRM ${method} failed (simulated outage, request ${requestCount})`,
        { retryable: true, details: { simulated: true } },
      );
    }
  }

  return {
    name: 'demo',
    maxBatchSize,
    rateLimit: options.rateLimit ?? { requests: 80, perMs: 10_000 },

    async lookup(ids) {
      await request('lookup', ids.length);
      const known = [...new Set(ids)].filter(isKnownContact);
      const state = new Map((await selectAccounts(db, known)).map((a) => [a.contactId, a]));
      return new Map(known.map((id) => [id, toCrmRecord(id, state.get(id))]));
    },

    async updateEngagement(updates) {
      await request('updateEngagement', updates.length);
      const latest = new Map<string, EngagementUpdate>();
      for (const u of updates) {
        checkEngagement(u);
        const seen = latest.get(u.contactId);
        if (seen === undefined || seen.lastEngagedAt <= u.lastEngagedAt) latest.set(u.contactId, u);
      }
      const known = [...latest.values()].filter((u) => isKnownContact(u.contactId));
      if (known.length > 0) await upsertEngagement(db, known, clock.now());
      const deals = options.simulateDeals;
      if (deals !== undefined) {
        const minScore = deals.minScore ?? 25;
        const won = known.filter((u) => u.score >= minScore && hashUnit(`deal:${seed}:${u.contactId}`) < deals.share);
        if (won.length > 0) {
          const amounts = won.map((u) => ({
            contactId: u.contactId,
            amountMinor: DEAL_AMOUNT_MINOR[tierOf(u.contactId)] ?? 0,
          }));
          await insertContactDeals(db, amounts, 'usd', clock.now());
        }
      }
      return { updated: known.length };
    },

    async setOptOut(items) {
      await request('setOptOut', items.length);
      const byEmail = new Map<string, { email: string; contactId: string | null; optedOut: boolean; reason: string }>();
      const byContact = new Map<string, { contactId: string; optedOut: boolean }>();
      for (const item of items) {
        checkOptOut(item);
        const email = item.email.trim().toLowerCase();
        byEmail.set(email, { email, contactId: item.contactId ?? null, optedOut: item.optedOut, reason: item.reason });
        if (item.contactId !== undefined)
          byContact.set(item.contactId, { contactId: item.contactId, optedOut: item.optedOut });
      }
      if (byEmail.size > 0) {
        await db.transaction((tx) => upsertOptOuts(tx, [...byEmail.values()], [...byContact.values()], clock.now()));
      }
      return { confirmed: items.map((i) => i.email) };
    },

    async eraseContacts(emails) {
      await request('eraseContacts', emails.length);
      const wanted = [...new Set(emails.map((e) => e.trim().toLowerCase()))];
      const erased = await db.transaction((tx) => eraseByEmail(tx, wanted));
      const hit = new Set(erased);
      return { erased, notFound: wanted.filter((e) => !hit.has(e)) };
    },

    async updateFields(update) {
      checkFields(update);
      await request('updateFields', 1);
      if (!isKnownContact(update.contactId)) return { updated: false };
      await upsertFields(db, update.contactId, update.fields, clock.now());
      return { updated: true };
    },

    async createTask(task: CrmTask) {
      await request('createTask', 1);
      if (!isKnownContact(task.contactId))
        throw new SwitchyardError('VALIDATION_FAILED', `demo CRM has no contact ${task.contactId} to attach a task to`);
      for (const key of ['kind', 'title'] as const) {
        if (typeof task[key] !== 'string' || task[key].trim() === '')
          throw new SwitchyardError('VALIDATION_FAILED', `task ${key} must be a non-empty string`);
      }
      return { id: await insertTask(db, task, clock.now()) };
    },

    async readClosedWonDeals({ since, after, limit }) {
      await request('readClosedWonDeals', limit);
      const from = decodeDealCursor(after);
      const rows = await selectDeals(db, since, from && { closedAt: new Date(from.closed), id: from.id }, limit);
      const last = rows.at(-1);
      return {
        deals: rows.map(toCrmDeal),
        ...(last === undefined ? {} : { next: encodeDealCursor(last.closedAt.toISOString(), last.id) }),
        more: rows.length === limit,
      };
    },

    async readChangedDeals({ after, until, limit }) {
      await request('readChangedDeals', limit);
      const from = decodeDealCursor(after);
      const rows = await selectChangedDeals(
        db,
        until,
        from && { modifiedAt: new Date(from.closed), id: from.id },
        limit,
      );
      const last = rows.at(-1);
      return {
        changes: rows.map((d) => ({
          dealId: d.id,
          modifiedAt: d.modifiedAt,
          ...(d.won ? { won: toCrmDeal(d) } : {}),
        })),
        ...(last === undefined ? {} : { next: encodeDealCursor(last.modifiedAt.toISOString(), last.id) }),
        more: rows.length === limit,
      };
    },
  };
}

/** False for the ~3% of ids the demo CRM pretends not to know. */
export function isKnownContact(contactId: string): boolean {
  return Math.floor(hashUnit(`known:${contactId}`) * 100) >= UNKNOWN_PERCENT;
}

function toCrmRecord(
  contactId: string,
  state:
    | { engagementScore?: number; lastEngagedAt?: Date; optedOut: boolean; fields: Record<string, unknown> }
    | undefined,
): CrmRecord {
  const owner = OWNERS[Math.floor(hashUnit(`owner:${contactId}`) * OWNERS.length)];
  const status = weighted(STATUSES, STATUS_WEIGHT, hashUnit(`status:${contactId}`));
  const record: CrmRecord = {
    contactId,
    crmId: `demo-${Math.floor(hashUnit(`crm:${contactId}`) * 2 ** 32)
      .toString(16)
      .padStart(8, '0')}`,
    accountStatus: status,
    tier: tierOf(contactId),
    optedOut: state?.optedOut ?? false,
    fields: state === undefined ? { source: 'demo' } : { ...state.fields, source: 'demo' },
  };
  // set only when present (a lookup per blast chunk: no spreads of throwaway objects)
  if (status !== 'prospect' && owner !== undefined) record.owner = owner;
  if (state?.engagementScore !== undefined) record.engagementScore = state.engagementScore;
  if (state?.lastEngagedAt !== undefined) record.lastEngagedAt = state.lastEngagedAt;
  return record;
}

function tierOf(contactId: string): string {
  return weighted(TIERS, TIER_WEIGHT, hashUnit(`tier:${contactId}`));
}

function totalWeight(items: [string, number][]): number {
  return items.reduce((s, [, w]) => s + w, 0);
}

function weighted(items: [string, number][], total: number, u: number): string {
  let target = u * total;
  for (const [name, w] of items) {
    target -= w;
    if (target < 0) return name;
  }
  return items[items.length - 1]?.[0] ?? '';
}

/** FNV-1a over the string, finalised; a uniform number in [0, 1). */
function hashUnit(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) / 4_294_967_296;
}

/** A demo deal as the port gives it (a won one; the row's won and modifiedAt are the store's). */
function toCrmDeal(d: DemoDeal): CrmDeal {
  return {
    dealId: d.id,
    amountMinor: d.amountMinor,
    currency: d.currency,
    closedAt: d.closedAt,
    ...(d.accountId === undefined ? {} : { accountId: d.accountId }),
    dealContactIds: d.dealContactIds,
    accountContactIds: d.accountContactIds,
  };
}
