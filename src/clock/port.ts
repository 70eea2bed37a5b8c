/**
 * The clock port: every service that needs the time or must wait takes a Clock, so tests move
 * time by hand (createManualClock) and never sleep.
 */

export interface Clock {
  /** The current time. */
  now(): Date;
  /** Resolves after `ms` of this clock's time, or rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}
