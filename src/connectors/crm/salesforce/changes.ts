/**
 * Changes in from Salesforce without CDC: polls Contact by `SystemModstamp` with a keyset
 * (ORDER BY SystemModstamp, Id; strictly after the last (stamp, Id) taken), so records sharing a
 * stamp are never skipped or read twice across pages, and deletes through queryAll with
 * IsDeleted = true. Each page is published as contact changes (the shape HubSpot webhooks give)
 * before its watermark is saved in the store, so a crash repeats at most one page (the bus
 * recognises the repeat by event id) and a restart resumes where the last poll stopped.
 */
import type { Clock } from '../../../clock/port.ts';
import type { SwitchyardError } from '../../../core/errors.ts';
import type { Db } from '../../../store/port.ts';
import type { CrmContactChange } from '../port.ts';
import type { SalesforceClient } from './client.ts';
import { saveWatermark, selectWatermark, type Watermark } from './queries.ts';
import {
  changeProperties,
  parseSalesforceTime,
  type SalesforceFieldMap,
  type SalesforceRecord,
  selectFields,
} from './records.ts';
import { dateTime, quote } from './soql.ts';

export interface ChangePollerOptions {
  /** Time between polls when the last one found nothing new. */
  intervalMs: number;
  /** Records per query (LIMIT); Salesforce pages beyond 2 000 anyway. */
  pageSize?: number;
  /** Where a stream without a saved watermark starts; default: the time of the first poll. */
  startAt?: Date;
  /** Names this org's watermarks in the store (several orgs may share one store); default 'salesforce'. */
  name?: string;
}

export interface ChangePoller {
  /** Reads and publishes every change since the watermarks; resolves to how many were published. */
  pollOnce(): Promise<number>;
  /** Polls until the signal aborts; a failed poll is logged and tried again after its hold-off. */
  run(signal: AbortSignal): Promise<void>;
}

type Stream = 'updates' | 'deletes';

export function createSalesforceChangePoller(
  deps: {
    db: Db;
    clock: Clock;
    crm: { client: SalesforceClient; fields: SalesforceFieldMap };
    publish: (changes: CrmContactChange[]) => Promise<unknown>;
    log?: { warn(obj: object, msg: string): void };
  },
  options: ChangePollerOptions,
): ChangePoller {
  const { db, clock, crm } = deps;
  const pageSize = options.pageSize ?? 200;
  const fields = [...new Set([...selectFields(crm.fields), 'SystemModstamp', 'CreatedDate'])];

  async function watermark(stream: string): Promise<Watermark> {
    const saved = await selectWatermark(db, stream);
    if (saved !== undefined) return saved;
    const start = { modstamp: options.startAt ?? clock.now(), lastId: '' };
    await saveWatermark(db, stream, start, clock.now());
    return start;
  }

  function soql(kind: Stream, wm: Watermark): string {
    const stamp = dateTime(wm.modstamp);
    // a fresh watermark has no Id yet, and SOQL refuses '' where an Id is expected
    const after =
      wm.lastId === ''
        ? `SystemModstamp >= ${stamp}`
        : `(SystemModstamp > ${stamp} OR (SystemModstamp = ${stamp} AND Id > ${quote(wm.lastId)}))`;
    return (
      `SELECT ${fields.join(', ')} FROM Contact WHERE ${kind === 'deletes' ? 'IsDeleted = true AND ' : ''}${after}`
      + ` ORDER BY SystemModstamp, Id LIMIT ${pageSize}`
    );
  }

  function toChange(kind: Stream, r: SalesforceRecord): CrmContactChange | undefined {
    const stamp = parseSalesforceTime(r.SystemModstamp);
    if (stamp === undefined) return undefined;
    const contactId = r[crm.fields.idField];
    const created = kind === 'updates' && r.CreatedDate === r.SystemModstamp;
    return {
      source: 'salesforce',
      eventId: `${r.Id}@${stamp.toISOString()}${kind === 'deletes' ? ':deleted' : ''}`,
      kind: kind === 'deletes' ? 'deleted' : created ? 'created' : 'updated',
      crmId: r.Id,
      ...(typeof contactId === 'string' && contactId !== '' ? { contactId } : {}),
      properties: kind === 'deletes' ? {} : changeProperties(r, crm.fields),
      occurredAt: stamp.toISOString(),
    };
  }

  async function drain(kind: Stream): Promise<number> {
    const stream = `${options.name ?? 'salesforce'}:Contact:${kind}`;
    let published = 0;
    for (;;) {
      const wm = await watermark(stream);
      const records = await crm.client.query<SalesforceRecord>(soql(kind, wm), kind === 'deletes');
      if (records.length === 0) return published;
      const changes = records.map((r) => toChange(kind, r)).filter((c) => c !== undefined);
      if (changes.length > 0) await deps.publish(changes);
      published += changes.length;
      const last = records.at(-1) as SalesforceRecord;
      const lastStamp = parseSalesforceTime(last.SystemModstamp) ?? wm.modstamp;
      await saveWatermark(db, stream, { modstamp: lastStamp, lastId: last.Id }, clock.now());
      if (records.length < pageSize) return published;
    }
  }

  async function pollOnce(): Promise<number> {
    return (await drain('updates')) + (await drain('deletes'));
  }

  return {
    pollOnce,
    async run(signal) {
      while (!signal.aborted) {
        let waitMs = options.intervalMs;
        try {
          await pollOnce();
        } catch (err) {
          const e = err as Partial<SwitchyardError>;
          if (typeof e.retryAfterMs === 'number') waitMs = Math.max(waitMs, e.retryAfterMs);
          if (!signal.aborted) deps.log?.warn({ err }, 'Salesforce change poll failed; will retry');
        }
        await clock.sleep(waitMs, signal).catch(() => undefined);
      }
    },
  };
}
