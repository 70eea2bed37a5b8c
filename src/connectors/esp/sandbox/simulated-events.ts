/**
 * Decides what "happens" to one message the sandbox accepted and builds the normalised events for
 * it, and keeps them in due-time order without a timer per message. Outcomes are drawn from the
 * injected random source; event ids are derived from the provider message id, so re-sending the
 * same message yields the same sourceIds (downstream dedup sees a repeat, as with a real ESP).
 */
import type { EngagementEvent, EventType } from '../../../core/events.ts';
import type { OutboundMessage } from '../port.ts';

/** Probabilities. bounce and delivered apply to every message; the rest apply to delivered ones,
 *  except click, which applies to opened ones. */
export interface SandboxRates {
  delivered: number;
  bounce: number;
  open: number;
  click: number;
  unsubscribe: number;
  complaint: number;
}

export const DEFAULT_SANDBOX_RATES: SandboxRates = {
  delivered: 0.98, bounce: 0.01, open: 0.3, click: 0.1, unsubscribe: 0.002, complaint: 0.0005,
};

/** How many eventDelayMs after acceptance each event type fires (its stage). */
const STAGE: Partial<Record<EventType, number>> = {
  delivered: 1, bounced_hard: 1, opened: 2, clicked: 3, unsubscribed: 3, complained: 4,
};
export const STAGE_COUNT = 4;

export interface PendingEvent { due: number; event: EngagementEvent }

function firstUrl(msg: OutboundMessage): string | undefined {
  const href = msg.html === undefined ? undefined : /href\s*=\s*["'](https?:\/\/[^"']+)["']/i.exec(msg.html)?.[1];
  return href ?? /https?:\/\/[^\s<>"')]+/.exec(msg.text)?.[0];
}

/** Draws the outcome of one accepted message and returns its events with their stage (1-based). */
export function simulateOutcome(
  msg: OutboundMessage, providerMessageId: string, rates: SandboxRates, random: () => number,
): { stage: number; event: Omit<EngagementEvent, 'occurredAt'> }[] {
  const base = {
    provider: 'sandbox', email: msg.to.address, messageId: msg.messageId, providerMessageId,
    campaignId: msg.correlation.campaignId, contactId: msg.correlation.contactId, ledgerId: msg.correlation.ledgerId,
  };
  const make = (type: EventType, extra: Partial<EngagementEvent> = {}) => ({
    stage: STAGE[type] ?? 1,
    event: {
      ...base, ...extra, type, sourceId: `sandbox:${providerMessageId}:${type}`,
      raw: { simulated: true, type, providerMessageId, ...extra },
    },
  });
  if (random() < rates.bounce) {
    return [make('bounced_hard', {
      reason: 'userunknown', status: '5.1.1',
      diagnostic: `smtp; 550 5.1.1 <${msg.to.address}>: user unknown (simulated by the sandbox ESP)`,
    })];
  }
  if (random() >= rates.delivered) return [];
  const out = [make('delivered')];
  if (random() < rates.open) {
    out.push(make('opened'));
    const url = firstUrl(msg);
    if (random() < rates.click && url !== undefined) out.push(make('clicked', { url }));
  }
  if (random() < rates.unsubscribe) out.push(make('unsubscribed'));
  if (random() < rates.complaint) out.push(make('complained', { reason: 'abuse' }));
  return out;
}

/**
 * One FIFO per stage: within a stage due times only grow (the clock does not go back), so the due
 * events are always at the head. Memory is one small object per pending event, no timers.
 */
export function createEventQueue() {
  const stages: { items: PendingEvent[]; head: number }[] = Array.from({ length: STAGE_COUNT }, () => ({ items: [], head: 0 }));
  let size = 0;
  return {
    push(stage: number, item: PendingEvent): void {
      stages[Math.min(Math.max(stage, 1), STAGE_COUNT) - 1]!.items.push(item);
      size++;
    },
    /** Removes and returns every event due at or before `now`, oldest first. */
    takeDue(now: number): EngagementEvent[] {
      const due: PendingEvent[] = [];
      for (const s of stages) {
        while (s.head < s.items.length && s.items[s.head]!.due <= now) due.push(s.items[s.head++]!);
        if (s.head > 1024 && s.head * 2 > s.items.length) { s.items = s.items.slice(s.head); s.head = 0; }
      }
      size -= due.length;
      return due.sort((a, b) => a.due - b.due).map((p) => p.event);
    },
    size: () => size,
  };
}
