/**
 * A simulated receiving mail domain for governor tests: it accepts up to a hidden rate and answers
 * anything above it with a throttle deferral, the way Gmail's 421 4.7.0 or Yahoo's 421 do.
 * It keeps its own leaky budget (deliberately not our core token bucket, so the governor is not
 * tested against itself). Time comes from the caller; nothing here sleeps.
 */

export type ReceiverAnswer = { ok: true } | { ok: false; smtpCode: number; enhancedStatus: string; diagnostic: string };

export interface DeferringReceiver {
  /** One delivery attempt at `now`. */
  attempt(now: Date): ReceiverAnswer;
  /** Changes the hidden rate from `now` on (budget above the new burst is dropped). */
  setHiddenRate(ratePerSec: number, now: Date): void;
  readonly counts: { accepted: number; deferred: number };
}

export function createDeferringReceiver(opts: {
  ratePerSec: number;
  burstSeconds?: number;
  start: Date;
}): DeferringReceiver {
  let rate = opts.ratePerSec;
  const burstSeconds = opts.burstSeconds ?? 1;
  let budget = rate * burstSeconds;
  let at = opts.start.getTime();
  const counts = { accepted: 0, deferred: 0 };

  function refillTo(now: number): void {
    if (now > at) {
      budget = Math.min(rate * burstSeconds, budget + ((now - at) / 1000) * rate);
      at = now;
    }
  }

  return {
    counts,
    attempt(now) {
      refillTo(now.getTime());
      if (budget >= 1) {
        budget -= 1;
        counts.accepted++;
        return { ok: true };
      }
      counts.deferred++;
      return {
        ok: false,
        smtpCode: 421,
        enhancedStatus: '4.7.0',
        diagnostic: '421 4.7.0 Try again later, closing connection.',
      };
    },
    setHiddenRate(ratePerSec, now) {
      refillTo(now.getTime());
      rate = ratePerSec;
      budget = Math.min(budget, rate * burstSeconds);
    },
  };
}

/** What the simulated send stage needs from the governor (structural, so this file has no imports). */
interface GovernorLike<K> {
  acquireMany(n: number, key: K, signal?: AbortSignal): Promise<number>;
  report(
    outcome: K & { kind: 'accepted' | 'deferred'; smtpCode?: number; enhancedStatus?: string; diagnostic?: string },
  ): void;
}

/**
 * A send stage in miniature: asks the governor for up to `chunk` sends, tries each against the
 * receiver and reports the answer, until stopped. Runs on the caller's manual clock (the governor
 * sleeps on it), so `await clock.advance(ms)` drives it. A stopped or failed loop settles `done`.
 */
export function startSimulatedSender<K extends object>(
  governor: GovernorLike<K>,
  receiver: DeferringReceiver,
  key: K,
  now: () => Date,
  chunk = 100,
): { stop(): void; done: Promise<unknown> } {
  const ac = new AbortController();
  const done = (async () => {
    for (;;) {
      const n = await governor.acquireMany(chunk, key, ac.signal);
      for (let i = 0; i < n; i++) {
        const answer = receiver.attempt(now());
        governor.report(answer.ok ? { ...key, kind: 'accepted' } : { ...key, kind: 'deferred', ...answer });
      }
    }
  })().catch((err: unknown) => err);
  return { stop: () => ac.abort(new Error('simulation stopped')), done };
}
