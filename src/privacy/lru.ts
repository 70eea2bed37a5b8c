/**
 * A bounded least-recently-used map for unwrapped data keys: a blast touches each subject once per
 * chunk part, and a repeated audience should not unwrap again, but memory must not grow with the
 * audience. Map iteration order is insertion order, so re-inserting on a hit makes the first key the
 * least recently used one.
 */
export interface Lru<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): void;
  delete(key: K): void;
  readonly size: number;
}

export function createLru<K, V>(capacity: number): Lru<K, V> {
  const map = new Map<K, V>();
  return {
    get(key) {
      const v = map.get(key);
      if (v !== undefined) {
        map.delete(key);
        map.set(key, v);
      }
      return v;
    },
    set(key, value) {
      if (capacity <= 0) return;
      map.delete(key);
      map.set(key, value);
      if (map.size > capacity) map.delete(map.keys().next().value as K);
    },
    delete: (key) => void map.delete(key),
    get size() {
      return map.size;
    },
  };
}
