/**
 * Group commit: calls that arrive while a group is being written join the next group, so N
 * concurrent callers (webhook requests) share one transaction and one commit instead of queueing
 * for N. Nothing waits on a timer: a lone caller is written at once, and the group grows only by
 * what arrives while the database is busy. Each caller gets its own result, and is answered only
 * after its group's write resolved (for ingest: after the commit, so an acknowledgement means
 * durable). A failing group of several callers is retried caller by caller, so one caller's bad
 * input fails only that caller.
 */

export interface GroupCommitOptions<I> {
  /** A group takes queued calls until their weight would exceed this (a heavier call goes alone). */
  maxWeight: number;
  weight(item: I): number;
  /** Groups written at once (default 1). */
  concurrency?: number;
}

interface Waiter<I, O> {
  item: I;
  resolve(result: O): void;
  reject(err: unknown): void;
}

/** `write(items)` returns one result per item, in order; the returned function submits one item. */
export function createGroupCommit<I, O>(
  write: (items: readonly I[]) => Promise<readonly O[]>,
  options: GroupCommitOptions<I>,
): (item: I) => Promise<O> {
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const queue: Waiter<I, O>[] = [];
  let head = 0;
  let running = 0;

  function takeGroup(): Waiter<I, O>[] {
    const group: Waiter<I, O>[] = [];
    let weight = 0;
    while (head < queue.length) {
      const w = queue[head]!;
      const wi = options.weight(w.item);
      if (group.length > 0 && weight + wi > options.maxWeight) break;
      group.push(w);
      weight += wi;
      head++;
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    }
    return group;
  }

  async function writeGroup(group: readonly Waiter<I, O>[]): Promise<void> {
    let results: readonly O[];
    try {
      results = await write(group.map((w) => w.item));
    } catch (err) {
      if (group.length === 1) {
        group[0]!.reject(err);
        return;
      }
      for (const w of group) await writeGroup([w]);
      return;
    }
    for (let i = 0; i < group.length; i++) group[i]!.resolve(results[i]!);
  }

  async function drain(): Promise<void> {
    running++;
    try {
      for (;;) {
        const group = takeGroup();
        if (group.length === 0) break;
        await writeGroup(group);
      }
    } finally {
      running--;
    }
  }

  return (item) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (running < concurrency) void drain();
    });
}
