/**
 * The SMTP adapter's commit window: a first-come first-served limit on how many messages are
 * between "beforeCommit started" and "the server answered". Within it, commits overlap with other
 * messages' transfers; its size is also the bound on what a crash can leave in doubt (committed
 * as sending, outcome unknown) and on how many composed messages are held at once. No I/O.
 */

export interface CommitWindow {
  /** Resolves when a slot is free (in arrival order); rejects with `closedError()` after close(). */
  enter(): Promise<void>;
  /** Frees the slot of one entered message. */
  leave(): void;
  /** Messages holding a slot now. */
  active(): number;
  /** Rejects everyone still waiting; later enter() calls reject too. */
  close(): void;
}

export function createCommitWindow(size: number, closedError: () => Error): CommitWindow {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`commit window must be a positive integer, got ${size}`);
  let active = 0;
  let isClosed = false;
  const waiting: { resolve: () => void; reject: (err: Error) => void }[] = [];
  return {
    enter() {
      if (isClosed) return Promise.reject(closedError());
      if (active < size) {
        active++;
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        waiting.push({ resolve, reject });
      });
    },
    leave() {
      const next = waiting.shift();
      // the slot passes straight to the next waiter, so a newcomer can never overtake it
      if (next !== undefined) next.resolve();
      else active--;
    },
    active: () => active,
    close() {
      isClosed = true;
      for (const w of waiting.splice(0)) w.reject(closedError());
    },
  };
}
