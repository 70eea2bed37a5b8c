/**
 * The sandbox Esp: a simulated email service provider for demos, benchmarks and fault tests. It
 * delivers nowhere. It accepts instantly, keeps an outbox, and after eventDelayMs of clock time
 * emits normalised EngagementEvents (delivered, bounced_hard, opened, clicked, unsubscribed,
 * complained) through deps.emit, the same ingest path webhooks use. It can refuse addresses,
 * throttle or fail the next requests, fail auth, and defer sends beyond a hidden per-second limit
 * per receiving domain (as a receiving MX would, with a 421 4.7.0). It never keeps a timer per
 * message: pending events sit in due-time FIFOs drained by flushDue() or one clock.sleep loop, or,
 * given a store, in the sandbox_events table so they outlive the process (durable-events.ts).
 * It is never what a test of a real adapter talks to.
 */
import type { Clock } from '../../../clock/port.ts';
import type { EngagementEvent } from '../../../core/events.ts';
import { SwitchyardError } from '../../../core/errors.ts';
import type { BatchResult, Esp, OutboundMessage, SendReceipt } from '../port.ts';
import type { Db } from '../../../store/port.ts';
import { createDurableEvents } from './durable-events.ts';
import { mulberry32 } from './prng.ts';
import { DEFAULT_SANDBOX_RATES, createEventQueue, drawOutcome } from './simulated-events.ts';
import type { SandboxRates, SimulatedSend } from './simulated-events.ts';

export { mulberry32 } from './prng.ts';
export type { SandboxRates } from './simulated-events.ts';

export interface SandboxEspDeps {
  clock: Clock;
  /** Receives due events in batches (wire to the webhook ingest path). */
  emit(events: EngagementEvent[]): Promise<void>;
  /** Source of randomness in [0,1); default mulberry32(seed option). */
  random?: () => number;
  /** Keeps pending events in the store, so a restarted process emits them; default in memory. */
  db?: Db;
}

export interface SandboxEspOptions {
  rates?: Partial<SandboxRates>;
  /** Clock time between acceptance and the first event (default 1000 ms). */
  eventDelayMs?: number;
  /** Hidden sends-per-second limit per receiving domain (lower-case), over the trailing second. */
  receivingDomainLimits?: Record<string, number>;
  /** Addresses refused permanently (case-insensitive), like a 550 5.1.1. */
  refuse?: string[];
  /** Every request fails with ESP_AUTH_FAILED (a revoked key). */
  simulateAuthFailure?: boolean;
  /** Requests per sendBatch chunk (default 1000). */
  maxBatchSize?: number;
  /** Most recent outbox records kept (default 100000); counts keep growing regardless. */
  outboxLimit?: number;
  /** When set, one loop sleeps this long on the clock and flushes due events, until close(). */
  flushEveryMs?: number;
  /** Seed for the default random source (default 1). */
  seed?: number;
  /** Max events per emit call (default 5000). */
  emitBatchSize?: number;
  /** With a store: how long a flush holds the rows it is emitting before another may (default 15000). */
  eventClaimMs?: number;
}

export interface SentRecord {
  providerMessageId: string;
  acceptedAt: Date;
  messageId: string;
  from: string;
  to: string;
  subject: string;
  headers: Record<string, string>;
  correlation: OutboundMessage['correlation'];
  tags: string[];
  /** File names and decoded sizes of the message's attachments. */
  attachments: { filename: string; contentType: string; bytes: number }[];
}

export interface SandboxCounts {
  requests: number;
  accepted: number;
  refused: number;
  throttled: number;
  deferred: number;
  failed: number;
  eventsEmitted: number;
  eventsPending: number;
}

