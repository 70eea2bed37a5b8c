/**
 * A clock that only moves when told. `advance(ms)` runs due sleepers in time order, letting each
 * one's continuation run before the next, so tests of waits and deadlines are instant and exact.
 */
import type { Clock } from './port.ts';

export interface ManualClock extends Clock {
  /** Moves time forward, waking every sleeper due on the way, in order. */
  advance(ms: number): Promise<void>;
  /** Jumps to an absolute time (never backwards). */
  set(to: Date): Promise<void>;
  /** How many sleepers are waiting. */
  pending(): number;
}

interface Sleeper {
  due: number;
  seq: number;
  resolve: () => void;
}

export function createManualClock(start: Date = new Date('2026-01-01T00:00:00Z')): ManualClock {
  let now = start.getTime();
  let seq = 0;
  let sleepers: Sleeper[] = [];

  async function flushMicrotasks(): Promise<void> {
    for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
  }

  async function runUntil(target: number): Promise<void> {
    for (;;) {
      sleepers.sort((a, b) => a.due - b.due || a.seq - b.seq);
      const next = sleepers[0];
      if (next === undefined || next.due > target) break;
      sleepers.shift();
      now = Math.max(now, next.due);
      next.resolve();
      await flushMicrotasks();
    }
    now = Math.max(now, target);
    await flushMicrotasks();
  }

  return {
    now: () => new Date(now),
    sleep(ms, signal) {
      return new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        const onAbort = (): void => {
          sleepers = sleepers.filter((s) => s !== sleeper);
          reject(signal?.reason);
        };
        // the listener goes when the sleep ends, so loops that reuse one signal do not pile them up
        const sleeper: Sleeper = {
          due: now + Math.max(0, ms),
          seq: seq++,
          resolve: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        sleepers.push(sleeper);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    advance: (ms) => runUntil(now + ms),
    set: (to) => runUntil(to.getTime()),
    pending: () => sleepers.length,
  };
}
