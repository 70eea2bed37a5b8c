/** A system clock shifted by a fixed offset (the crash test's parent and children). */
import { createSystemClock } from '../../src/clock/system.ts';
import type { Clock } from '../../src/clock/port.ts';

export function createClock(offsetMs: number): Clock {
  const system = createSystemClock();
  return { now: () => new Date(Date.now() + offsetMs), sleep: system.sleep };
}
