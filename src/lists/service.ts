/**
 * The lists service: definitions (validated, references checked, cycles refused by name),
 * membership of static lists (ListMembership), incremental re-evaluation for changed profiles
 * (called by the profile service inside its transaction), time-relative re-checks from durable
 * timers, full rebuilds with progress, preview, members and history. Every membership change goes
 * through the engine, so each real transition is recorded and announced once.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Outboxed } from '../bus/outbox.ts';
import type { Bus } from '../bus/port.ts';
import { publishSliced } from './publish.ts';
import type { ListTransitionCause } from '../bus/topics.ts';
import type { Clock } from '../clock/port.ts';
import { SwitchyardError } from '../core/errors.ts';
import { findCycle, formatCycle } from '../core/segments/graph.ts';
import { segmentInputs } from '../core/segments/inputs.ts';
import { compileSql } from '../core/segments/sql.ts';
import type { SegmentCondition } from '../core/segments/types.ts';
import { validateSegment } from '../core/segments/validate.ts';
import type { LockedProfile } from '../profiles/snapshots.ts';
import type { Db, Queryable } from '../store/port.ts';
import { createCatalogCache, type ListCatalog, type TouchedInputs } from './catalog.ts';
import { type EvaluationResult, evaluateLocked, lockForEvaluation } from './engine.ts';
import type { ListMembership, MembershipResult } from './membership.ts';
import * as q from './queries.ts';
import { rebuildList } from './rebuild.ts';

export type { ListRow, HistoryRow } from './queries.ts';

export interface ListInput {
  id?: string;
  name: string;
  kind: 'static' | 'dynamic';
  definition?: unknown;
}

export interface ListPreview {
  count: number;
  sample: { contactId: string; email: string | null }[];
}

export interface ListService extends ListMembership {
  /** Creates a list; a dynamic one is built in the background unless `build` is false (bulk imports). */
  create(input: ListInput, options?: { build?: boolean }): Promise<q.ListRow>;
  update(id: string, input: { name?: string; definition?: unknown }): Promise<q.ListRow>;
  remove(id: string): Promise<void>;
  get(id: string): Promise<q.ListRow>;
  all(): Promise<q.ListRow[]>;
  preview(definition: unknown): Promise<ListPreview>;
  members(id: string, after: string | null, limit: number): Promise<{ contactId: string; enteredAt: Date }[]>;
  memberCount(id: string): Promise<number>;
  history(filter: { listId?: string; contactId?: string }, limit: number): Promise<q.HistoryRow[]>;
  /** Starts a full rebuild in the background; its progress is on the list (get). */
  startRebuild(id: string): Promise<q.ListRow>;
  /** Runs a full rebuild to the end (CLI, tests, bench). */
  rebuild(id: string, chunkSize?: number): Promise<number>;
  /** The compiled catalogue as of now (reloaded when a definition changed). */
  catalog(db?: Queryable): Promise<ListCatalog>;
  /**
   * Re-evaluates the lists a change touched for locked profiles, inside the caller's
   * transaction (once per transaction); publish the returned outbox rows after the commit (none
   * when the bus took the events in the transaction). `catalog`: the one the caller read in this
   * transaction already (spares a round trip).
   */
  reevaluate(
    tx: Queryable,
    profiles: ReadonlyMap<string, LockedProfile>,
    touched: TouchedInputs,
    causeOf: (contactId: string) => ListTransitionCause,
    catalog?: ListCatalog,
  ): Promise<EvaluationResult>;
  /**
   * Takes, in the caller's transaction, the locks an evaluation of these lists holds (shared with
   * other evaluations, exclusive of the lists' rebuild chunks). Taken before the memberships are
   * read, a chunk that commits while the caller waits is in what the caller then reads.
   */
  lockLists(tx: Queryable, ids: readonly string[]): Promise<void>;
  /** Re-checks the contacts whose time-relative conditions came due; returns how many timers fired. */
  runDueTimers(limit?: number): Promise<number>;
  /** Waits for background rebuilds (shutdown, tests). */
  idle(): Promise<void>;
}

