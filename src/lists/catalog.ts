/**
 * The lists compiled once per definition revision: each dynamic list's predicate and inputs, and
 * the dependency graph. A process keeps one catalogue and reloads it when the revision in the
 * store moved (another process, or this one, changed a definition), so evaluation never runs on a
 * stale definition and never compiles per contact.
 */
import { dependentsInOrder, type ListGraph, topologicalOrder } from '../core/segments/graph.ts';
import { type SegmentInputs, segmentInputs } from '../core/segments/inputs.ts';
import { compilePredicate, type SegmentPredicate } from '../core/segments/predicate.ts';
import type { SegmentCondition } from '../core/segments/types.ts';
import type { Queryable } from '../store/port.ts';
import * as q from './queries.ts';

export interface CompiledList {
  id: string;
  kind: 'static' | 'dynamic';
  definition: SegmentCondition | null;
  predicate: SegmentPredicate | null;
  inputs: SegmentInputs | null;
}

/** What one profile change touched (for picking the lists to re-evaluate). */
export interface TouchedInputs {
  attributes: ReadonlySet<string>;
  clickTags: ReadonlySet<string>;
  opens: boolean;
}

export interface ListCatalog {
  revision: string;
  lists: ReadonlyMap<string, CompiledList>;
  graph: ListGraph;
  /** Dynamic lists that read any touched input, plus every list depending on them, in cascade order. */
  listsTouchedBy(touched: TouchedInputs): string[];
  /** `start` and every list depending on any of them, in cascade order. */
  withDependents(start: Iterable<string>): string[];
  /** Whether any of these lists reads clicks / opens (so the snapshot read can skip them). */
  needs(ids: readonly string[]): { clicks: boolean; opens: boolean };
  /** These lists and the lists they read: whose memberships their evaluation needs. */
  membershipsFor(ids: Iterable<string>): string[];
}

export function compileCatalog(revision: string, rows: readonly q.ListRow[]): ListCatalog {
  const lists = new Map<string, CompiledList>();
  const graph = new Map<string, string[]>();
  const byAttribute = new Map<string, string[]>();
  const byTag = new Map<string, string[]>();
  const byOpens: string[] = [];
  for (const r of rows) {
    const inputs = r.definition === null ? null : segmentInputs(r.definition);
    lists.set(r.id, {
      id: r.id,
      kind: r.kind,
      definition: r.definition,
      predicate: r.definition === null ? null : compilePredicate(r.definition),
      inputs,
    });
    graph.set(r.id, r.dependsOn);
    if (inputs === null) continue;
    for (const a of inputs.attributes) byAttribute.set(a, [...(byAttribute.get(a) ?? []), r.id]);
    for (const t of inputs.clickTags) byTag.set(t, [...(byTag.get(t) ?? []), r.id]);
    if (inputs.opens) byOpens.push(r.id);
  }
  const withDependents = (start: Iterable<string>): string[] => {
    const set = new Set(start);
    for (const d of dependentsInOrder(graph, set)) set.add(d);
    return topologicalOrder(graph, set);
  };
  return {
    revision,
    lists,
    graph,
    listsTouchedBy(touched) {
      const direct = new Set<string>();
      for (const a of touched.attributes) for (const id of byAttribute.get(a) ?? []) direct.add(id);
      for (const t of touched.clickTags) for (const id of byTag.get(t) ?? []) direct.add(id);
      if (touched.opens) for (const id of byOpens) direct.add(id);
      return direct.size === 0 ? [] : withDependents(direct);
    },
    withDependents,
    needs(ids) {
      let clicks = false;
      let opens = false;
      for (const id of ids) {
        const i = lists.get(id)?.inputs;
        if (i?.clickTags.size) clicks = true;
        if (i?.opens) opens = true;
      }
      return { clicks, opens };
    },
    membershipsFor(ids) {
      const out = new Set<string>();
      for (const id of ids) {
        out.add(id);
        for (const d of lists.get(id)?.inputs?.lists ?? []) out.add(d);
      }
      return [...out];
    },
  };
}

/** Holds this process's catalogue; `current` reloads it when the store's revision moved. */
export function createCatalogCache(): { current(db: Queryable): Promise<ListCatalog> } {
  let cached: ListCatalog | null = null;
  return {
    async current(db) {
      const revision = await q.catalogRevision(db);
      if (cached?.revision !== revision) cached = compileCatalog(revision, await q.liveLists(db));
      return cached;
    },
  };
}