export interface SandboxEsp extends Esp {
  outbox(): ReadonlyArray<SentRecord>;
  counts(): SandboxCounts;
  /** Messages per request, in order (send() is a request of one); the most recent 10000. */
  requestSizes(): number[];
  /** The next n requests are answered ESP_RATE_LIMITED (with retryAfterMs when given). */
  throttleNext(n: number, retryAfterMs?: number): void;
  /** The next n requests are answered ESP_UNAVAILABLE. */
  failNext(n: number): void;
  /** Emits every event due by the clock's now; returns how many were emitted. */
  flushDue(): Promise<number>;
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** The longest a flush loop goes without looking at the store for due rows. */
const IDLE_LOOK_EVERY_MS = 60_000;

export function createSandboxEsp(deps: SandboxEspDeps, options: SandboxEspOptions = {}): SandboxEsp {
  const rates: SandboxRates = { ...DEFAULT_SANDBOX_RATES, ...options.rates };
  const delay = options.eventDelayMs ?? 1000;
  const random = deps.random ?? mulberry32(options.seed ?? 1);
  const refused = new Set((options.refuse ?? []).map((a) => a.toLowerCase()));
  const limits = new Map(Object.entries(options.receivingDomainLimits ?? {}).map(([d, n]) => [d.toLowerCase(), n]));
  const recentByDomain = new Map<string, number[]>();
  const maxBatchSize = options.maxBatchSize ?? 1000;
  const outboxLimit = options.outboxLimit ?? 100_000;
  const emitBatchSize = options.emitBatchSize ?? 5000;
  const queue = createEventQueue(delay);
  const durable =
    deps.db === undefined ? undefined : createDurableEvents(deps.db, delay, options.eventClaimMs ?? 15_000);
  // accepted in the current request, stored before the request returns
  let unsaved: SimulatedSend[] = [];
  let durablePending = 0;
  // when the flush loop next claims from the store (at once on start: rows a stopped process left)
  let nextStoreLookMs = Number.NEGATIVE_INFINITY;
  let outbox: SentRecord[] = [];
  const sizes: number[] = [];
  const counts: SandboxCounts = {
    requests: 0,
    accepted: 0,
    refused: 0,
    throttled: 0,
    deferred: 0,
    failed: 0,
    eventsEmitted: 0,
    eventsPending: 0,
  };
  let throttle: { n: number; retryAfterMs: number | undefined } = { n: 0, retryAfterMs: undefined };
  let fail = 0;
  let retryEmit: EngagementEvent[] = [];
  let isClosed = false;
  const stop = new AbortController();

  /** A whole-request failure (auth, throttle, outage), or undefined when the request goes through. */
  function requestFault(size: number): SwitchyardError | undefined {
    counts.requests++;
    sizes.push(size);
    if (sizes.length > 20_000) sizes.splice(0, sizes.length - 10_000);
    if (isClosed) return new SwitchyardError('ESP_UNAVAILABLE', 'sandbox Esp is closed', { retryable: true });
    if (options.simulateAuthFailure === true) {
      return new SwitchyardError('ESP_AUTH_FAILED', 'sandbox: simulated credential failure', {
        details: { status: 401 },
      });
    }
    if (throttle.n > 0) {
      throttle.n--;
      counts.throttled++;
      return new SwitchyardError('ESP_RATE_LIMITED', 'sandbox: simulated throttling of this request', {
        retryable: true,
        retryAfterMs: throttle.retryAfterMs,
        details: { status: 429 },
      });
    }
    if (fail > 0) {
      fail--;
      counts.failed++;
      return new SwitchyardError('ESP_UNAVAILABLE', 'sandbox: simulated temporary failure', {
        retryable: true,
        details: { status: 503 },
      });
    }
    return undefined;
  }

  /** Enforces the hidden per-domain rate over the trailing second of clock time. */
  function deferral(domain: string, now: number): SwitchyardError | undefined {
    const limit = limits.get(domain);
    if (limit === undefined) return undefined;
    const recent = (recentByDomain.get(domain) ?? []).filter((t) => t > now - 1000);
    recentByDomain.set(domain, recent);
    if (recent.length < limit) {
      recent.push(now);
      return undefined;
    }
    counts.deferred++;
    return new SwitchyardError(
      'ESP_RATE_LIMITED',
      `sandbox: ${domain} deferred the message (receiving rate exceeded)`,
      {
        retryable: true,
        details: { smtpCode: 421, enhanced: '4.7.0', domain, response: '421 4.7.0 Try again later' },
      },
    );
  }

  function accept(msg: OutboundMessage): SendReceipt {
    const address = msg.to.address.toLowerCase();
    if (refused.has(address)) {
      counts.refused++;
      throw new SwitchyardError('ESP_RECIPIENT_REJECTED', `sandbox: ${address} does not exist`, {
        details: { smtpCode: 550, enhanced: '5.1.1', response: '550 5.1.1 user unknown' },
      });
    }
    const now = deps.clock.now();
    const deferred = deferral(domainOf(address), now.getTime());
    if (deferred !== undefined) throw deferred;
    const providerMessageId = `sandbox-${msg.messageId}`;
    counts.accepted++;
    // The outbox shares the caller's header/correlation objects: messages are not mutated after send.
    outbox.push({
      providerMessageId,
      acceptedAt: now,
      messageId: msg.messageId,
      from: msg.from.address,
      to: msg.to.address,
      subject: msg.subject,
      headers: msg.headers,
      correlation: msg.correlation,
      tags: msg.tags ?? [],
      attachments: (msg.attachments ?? []).map((a) => ({
        filename: a.filename,
        contentType: a.contentType,
        bytes: Buffer.from(a.contentBase64, 'base64').length,
      })),
    });
    if (outbox.length > outboxLimit * 1.5) outbox = outbox.slice(outbox.length - outboxLimit);
    const { flags, url } = drawOutcome(msg, rates, random);
    if (flags !== 0) {
      (durable === undefined ? queue : { push: (r: SimulatedSend) => unsaved.push(r) }).push({
        acceptedAt: now.getTime(),
        providerMessageId,
        messageId: msg.messageId,
        email: msg.to.address,
        correlation: msg.correlation,
        flags,
        url,
      });
    }
    return { providerMessageId, acceptedAt: now };
  }

  /** Stores what this request accepted; a failure fails the request (retryable), nothing is lost. */
  async function save(): Promise<void> {
    if (durable === undefined || unsaved.length === 0) return;
    const recs = unsaved;
    unsaved = [];
    try {
      const due = await durable.add(recs);
      if (due !== undefined) nextStoreLookMs = Math.min(nextStoreLookMs, due);
      for (const r of recs) for (let f = r.flags; f !== 0; f &= f - 1) durablePending++;
    } catch (cause) {
      throw new SwitchyardError('ESP_UNAVAILABLE', 'sandbox: could not store simulated events', {
        retryable: true,
        cause,
      });
    }
  }

  async function flushStored(store: NonNullable<typeof durable>, fromLoop: boolean): Promise<number> {
    // The loop claims only when a stored row may be due: a claim on every tick of an idle process
    // costs a write transaction each second. Rows a process adds and then dies without emitting,
    // unseen by this one, are still found by a look at least once a minute.
    const nowMs = deps.clock.now().getTime();
    if (fromLoop && nowMs < nextStoreLookMs) return 0;
    nextStoreLookMs = nowMs + IDLE_LOOK_EVERY_MS;
    let emitted = 0;
    try {
      for (;;) {
        const claimed = await store.claim(deps.clock.now(), emitBatchSize);
        if (claimed.rows === 0) {
          const next = await store.nextDueAt();
          if (next !== null) nextStoreLookMs = Math.min(nextStoreLookMs, next.getTime());
          return emitted;
        }
        try {
          await deps.emit(claimed.events);
        } catch (err) {
          await claimed.release().catch(() => undefined);
          throw err;
        }
        await claimed.done();
        emitted += claimed.events.length;
        counts.eventsEmitted += claimed.events.length;
        durablePending = Math.max(0, durablePending - claimed.events.length);
        // no early return on a short batch: rows moved to their next stage may be due already
        // (a restart after a long stop), and emit in stage order within this flush
      }
    } catch (err) {
      nextStoreLookMs = Number.NEGATIVE_INFINITY; // what failed is tried again on the next tick
      throw err;
    }
  }

  async function flushDue(fromLoop = false): Promise<number> {
    if (durable !== undefined) return flushStored(durable, fromLoop);
    const due = [...retryEmit, ...queue.takeDue(deps.clock.now().getTime())];
    retryEmit = [];
    let emitted = 0;
    for (let i = 0; i < due.length; i += emitBatchSize) {
      const chunk = due.slice(i, i + emitBatchSize);
      try {
        await deps.emit(chunk);
      } catch (err) {
        // Keep what was not emitted; the next flush tries again first. Never drop events.
        retryEmit = due.slice(i);
        throw err;
      }
      emitted += chunk.length;
      counts.eventsEmitted += chunk.length;
    }
    return emitted;
  }

  async function flushLoop(every: number): Promise<void> {
    while (!stop.signal.aborted) {
      try {
        await deps.clock.sleep(every, stop.signal);
      } catch {
        return; // aborted by close()
      }
      // A failed emit keeps its events queued for the next round (see flushDue).
      await flushDue(true).catch(() => undefined);
    }
  }
  if (options.flushEveryMs !== undefined) void flushLoop(options.flushEveryMs);

  return {
    name: 'sandbox',
    commitPoint: 'before-request',
    maxBatchSize,
    supportsAttachments: true,
    async send(msg) {
      const fault = requestFault(1);
      if (fault !== undefined) throw fault;
      const receipt = accept(msg);
      await save();
      return receipt;
    },
    async sendBatch(messages) {
      const results: BatchResult[] = [];
      for (let i = 0; i < messages.length; i += maxBatchSize) {
        const chunk = messages.slice(i, i + maxBatchSize);
        const fault = requestFault(chunk.length);
        for (const msg of chunk) {
          if (fault !== undefined) {
            results.push({ ok: false, error: fault });
            continue;
          }
          try {
            results.push({ ok: true, receipt: accept(msg) });
          } catch (error) {
            results.push({ ok: false, error: error as SwitchyardError });
          }
        }
      }
      try {
        await save();
      } catch (err) {
        return results.map((r) => (r.ok ? { ok: false, error: err as SwitchyardError } : r));
      }
      return results;
    },
    async close() {
      isClosed = true;
      stop.abort();
    },
    outbox: () => outbox,
    // with a store: events of what this process accepted, less those it emitted (another process
    // on the same store may emit some of them)
    counts: () => ({ ...counts, eventsPending: queue.size() + retryEmit.length + durablePending }),
    requestSizes: () => sizes,
    throttleNext(n, retryAfterMs) {
      throttle = { n: throttle.n + n, retryAfterMs };
    },
    failNext(n) {
      fail += n;
    },
    flushDue: () => flushDue(),
  };
}
