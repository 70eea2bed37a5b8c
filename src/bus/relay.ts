/**
 * What the loops that move stored messages onto the bus share: the staged-chunk dispatcher
 * (campaigns/staging.ts) and the outbox relay (bus/outbox.ts) both publish rows bound for several
 * topics and both poll the store on the clock.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock/port.ts';
import type { Bus, OutgoingMessage } from './port.ts';

/**
 * Publishes each message to its topic: one publish per topic, list order kept within a topic.
 * Topics are published at once (no order holds across topics); it throws the first failure
 * after every topic's publish has finished.
 */
export async function publishToTopics(
  bus: Bus,
  items: readonly { topic: string; message: OutgoingMessage }[],
): Promise<void> {
  const byTopic = new Map<string, OutgoingMessage[]>();
  for (const { topic, message } of items) {
    const list = byTopic.get(topic);
    if (list === undefined) byTopic.set(topic, [message]);
    else list.push(message);
  }
  const outcomes = await Promise.allSettled([...byTopic].map(([topic, messages]) => bus.publish(topic, messages)));
  const failed = outcomes.find((o) => o.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

/**
 * Runs `step` until `signal` aborts: again at once while it moved something, after `intervalMs`
 * on the clock when it moved nothing or failed (logged as `what` failing; it retries).
 */
export async function pollUntilAborted(
  deps: { clock: Clock; log: Logger },
  signal: AbortSignal,
  intervalMs: number,
  what: string,
  step: () => Promise<number>,
): Promise<void> {
  while (!signal.aborted) {
    let n = 0;
    try {
      n = await step();
    } catch (err) {
      if (!signal.aborted) deps.log.error({ err }, `${what} failed; will retry`);
    }
    if (n === 0) await deps.clock.sleep(intervalMs, signal).catch(() => undefined);
  }
}
