/**
 * Decides what "happens" to one message the sandbox accepted, and turns that into normalised
 * events when they fall due, without a timer per message. Per accepted message only one compact
 * record is kept (outcome flags, ids, click URL); the EngagementEvent objects are built when they
 * are taken, so a 1M blast holds 1M small records, not millions of events. Outcomes come from the
 * injected random source; event ids derive from the provider message id, so re-sending the same
 * message yields the same sourceIds (downstream dedup sees a repeat, as with a real ESP).
 */
import type { EngagementEvent, EventType } from '../../../core/events.ts';
import type { Correlation, OutboundMessage } from '../port.ts';

/** Probabilities. bounce and delivered apply to every message; open, unsubscribe and complaint
 *  to delivered ones; click to opened ones. */
export interface SandboxRates {
  delivered: number;
  bounce: number;
  open: number;
  click: number;
  unsubscribe: number;
  complaint: number;
}

export const DEFAULT_SANDBOX_RATES: SandboxRates = {
  delivered: 0.98,
  bounce: 0.01,
  open: 0.3,
  click: 0.1,
  unsubscribe: 0.002,
  complaint: 0.0005,
};

/** One accepted message's fate. */
export interface SimulatedSend {
  acceptedAt: number;
  providerMessageId: string;
  messageId: string;
  email: string;
  correlation: Correlation;
  /** Bit set of OUTCOME values. */
  flags: number;
  url: string | undefined;
}

const OUTCOME = { bounced_hard: 1, delivered: 2, opened: 4, clicked: 8, unsubscribed: 16, complained: 32 } as const;
type SimulatedType = keyof typeof OUTCOME;

/** Stage k (1-based) fires k × eventDelayMs after acceptance, with these event types in order. */
const STAGES: readonly (readonly SimulatedType[])[] = [
  ['bounced_hard', 'delivered'],
  ['opened'],
  ['clicked', 'unsubscribed'],
  ['complained'],
];

function firstUrl(msg: OutboundMessage): string | undefined {
  const href = msg.html === undefined ? undefined : /href\s*=\s*["'](https?:\/\/[^"']+)["']/i.exec(msg.html)?.[1];
  return href ?? /https?:\/\/[^\s<>"')]+/.exec(msg.text)?.[0];
}

/** Draws the outcome of one accepted message. */
export function drawOutcome(
  msg: OutboundMessage,
  rates: SandboxRates,
  random: () => number,
): { flags: number; url: string | undefined } {
  if (random() < rates.bounce) return { flags: OUTCOME.bounced_hard, url: undefined };
  if (random() >= rates.delivered) return { flags: 0, url: undefined };
  let flags: number = OUTCOME.delivered;
  let url: string | undefined;
  if (random() < rates.open) {
    flags |= OUTCOME.opened;
    if (random() < rates.click) {
      url = firstUrl(msg);
      if (url !== undefined) flags |= OUTCOME.clicked;
    }
  }
  if (random() < rates.unsubscribe) flags |= OUTCOME.unsubscribed;
  if (random() < rates.complaint) flags |= OUTCOME.complained;
  return { flags, url };
}

function buildEvent(rec: SimulatedSend, type: SimulatedType, due: number): EngagementEvent {
  const event: EngagementEvent = {
    type: type satisfies EventType,
    sourceId: `sandbox:${rec.providerMessageId}:${type}`,
    provider: 'sandbox',
    occurredAt: new Date(due),
    email: rec.email,
    messageId: rec.messageId,
    providerMessageId: rec.providerMessageId,
    campaignId: rec.correlation.campaignId,
    contactId: rec.correlation.contactId,
    ledgerId: rec.correlation.ledgerId,
    raw: { simulated: true, type, providerMessageId: rec.providerMessageId },
  };
  if (type === 'clicked') event.url = rec.url;
  if (type === 'complained') event.reason = 'abuse';
  if (type === 'bounced_hard') {
    event.reason = 'userunknown';
    event.status = '5.1.1';
    event.diagnostic = `smtp; 550 5.1.1 <${rec.email}>: user unknown (simulated by the sandbox ESP)`;
  }
  return event;
}

const STAGE_MASKS = STAGES.map((types) => types.reduce((m, t) => m | OUTCOME[t], 0));

/** The first stage after `after` (0-based; -1 for the first) with events in `flags`, or undefined. */
export function nextStage(flags: number, after: number): number | undefined {
  for (let i = after + 1; i < STAGES.length; i++) if ((flags & STAGE_MASKS[i]!) !== 0) return i;
  return undefined;
}

/** When stage `stage` (0-based) of a message accepted at `acceptedAt` falls due. */
export function stageDueAt(acceptedAt: number, stage: number, delayMs: number): number {
  return acceptedAt + (stage + 1) * delayMs;
}

/** The events of one stage of one message, in stage order. */
export function stageEvents(rec: SimulatedSend, stage: number, delayMs: number): EngagementEvent[] {
  const due = stageDueAt(rec.acceptedAt, stage, delayMs);
  return STAGES[stage]!.filter((t) => (rec.flags & OUTCOME[t]) !== 0).map((t) => buildEvent(rec, t, due));
}

/**
 * One FIFO per stage: within a stage due times only grow (acceptance times do not go back), so
 * the due records are always at the head.
 */
export function createEventQueue(delayMs: number) {
  const stages = STAGES.map((types) => ({
    types,
    mask: types.reduce((m, t) => m | OUTCOME[t], 0),
    items: [] as SimulatedSend[],
    head: 0,
  }));
  let pendingEvents = 0;
  return {
    push(rec: SimulatedSend): void {
      for (const s of stages) {
        if ((rec.flags & s.mask) === 0) continue;
        s.items.push(rec);
        for (const t of s.types) if ((rec.flags & OUTCOME[t]) !== 0) pendingEvents++;
      }
    },
    /** Removes and returns every event due at or before `now`, oldest first. */
    takeDue(now: number): EngagementEvent[] {
      const due: EngagementEvent[] = [];
      stages.forEach((s, i) => {
        const offset = (i + 1) * delayMs;
        while (s.head < s.items.length && s.items[s.head]!.acceptedAt + offset <= now) {
          const rec = s.items[s.head++]!;
          for (const t of s.types)
            if ((rec.flags & OUTCOME[t]) !== 0) due.push(buildEvent(rec, t, rec.acceptedAt + offset));
        }
        if (s.head > 1024 && s.head * 2 > s.items.length) {
          s.items = s.items.slice(s.head);
          s.head = 0;
        }
      });
      pendingEvents -= due.length;
      // Stable sort: equal times keep stage order (delivered before opened before clicked).
      return due.sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime());
    },
    size: () => pendingEvents,
  };
}
