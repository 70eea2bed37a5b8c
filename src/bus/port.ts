/**
 * The bus port: durable topics, consumer groups, at-least-once delivery. The consumer runner
 * (consumer.ts) is written against this interface only, so the postgres-log adapter and a later
 * NATS JetStream adapter share the retry/dead-letter policy and pass one contract suite
 * (test/bus/port.contract.ts).
 *
 * Guarantees every adapter gives:
 * - publish is idempotent per (topic, message id): republishing an id is a no-op that reports a
 *   duplicate, for as long as the adapter's dedup window (postgres-log: until pruned).
 * - every group subscribed to a topic receives every message at least once; a fetched message not
 *   settled before its lease ends (consumer crashed or hung) is delivered again with attempt + 1.
 * - settle is idempotent and tolerates a lease that was lost to another consumer.
 * - groups created with `ordered: true` get messages of one key in publish order, one at a time
 *   (only when `supportsKeyOrdering`); a message waiting for retry holds back later ones.
 */
import type { Queryable } from '../store/port.ts';

export interface OutgoingMessage<P = unknown> {
  /** Deterministic id (e.g. `campaign:42:chunk:17`); the dedup key within the topic. */
  id: string;
  /** Ordering key (e.g. a contact id); only meaningful for ordered groups. */
  key?: string;
  payload: P;
}

export interface Delivery<P = unknown> {
  topic: string;
  id: string;
  key: string | null;
  /** Read-only: groups of one process may share it (postgres-log freezes it). */
  payload: P;
  /** Position in the topic's log; increases in publish order. */
  seq: number;
  /** 1 on first delivery, then 2, 3… */
  attempt: number;
  publishedAt: Date;
}

export interface FailureInfo {
  code: string;
  message: string;
}

export type Outcome =
  | { kind: 'ack' }
  /** Redeliver after delayMs; the attempt counts. */
  | { kind: 'retry'; delayMs: number; error: FailureInfo }
  /** Give up: keep as a dead letter (then ack), so later messages are not blocked. */
  | { kind: 'dead'; error: FailureInfo }
  /** Put back untouched (not attempted), e.g. the rest of an ordered batch after a failure, or
   *  a message whose work must wait (paused campaign): visible again after delayMs (default 0). */
  | { kind: 'release'; delayMs?: number };

export interface GroupSpec {
  topic: string;
  group: string;
  /** One message at a time, in publish order. Default false. */
  ordered?: boolean;
}

export interface FetchOptions {
  max: number;
  /** How long the consumer may hold the messages before they are redelivered. */
  leaseMs: number;
  /** Attempts after which a message whose lease keeps expiring is dead-lettered. */
  maxAttempts: number;
}

export interface FetchedBatch<P = unknown> {
  messages: Delivery<P>[];
  /** Settles the batch: outcomes[i] belongs to messages[i]. Idempotent. */
  settle(outcomes: readonly Outcome[]): Promise<void>;
}

export interface GroupDepth {
  topic: string;
  group: string;
  /** Published, not yet handed to any consumer. */
  pending: number;
  /** Handed out under a live lease. */
  inFlight: number;
  /** Waiting for a redelivery. */
  retrying: number;
  /** Age of the oldest message not yet handed out, 0 when none. */
  oldestPendingMs: number;
}

export interface DeadLetter {
  id: number;
  stage: string;
  topic: string | null;
  messageId: string | null;
  key: string | null;
  payload: unknown;
  code: string;
  message: string;
  attempts: number;
  firstFailedAt: Date;
  lastFailedAt: Date;
  retriedAt: Date | null;
}

export interface NewDeadLetter {
  /** Where it failed: a consumer group, or an ingress such as `webhook.sendgrid`. */
  stage: string;
  payload: unknown;
  code: string;
  message: string;
}

export interface DeadLetters {
  /** Newest first. */
  list(filter?: { stage?: string; limit?: number; includeRetried?: boolean }): Promise<DeadLetter[]>;
  count(): Promise<number>;
  /**
   * Records input that never became a bus message (bad webhook, bad row), for inspection. With
   * `keepNewest`, the stage's older entries beyond that many are dropped (samples age out).
   */
  add(entry: NewDeadLetter, options?: { keepNewest?: number }): Promise<number>;
  /**
   * Puts bus dead letters back to their group for another round of attempts. Returns the ids that
   * were requeued; ingress dead letters (no topic) and already-retried ones are skipped.
   */
  retry(ids: readonly number[]): Promise<number[]>;
}

/** What releaseInstance handed back, per consumer group. */
export interface ReleasedWork {
  topic: string;
  group: string;
  /** Leases taken from the stopped process (a range lease or one redelivered message each). */
  leases: number;
  /** Messages made deliverable again by it. */
  messages: number;
  /** When the earliest released range lease would have ended on its own (null: none released). */
  leaseEnd: Date | null;
}

export interface Bus {
  readonly name: string;
  readonly supportsKeyOrdering: boolean;
  /**
   * True when an unordered group's fetch that returns fewer than `max` messages found none more
   * due when it started, and a waitForMessages called before a publish resolves on it: a consumer
   * then waits for the next publish instead of fetching again at once (one empty fetch less per
   * batch and group). Adapters without it are fetched again until a fetch comes back empty.
   */
  readonly partialFetchDrains?: boolean;
  /** Publishes in order; returns how many were new and how many were duplicates of earlier ids. */
  publish<P>(
    topic: string,
    messages: readonly OutgoingMessage<P>[],
  ): Promise<{ published: number; duplicates: number }>;
  /**
   * Optional, for a bus whose log is in the store (postgres-log): publishes inside the caller's
   * transaction `tx` on the bus's own database, so the messages commit or roll back with the
   * caller's writes and need no outbox row (one commit, the payload written once). Same order,
   * idempotency and validation as publish; consumers are woken when the transaction commits.
   */
  publishInTransaction?<P>(
    tx: Queryable,
    topic: string,
    messages: readonly OutgoingMessage<P>[],
  ): Promise<{ published: number; duplicates: number }>;
  /** Creates the group if missing (it then receives every message still in the topic). */
  ensureGroup(spec: GroupSpec): Promise<void>;
  /** Leases up to `max` messages for the group; an empty batch when none are due. */
  fetch<P = unknown>(spec: GroupSpec, options: FetchOptions): Promise<FetchedBatch<P>>;
  /** Resolves when something may have been published to `topic`, or after maxWaitMs, or on abort. */
  waitForMessages(topic: string, maxWaitMs: number, signal?: AbortSignal): Promise<void>;
  depth(): Promise<GroupDepth[]>;
  readonly deadLetters: DeadLetters;
  /**
   * Hands back every lease taken by a bus created with this instance id (a process known to have
   * stopped): its messages become deliverable now, as if their leases had expired. Optional: an
   * adapter whose broker tracks consumer liveness itself has nothing to do here.
   */
  releaseInstance?(instanceId: string): Promise<ReleasedWork[]>;
  /** Reachability check used by /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
