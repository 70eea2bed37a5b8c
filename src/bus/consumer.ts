/**
 * The consumer runner: fetches leased batches from any Bus adapter, runs the handler on each
 * message with bounded concurrency, and owns the retry decision. A retryable SwitchyardError is
 * redelivered with exponential backoff (or the error's retryAfterMs) up to maxAttempts; anything
 * else, or a message out of attempts, is dead-lettered and acked so it never blocks the rest.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../clock/port.ts';
import { isSwitchyardError, toError } from '../core/errors.ts';
import type { Bus, Delivery, FailureInfo, GroupSpec, Outcome } from './port.ts';

/** What a handler may return instead of finishing: put the message back for later, unattempted
 *  (e.g. its campaign is paused). Throwing is for failures; this is an expected outcome. */
export interface Deferral {
  kind: 'defer';
  delayMs: number;
  reason: string;
}

export type Handler<P = unknown> = (message: Delivery<P>, context: { signal: AbortSignal }) => Promise<void | Deferral>;

export interface ConsumerOptions extends GroupSpec {
  /** Messages leased per fetch (and so the in-flight bound per consumer). */
  batchSize?: number;
  /** Handlers running at once within a batch (1 for ordered groups). */
  concurrency?: number;
  maxAttempts?: number;
  leaseMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Longest idle wait between fetches when no NOTIFY arrives. */
  pollMs?: number;
  /**
   * After an idle wait ends, wait this much longer (on the clock) before fetching, so what is
   * published meanwhile is fetched, handled and settled as one batch: fewer fetches, settles and
   * per-batch statements for a delay of at most this long (default 0: fetch at once).
   */
  lingerMs?: number;
}

export interface ConsumerMetrics {
  observe(labels: { group: string; topic: string }, outcome: Outcome['kind'], seconds: number, code?: string): void;
}

export interface Consumer {
  readonly spec: GroupSpec;
  /** Fetches and settles one batch; returns how many messages it handled (0: nothing due). */
  runOnce(): Promise<number>;
  /** Runs until stop(): fetch, handle, settle; waits for NOTIFY or pollMs when idle. */
  start(): void;
  stop(): Promise<void>;
}

export interface ConsumerDeps {
  bus: Bus;
  clock: Clock;
  log: Logger;
  metrics?: ConsumerMetrics;
}

const DEFAULTS = {
  batchSize: 100,
  concurrency: 8,
  maxAttempts: 5,
  leaseMs: 60_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 300_000,
  pollMs: 1_000,
  lingerMs: 0,
};

/** Exponential backoff with a deterministic ±10% spread (hash of id and attempt, not Math.random). */
export function backoffDelay(id: string, attempt: number, baseMs: number, maxMs: number): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  const h = createHash('sha1').update(`${id}:${attempt}`).digest().readUInt16BE(0) / 0xffff;
  return Math.round(raw * (0.9 + 0.2 * h));
}

export function decideOutcome(
  err: unknown,
  message: Delivery,
  o: Required<Pick<ConsumerOptions, 'maxAttempts' | 'backoffBaseMs' | 'backoffMaxMs'>>,
): Outcome {
  const e = toError(err);
  const info: FailureInfo = isSwitchyardError(e)
    ? { code: e.code, message: e.message }
    : { code: 'BUS_HANDLER_FAILED', message: `${e.name}: ${e.message}` };
  if (!isSwitchyardError(e) || !e.retryable) return { kind: 'dead', error: info };
  if (message.attempt >= o.maxAttempts) {
    return {
      kind: 'dead',
      error: { code: info.code, message: `gave up after ${message.attempt} attempts: ${info.message}` },
    };
  }
  const delayMs = Math.max(
    e.retryAfterMs ?? 0,
    backoffDelay(message.id, message.attempt, o.backoffBaseMs, o.backoffMaxMs),
  );
  return { kind: 'retry', delayMs, error: info };
}

export function createConsumer<P>(deps: ConsumerDeps, options: ConsumerOptions, handler: Handler<P>): Consumer {
  const o = { ...DEFAULTS, ...options };
  const spec: GroupSpec = { topic: o.topic, group: o.group, ordered: o.ordered ?? false };
  const concurrency = spec.ordered ? 1 : Math.max(1, o.concurrency);
  const log = deps.log.child({ stage: o.group, topic: o.topic });
  const labels = { group: o.group, topic: o.topic };
  let controller = new AbortController();
  let loop: Promise<void> | undefined;

  async function handleOne(m: Delivery<P>): Promise<Outcome> {
    const started = performance.now();
    let outcome: Outcome;
    try {
      const result = await handler(m, { signal: controller.signal });
      outcome = result === undefined ? { kind: 'ack' } : { kind: 'release', delayMs: result.delayMs };
    } catch (err) {
      outcome = decideOutcome(err, m, o);
      const level = outcome.kind === 'dead' ? 'error' : 'warn';
      log[level](
        {
          messageId: m.id,
          attempt: m.attempt,
          code: 'error' in outcome ? outcome.error.code : undefined,
          err: toError(err),
        },
        outcome.kind === 'dead' ? 'message dead-lettered' : 'message will be retried',
      );
    }
    deps.metrics?.observe(
      labels,
      outcome.kind,
      (performance.now() - started) / 1000,
      'error' in outcome ? outcome.error.code : undefined,
    );
    return outcome;
  }

  async function runOnce(): Promise<number> {
    const batch = await deps.bus.fetch<P>(spec, { max: o.batchSize, leaseMs: o.leaseMs, maxAttempts: o.maxAttempts });
    const messages = batch.messages;
    if (messages.length === 0) return 0;
    const outcomes: Outcome[] = new Array(messages.length);
    if (spec.ordered) {
      let failed = false;
      for (let i = 0; i < messages.length; i++) {
        // after a failure the rest of an ordered batch goes back untouched, to keep key order
        outcomes[i] = failed ? { kind: 'release' } : await handleOne(messages[i]!);
        if (outcomes[i]!.kind === 'retry') failed = true;
      }
    } else {
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < messages.length) {
          const i = next++;
          outcomes[i] = await handleOne(messages[i]!);
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, messages.length) }, worker));
    }
    await batch.settle(outcomes);
    return messages.length;
  }

  // A partial batch means the group caught up (partialFetchDrains): wait for a publish instead of
  // fetching again at once, listening from before the fetch so one committed meanwhile still wakes it.
  // Ordered groups get a retry alone in a batch, so they keep fetching until a fetch comes back empty.
  const coalesce = deps.bus.partialFetchDrains === true && !spec.ordered;

  async function run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      const early = coalesce ? new AbortController() : undefined;
      const woken =
        early === undefined
          ? undefined
          : deps.bus.waitForMessages(o.topic, o.pollMs, AbortSignal.any([signal, early.signal]));
      try {
        const n = await runOnce();
        failures = 0;
        if (n === 0 || (woken !== undefined && n < o.batchSize)) {
          await (woken ?? deps.bus.waitForMessages(o.topic, o.pollMs, signal));
          if (o.lingerMs > 0) await deps.clock.sleep(o.lingerMs, signal).catch(() => undefined);
        }
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        log.error({ err: toError(err), failures }, 'consumer loop failed; backing off');
        await deps.clock.sleep(Math.min(30_000, 500 * 2 ** Math.min(failures, 6)), signal).catch(() => undefined);
      } finally {
        early?.abort();
      }
    }
  }

  return {
    spec,
    runOnce,
    start() {
      if (loop !== undefined) return;
      controller = new AbortController();
      loop = run(controller.signal);
    },
    async stop() {
      controller.abort();
      await loop;
      loop = undefined;
    },
  };
}
