/**
 * A bounded cache for unwrapped data keys: a blast touches each subject once per chunk part, and a
 * repeated audience should not unwrap again, but memory must not grow with the audience. Two
 * generations instead of an exact LRU: entries go into the young map; when it is full it becomes
 * the old one and the previous old one is dropped whole; a hit in the old map moves the entry back
 * to the young one. Holds between capacity/2 and capacity entries, recently used ones kept, with no
 * per-operation delete or iteration: an exact LRU's delete-and-reinsert per new key was a visible
 * share of a first blast's sealing (bench/README.md, "Figures behind code comments").
 */
export interface Lru<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): void;
  delete(key: K): void;
  readonly size: number;
}

export function createLru<K, V>(capacity: number): Lru<K, V> {
  const half = Math.max(1, Math.ceil(capacity / 2));
  let young = new Map<K, V>();
  let old = new Map<K, V>();
  function put(key: K, value: V): void {
    young.set(key, value);
    if (young.size >= half) {
      old = young;
      young = new Map();
    }
  }
  return {
    get(key) {
      const v = young.get(key);
      if (v !== undefined) return v;
      const o = old.get(key);
      if (o !== undefined) {
        old.delete(key);
        put(key, o);
      }
      return o;
    },
    set(key, value) {
      if (capacity <= 0) return;
      old.delete(key);
      put(key, value);
    },
    delete(key) {
      young.delete(key);
      old.delete(key);
    },
    get size() {
      return young.size + old.size;
    },
  };
}
