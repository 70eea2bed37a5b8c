/**
 * The dependency graph between lists (a list depends on the lists its segment names with
 * `inList`): cycle detection that names the cycle, and a topological order for cascades, so a
 * change reaches a list only after every list it reads has settled.
 */

/** Dependencies of each list: list id → ids of the lists it reads. */
export type ListGraph = ReadonlyMap<string, readonly string[]>;

/** A cycle as a path that returns to its start (`['a','b','c','a']`), or null if there is none. */
export function findCycle(graph: ListGraph): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | null => {
    const s = state.get(id);
    if (s === 'done') return null;
    if (s === 'open') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'open');
    stack.push(id);
    for (const dep of graph.get(id) ?? []) {
      const found = visit(dep);
      if (found !== null) return found;
    }
    stack.pop();
    state.set(id, 'done');
    return null;
  };
  for (const id of [...graph.keys()].sort()) {
    const found = visit(id);
    if (found !== null) return found;
  }
  return null;
}

/** `a → b → c → a`, the way errors name a cycle. */
export function formatCycle(cycle: readonly string[]): string {
  return cycle.join(' → ');
}

/**
 * The lists that read any of `changed` directly or through other lists, in an order where each
 * comes after every list it depends on (ties by id, so the order is deterministic). The graph must
 * be acyclic (definitions are checked with findCycle before they are saved).
 */
export function dependentsInOrder(graph: ListGraph, changed: Iterable<string>): string[] {
  const readers = new Map<string, string[]>();
  for (const [id, deps] of graph) {
    for (const d of deps) readers.set(d, [...(readers.get(d) ?? []), id]);
  }
  const reached = new Set<string>();
  const queue = [...changed];
  while (queue.length > 0) {
    const id = queue.pop() as string;
    for (const r of readers.get(id) ?? []) {
      if (!reached.has(r)) {
        reached.add(r);
        queue.push(r);
      }
    }
  }
  return topologicalOrder(graph, reached);
}

/** Orders `subset` so each list follows the lists of the subset it depends on. */
export function topologicalOrder(graph: ListGraph, subset: ReadonlySet<string>): string[] {
  const order: string[] = [];
  const done = new Set<string>();
  const visit = (id: string): void => {
    if (done.has(id)) return;
    done.add(id);
    for (const d of [...(graph.get(id) ?? [])].sort()) if (subset.has(d)) visit(d);
    order.push(id);
  };
  for (const id of [...subset].sort()) visit(id);
  return order;
}
