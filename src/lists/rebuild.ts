/**
 * A full evaluation of one list over every profile, in chunks of contact ids (keyset), recording
 * progress after each chunk so the API and the CLI can show it. Lists without time-relative
 * conditions are evaluated in SQL, set-wise (the compiled predicate inside one statement that
 * writes the membership differences and their history); time-relative ones in memory per chunk,
 * because each contact also needs its next re-check time. Changed contacts then cascade to the
 * lists that read this one, through the same engine as a single change.
 */
import type { Logger } from 'pino';
import type { Outboxed } from '../bus/outbox.ts';
import type { Bus } from '../bus/port.ts';
import { publishSliced, rebuildMessages } from './publish.ts';
import { TOPICS } from '../bus/topics.ts';
import type { Clock } from '../clock/port.ts';
import { compileSql } from '../core/segments/sql.ts';
import type { Db } from '../store/port.ts';
import type { ListCatalog } from './catalog.ts';
import { evaluateLocked, lockForEvaluation } from './engine.ts';
import * as q from './queries.ts';

export interface RebuildDeps {
  db: Db;
  bus: Bus;
  clock: Clock;
  log: Logger;
  catalog: (db: Db) => Promise<ListCatalog>;
}

export const REBUILD_CHUNK = 50_000;

/** Runs a rebuild to the end (or failure, recorded on the list). Returns the transitions made. */
export async function rebuildList(deps: RebuildDeps, listId: string, chunkSize = REBUILD_CHUNK): Promise<number> {
  const { db, clock } = deps;
  const catalog = await deps.catalog(db);
  const list = catalog.lists.get(listId);
  if (list === undefined || list.definition === null) return 0;
  const rebuildId = `${listId}@${clock.now().toISOString()}`;
  const total = await q.profileEstimate(db);
  let done = 0;
  let changed = 0;
  await q.setRebuildState(db, listId, { state: 'running', done, total, changed, at: clock.now(), start: true });
  try {
    const dependents = catalog.withDependents([listId]).filter((id) => id !== listId);
    // a chunk's events are published while the next chunk is evaluated (they are in the outbox
    // already: a failed publish is the relay's to repeat), and all of them before the rebuild ends
    let publishing: Promise<void> = Promise.resolve();
    const publishLater = (outboxed: Outboxed[]) => {
      publishing = publishing.then(() =>
        publishSliced(deps, outboxed).catch((err: unknown) => {
          deps.log.warn({ err, listId }, 'rebuild events left to the outbox relay');
        }),
      );
    };
    // changed contacts cascade one chunk at a time; a reader's events follow the events of what it read
    let cascading: Promise<void> = Promise.resolve();
    const cascadeLater = (changedIds: string[]): Promise<void> => {
      if (changedIds.length === 0 || dependents.length === 0) return Promise.resolve();
      cascading = cascading.then(async () => {
        await publishing;
        await cascade(deps, catalog, changedIds, dependents, rebuildId);
      });
      return cascading;
    };
    if (list.inputs?.timeRelative) {
      let after = '';
      for (;;) {
        const upper = await q.chunkUpperBound(db, after, chunkSize);
        const changedIds = await chunkInMemory(deps, catalog, listId, after, upper, rebuildId);
        changed += changedIds.length;
        await cascadeLater(changedIds);
        done = upper === null ? Math.max(done, total) : done + chunkSize;
        const state = upper === null ? 'done' : 'running';
        await q.setRebuildState(db, listId, { state, done, total, changed, at: clock.now() });
        if (upper === null) break;
        after = upper;
      }
    } else {
      // chunks on REBUILD_LANES connections at once, taken in key order: bounds from the profiles'
      // statistics, then (past them, or without them) from one bound query at a time
      const planned = await q.chunkBoundsFromStatistics(db, chunkSize);
      let after: string | null = '';
      let bounds: Promise<unknown> = Promise.resolve();
      const nextRange = (): Promise<{ after: string; upper: string | null } | null> => {
        const r = bounds.then(async () => {
          if (after === null) return null;
          const from = after;
          const upper = planned.shift() ?? (await q.chunkUpperBound(db, from, chunkSize));
          after = upper;
          return { after: from, upper };
        });
        bounds = r.catch(() => undefined);
        return r;
      };
      let failed = false;
      const lane = async (n: number): Promise<void> => {
        for (;;) {
          const range = failed ? null : await nextRange();
          if (range === null) return;
          const c = await chunkInSql(deps, listId, range, n, rebuildId, clock.now(), catalog, publishLater, chunkSize);
          changed += c.changedIds.length;
          done += chunkSize;
          await cascadeLater(c.changedIds);
        }
      };
      const lanes = await Promise.allSettled(
        Array.from({ length: q.REBUILD_LANES }, (_, n) =>
          lane(n).catch((err: unknown) => {
            failed = true;
            throw err;
          }),
        ),
      );
      for (const l of lanes) if (l.status === 'rejected') throw l.reason;
      done = Math.max(done, total);
      await q.setRebuildState(db, listId, { state: 'done', done, total, changed, at: clock.now() });
    }
    await cascading;
    await publishing;
    return changed;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    deps.log.error({ listId, code: (err as { code?: string }).code }, 'list rebuild failed');
    await q.setRebuildState(db, listId, { state: 'failed', done, total, changed, at: clock.now(), error: message });
    throw err;
  }
}