export interface ListServiceDeps {
  db: Db;
  bus: Bus;
  clock: Clock;
  log: Logger;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function invalid(problems: { path: string; message: string }[]): SwitchyardError {
  return new SwitchyardError('SEGMENT_INVALID', `the segment definition has ${problems.length} problem(s)`, {
    details: { problems },
  });
}

export function createListService(deps: ListServiceDeps): ListService {
  const { db, clock, log } = deps;
  const cache = createCatalogCache();
  const running = new Map<string, Promise<unknown>>();
  const catalog = (on: Queryable = db) => cache.current(on);

  async function mustGet(on: Queryable, id: string): Promise<q.ListRow> {
    const row = await q.getList(on, id);
    if (row === null || row.deletedAt !== null) throw new SwitchyardError('LIST_NOT_FOUND', `no list "${id}"`);
    return row;
  }

  function checkDefinition(definition: unknown): SegmentCondition {
    const v = validateSegment(definition);
    if (!v.ok) throw invalid(v.problems);
    return v.definition;
  }

  /** References must name live lists, and the graph with this list's edges must stay acyclic. */
  async function checkReferences(on: Queryable, id: string, definition: SegmentCondition): Promise<string[]> {
    const deps = [...segmentInputs(definition).lists].sort();
    const live = await q.liveLists(on);
    const known = new Set(live.map((l) => l.id));
    const missing = deps.filter((d) => d !== id && !known.has(d));
    if (missing.length > 0) {
      throw new SwitchyardError(
        'LIST_REFERENCE_INVALID',
        `the definition reads lists that do not exist or were deleted: ${missing.join(', ')}`,
        {
          details: { missing },
        },
      );
    }
    const graph = new Map(live.map((l) => [l.id, l.dependsOn]));
    graph.set(id, deps);
    const cycle = findCycle(graph);
    if (cycle !== null) {
      throw new SwitchyardError('LIST_CYCLE', `lists would depend on each other in a cycle: ${formatCycle(cycle)}`, {
        details: { cycle },
      });
    }
    return deps;
  }

  // a bus whose log is in the store takes an evaluation's events in its transaction (no outbox rows)
  const inTransaction = deps.bus.publishInTransaction?.bind(deps.bus);

  async function publish(outboxed: readonly Outboxed[]): Promise<void> {
    if (outboxed.length > 0) await publishSliced(deps, outboxed);
  }

  function startBackground(id: string): void {
    if (running.has(id)) return;
    const p = rebuildList({ ...deps, catalog }, id)
      .catch(() => undefined) // recorded on the list as failed, and logged
      .finally(() => running.delete(id));
    running.set(id, p);
  }

  async function editStatic(
    listId: string,
    contactIds: readonly string[],
    entered: boolean,
    cause: ListTransitionCause,
  ): Promise<MembershipResult> {
    const list = await mustGet(db, listId);
    if (list.kind !== 'static') throw new SwitchyardError('LIST_NOT_STATIC', `list "${listId}" is dynamic`);
    const ids = [...new Set(contactIds)];
    const result = await db.transaction(async (tx) => {
      const cat = await catalog(tx);
      const order = cat.withDependents([listId]).filter((id) => id !== listId);
      // the list itself is read too: the forced membership is checked against it
      const profiles = await lockForEvaluation(tx, cat, ids, clock.now(), order, [listId]);
      const forced = { listId, contactIds: ids, entered };
      return evaluateLocked(tx, cat, profiles, order, () => cause, clock.now(), forced, inTransaction);
    });
    await publish(result.outboxed);
    const changed = new Set(result.forcedChanged);
    return { changed: ids.filter((id) => changed.has(id)), unchanged: ids.filter((id) => !changed.has(id)) };
  }

  return {
    catalog: (on) => catalog(on),

    async create(input, options = {}) {
      const id = input.id ?? randomUUID();
      if (!ID_PATTERN.test(id))
        throw new SwitchyardError('VALIDATION_FAILED', 'a list id is 1-100 of A-Z a-z 0-9 . _ -');
      if (typeof input.name !== 'string' || input.name.length === 0) {
        throw new SwitchyardError('VALIDATION_FAILED', 'a list needs a name');
      }
      const definition = input.kind === 'dynamic' ? checkDefinition(input.definition) : null;
      if (input.kind === 'static' && input.definition !== undefined) {
        throw new SwitchyardError('VALIDATION_FAILED', 'a static list has no definition');
      }
      await db.transaction(async (tx) => {
        const dependsOn = definition === null ? [] : await checkReferences(tx, id, definition);
        const inputs = definition === null ? {} : serialInputs(definition);
        const ok = await q.insertList(
          tx,
          { id, name: input.name, kind: input.kind, definition, dependsOn, inputs },
          clock.now(),
        );
        if (!ok) throw new SwitchyardError('VALIDATION_FAILED', `a list "${id}" already exists (ids are never reused)`);
      });
      log.info({ listId: id, kind: input.kind }, 'list created');
      if (definition !== null && options.build !== false) startBackground(id);
      return mustGet(db, id);
    },

    async update(id, input) {
      const list = await mustGet(db, id);
      let definition = list.definition;
      if (input.definition !== undefined) {
        if (list.kind !== 'dynamic') throw new SwitchyardError('LIST_NOT_STATIC', 'a static list has no definition');
        definition = checkDefinition(input.definition);
      }
      await db.transaction(async (tx) => {
        const dependsOn = definition === null ? [] : await checkReferences(tx, id, definition);
        const inputs = definition === null ? {} : serialInputs(definition);
        await q.updateList(tx, { id, name: input.name ?? list.name, definition, dependsOn, inputs }, clock.now());
      });
      if (input.definition !== undefined) startBackground(id);
      return mustGet(db, id);
    },

    async remove(id) {
      await db.transaction(async (tx) => {
        await mustGet(tx, id);
        const readers = await q.readersOf(tx, id);
        if (readers.length > 0) {
          throw new SwitchyardError(
            'LIST_REFERENCE_INVALID',
            `list "${id}" is read by ${readers.join(', ')}; change those first`,
            {
              details: { readers },
            },
          );
        }
        await q.deleteList(tx, id, clock.now());
      });
    },

    get: (id) => mustGet(db, id),
    all: () => q.liveLists(db),

    async preview(definition) {
      const def = checkDefinition(definition);
      await checkReferences(db, `preview:${randomUUID()}`, def);
      const sql = compileSql(def, { now: clock.now() });
      const [count, sample] = [await q.previewCount(db, sql), await q.previewSample(db, sql, 20)];
      return { count, sample };
    },

    async members(id, after, limit) {
      await mustGet(db, id);
      return q.memberPage(db, id, after, limit);
    },
    async memberCount(id) {
      await mustGet(db, id);
      return q.memberCount(db, id);
    },
    history: (filter, limit) => q.history(db, filter, limit),

    async startRebuild(id) {
      const list = await mustGet(db, id);
      if (list.kind !== 'dynamic')
        throw new SwitchyardError('LIST_NOT_STATIC', `list "${id}" is static: nothing to rebuild`);
      startBackground(id);
      return mustGet(db, id);
    },
    async rebuild(id, chunkSize) {
      await mustGet(db, id);
      await running.get(id);
      return rebuildList({ ...deps, catalog }, id, chunkSize);
    },

    async reevaluate(tx, profiles, touched, causeOf, read) {
      const cat = read ?? (await catalog(tx));
      const order = cat.listsTouchedBy(touched);
      return evaluateLocked(tx, cat, profiles, order, causeOf, clock.now(), undefined, inTransaction);
    },

    lockLists: (tx, ids) => q.lockListsShared(tx, ids),

    async runDueTimers(limit = 1000) {
      const result = await db.transaction(async (tx) => {
        const now = clock.now();
        const due = await q.takeDueTimers(tx, now, limit);
        if (due.length === 0) return { fired: 0, outboxed: [] as Outboxed[] };
        const cat = await catalog(tx);
        const order = cat.withDependents(new Set(due.map((d) => d.listId)));
        const profiles = await lockForEvaluation(
          tx,
          cat,
          due.map((d) => d.contactId),
          now,
          order,
        );
        const cause = { kind: 'timer' as const, id: now.toISOString() };
        const r = await evaluateLocked(tx, cat, profiles, order, () => cause, now, undefined, inTransaction);
        return { fired: due.length, outboxed: r.outboxed };
      });
      await publish(result.outboxed);
      return result.fired;
    },

    async idle() {
      await Promise.all([...running.values()]);
    },

    addToList: (listId, contactIds, cause) => editStatic(listId, contactIds, true, cause),
    removeFromList: (listId, contactIds, cause) => editStatic(listId, contactIds, false, cause),
    async isMember(listId, contactId) {
      await mustGet(db, listId);
      return q.isMember(db, listId, contactId);
    },
  };
}

function serialInputs(definition: SegmentCondition): Record<string, unknown> {
  const i = segmentInputs(definition);
  return {
    attributes: [...i.attributes],
    clickTags: [...i.clickTags],
    opens: i.opens,
    lists: [...i.lists],
    timeRelative: i.timeRelative,
  };
}
