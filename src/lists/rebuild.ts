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
import { publishSliced, transitionMessages } from './publish.ts';
import { TOPICS } from '../bus/topics.ts';
import type { Clock } from '../clock/port.ts';
import { compileSql } from '../core/segments/sql.ts';
import { lockSnapshots } from '../profiles/snapshots.ts';
import type { Db } from '../store/port.ts';
import type { ListCatalog } from './catalog.ts';
import { evaluateLocked } from './engine.ts';
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
    let after = '';
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
    for (;;) {
      const now = clock.now();
      let upper: string | null;
      let changedIds: string[];
      let recorded = false;
      if (list.inputs?.timeRelative) {
        upper = await q.chunkUpperBound(db, after, chunkSize);
        changedIds = await chunkInMemory(deps, catalog, listId, after, upper, rebuildId);
      } else {
        const progress = { done: done + chunkSize, total, changed };
        const c = await chunkInSql(deps, listId, after, chunkSize, rebuildId, now, catalog, publishLater, progress);
        upper = c.upper;
        changedIds = c.changedIds;
        recorded = upper !== null;
      }
      changed += changedIds.length;
      if (changedIds.length > 0 && dependents.length > 0) {
        // a reader's events follow the events of what it read
        await publishing;
        await cascade(deps, catalog, changedIds, dependents, rebuildId);
      }
      done = upper === null ? Math.max(done, total) : done + chunkSize;
      if (!recorded) {
        await q.setRebuildState(db, listId, {
          state: upper === null ? 'done' : 'running',
          done,
          total,
          changed,
          at: clock.now(),
        });
      }
      if (upper === null) {
        await publishing;
        return changed;
      }
      after = upper;
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    deps.log.error({ listId, code: (err as { code?: string }).code }, 'list rebuild failed');
    await q.setRebuildState(db, listId, { state: 'failed', done, total, changed, at: clock.now(), error: message });
    throw err;
  }
}

/**
 * One chunk in SQL, in one transaction (one commit): the chunk's bound, its differences, history
 * and outbox rows in one statement, and, unless it is the last chunk, the progress after it.
 * Returns the chunk's upper contact id (null: it was the last) and the contacts that changed.
 */
async function chunkInSql(
  deps: RebuildDeps,
  listId: string,
  after: string,
  size: number,
  rebuildId: string,
  now: Date,
  catalog: ListCatalog,
  publish: (outboxed: Outboxed[]) => void,
  progress: { done: number; total: number; changed: number },
): Promise<{ upper: string | null; changedIds: string[] }> {
  const definition = catalog.lists.get(listId)?.definition;
  if (definition == null) return { upper: null, changedIds: [] };
  const predicate = compileSql(definition, { now, firstParam: 9 });
  const topics = { entered: TOPICS.listEntered, exited: TOPICS.listExited };
  const written = await deps.db.transaction(async (tx) => {
    await q.lockListExclusive(tx, listId);
    const upper = await q.chunkUpperBound(tx, after, size);
    const w = await q.rebuildChunk(tx, { listId, after, upper, at: now, rebuildId, topics }, predicate);
    if (upper !== null) {
      const changed = progress.changed + w.transitions.length;
      await q.setRebuildState(tx, listId, { state: 'running', ...progress, changed, at: now });
    }
    return { ...w, upper };
  });
  // the outbox rows were written by the statement; publish the same messages from memory
  const at = now.toISOString();
  const cause = { kind: 'rebuild' as const, id: rebuildId };
  publish(
    transitionMessages(
      written.transitions.map((t) => ({ ...t, listId, at, cause })),
      written.outbox,
    ),
  );
  return { upper: written.upper, changedIds: written.transitions.map((t) => t.contactId) };
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
      const profiles = await lockSnapshots(tx, ids, now, catalog.needs([listId]));
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
      const profiles = await lockSnapshots(tx, ids, now, catalog.needs(order));
      return evaluateLocked(tx, catalog, profiles, order, () => ({ kind: 'rebuild', id: rebuildId }), now);
    });
    await publishSliced(deps, r.outboxed);
  }
}