/**
 * One chunk in SQL, in one transaction (one commit) under its lane's lock: its differences and
 * their episodes in one statement (with their outbox rows, unless the bus takes the messages in
 * this transaction), and the chunk added to the rebuild's progress. Returns the contacts that changed.
 */
async function chunkInSql(
  deps: RebuildDeps,
  listId: string,
  range: { after: string; upper: string | null },
  lane: number,
  rebuildId: string,
  now: Date,
  catalog: ListCatalog,
  publish: (outboxed: Outboxed[]) => void,
  size: number,
): Promise<{ changedIds: string[] }> {
  const definition = catalog.lists.get(listId)?.definition;
  if (definition == null) return { changedIds: [] };
  const topics = { entered: TOPICS.listEntered, exited: TOPICS.listExited };
  const at = now.toISOString();
  const cause = { kind: 'rebuild' as const, id: rebuildId };
  // a bus whose log is in the store takes the messages in the chunk's transaction: no outbox row to
  // write (its JSON built in SQL), read back and delete per message
  const inTransaction = deps.bus.publishInTransaction?.bind(deps.bus);
  const predicate = compileSql(definition, { now, firstParam: inTransaction === undefined ? 9 : 6 });
  const written = await deps.db.transaction(async (tx) => {
    await q.lockListExclusive(tx, listId, lane);
    const outbox = inTransaction === undefined;
    const w = await q.rebuildChunk(tx, { listId, ...range, at: now, rebuildId, topics, outbox }, predicate);
    await q.addRebuildProgress(tx, listId, size, w.transitions.length);
    if (inTransaction !== undefined) {
      for (const m of rebuildMessages({ listId, at, cause }, w.transitions, null)) {
        await inTransaction(tx, m.topic, m.messages);
      }
    }
    return w;
  });
  // else the outbox rows were written by the statement; publish the same messages from memory
  if (inTransaction === undefined) {
    publish(rebuildMessages({ listId, at, cause }, written.transitions, written.outbox));
  }
  return { changedIds: written.transitions.map((t) => t.contactId) };
}

async function chunkInMemory(
  deps: RebuildDeps,
  catalog: ListCatalog,
  listId: string,
  after: string,
  upper: string | null,
  rebuildId: string,
): Promise<string[]> {
  const all = await q.chunkIds(deps.db, after, upper);
  const changed: string[] = [];
  // short transactions: each locks the profiles it evaluates
  for (let i = 0; i < all.length; i += 2000) {
    const ids = all.slice(i, i + 2000);
    const result = await deps.db.transaction(async (tx) => {
      const now = deps.clock.now();
      const profiles = await lockForEvaluation(tx, catalog, ids, now, [listId]);
      const before = new Map([...profiles].map(([id, p]) => [id, p.lists.has(listId)]));
      const r = await evaluateLocked(tx, catalog, profiles, [listId], () => ({ kind: 'rebuild', id: rebuildId }), now);
      return { r, changed: ids.filter((id) => before.get(id) !== profiles.get(id)?.lists.has(listId)) };
    });
    await publishSliced(deps, result.r.outboxed);
    changed.push(...result.changed);
  }
  return changed;
}

async function cascade(
  deps: RebuildDeps,
  catalog: ListCatalog,
  contactIds: readonly string[],
  order: readonly string[],
  rebuildId: string,
): Promise<void> {
  for (let i = 0; i < contactIds.length; i += 1000) {
    const ids = contactIds.slice(i, i + 1000);
    const r = await deps.db.transaction(async (tx) => {
      const now = deps.clock.now();
      const profiles = await lockForEvaluation(tx, catalog, ids, now, order);
      return evaluateLocked(tx, catalog, profiles, order, () => ({ kind: 'rebuild', id: rebuildId }), now);
    });
    await publishSliced(deps, r.outboxed);
  }
}
