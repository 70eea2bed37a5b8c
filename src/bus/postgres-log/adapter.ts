/**
 * postgres-log bus adapter: durable topics in the Switchyard database (PGlite or PostgreSQL).
 * A fetch leases a contiguous range of the topic for the group (one row, however many messages),
 * so the common path costs a read and two single-row writes per batch; only messages that fail
 * or outlive their lease get per-message retry rows. NOTIFY wakes consumers, polling decides.
 */
import { SwitchyardError } from '../../core/errors.ts';
import type { Clock } from '../../clock/port.ts';
import type { Db, Queryable } from '../../store/port.ts';
import type {
  Bus,
  DeadLetters,
  Delivery,
  FetchedBatch,
  FetchOptions,
  GroupDepth,
  GroupSpec,
  OutgoingMessage,
  Outcome,
  ReleasedWork,
} from '../port.ts';
import { createDeadLetterStore } from '../dead-letter-store.ts';
import * as q from './queries.ts';

interface MessageRow {
  seq: number;
  msg_id: string;
  msg_key: string | null;
  /** Null when the fetch named the seq as held by this process. */
  payload: string | null;
  published_at: Date;
  attempts: number;
}

const TOPIC_PATTERN = /^[a-z0-9][a-z0-9._-]{0,199}$/;

/** Payload text kept parsed for other groups of the process (characters, summed). */
const PARSED_CACHE_CHARS = 16 * 1024 * 1024;

/** Freezes a parsed JSON value throughout, so a handler that tried to change a shared payload fails loudly. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** How many of a topic's newest held seqs a fetch names, so their payloads are not sent again. */
const HELD_SEQS_NAMED = 64;

/**
 * Every consumer group of a topic fetches the same messages (seven groups read each reaction
 * batch), so a process parses each message's payload once and hands every group the same frozen
 * value: a (topic, seq) names one immutable message. Bounded by payload size, oldest first out;
 * a group that lags further than that parses again. A fetch gets no payload for the topic's newest
 * held seqs (none at all on a topic several of the process's groups read: those are read once,
 * after the fetch, for all of them); a held value serves only the same message id (a reused seq,
 * as after a test truncated the table, is read again).
 */
function createParsedCache(maxChars: number) {
  const entries = new Map<string, { text: string; value: unknown; msgId: string }>();
  const recent = new Map<string, number[]>();
  let chars = 0;
  const keyOf = (topic: string, seq: number) => `${topic}\u0000${seq}`;
  return {
    /** The newest seqs of `topic` held parsed. */
    held(topic: string): number[] {
      return (recent.get(topic) ?? []).filter((seq) => entries.has(keyOf(topic, seq)));
    },
    /** The held value of a message whose payload a fetch left out; undefined if not held. */
    get(topic: string, seq: number, msgId: string): { value: unknown } | undefined {
      const hit = entries.get(keyOf(topic, seq));
      return hit !== undefined && hit.msgId === msgId ? hit : undefined;
    },
    parse(topic: string, seq: number, msgId: string, text: string): unknown {
      const key = keyOf(topic, seq);
      const hit = entries.get(key);
      // the text check costs a compare; it keeps a reused seq (a test's truncated table) from serving old data
      if (hit !== undefined && hit.text === text && hit.msgId === msgId) return hit.value;
      const value = deepFreeze(JSON.parse(text) as unknown);
      if (hit !== undefined) {
        entries.delete(key);
        chars -= hit.text.length;
      }
      if (text.length > maxChars) return value;
      entries.set(key, { text, value, msgId });
      chars += text.length;
      const seqs = recent.get(topic) ?? [];
      seqs.push(seq);
      if (seqs.length > HELD_SEQS_NAMED) seqs.splice(0, seqs.length - HELD_SEQS_NAMED);
      recent.set(topic, seqs);
      for (const [k, e] of entries) {
        if (chars <= maxChars) break;
        entries.delete(k);
        chars -= e.text.length;
      }
      return value;
    },
  };
}

export interface PostgresLogBusDeps {
  db: Db;
  clock: Clock;
  /** The process instance recorded on every lease this bus takes (src/recovery/instances.ts). */
  instanceId?: string;
}

export function createPostgresLogBus(deps: PostgresLogBusDeps): Bus {
  const { db, clock } = deps;
  const holder = deps.instanceId ?? null;
  const waiters = new Map<string, Set<() => void>>();
  let unlisten: Promise<() => Promise<void>> | undefined;
  const parsed = createParsedCache(PARSED_CACHE_CHARS);

  function wake(topic: string): void {
    const set = waiters.get(topic);
    if (set === undefined) return;
    waiters.delete(topic);
    for (const resolve of set) resolve();
  }

  function toDelivery(topic: string, r: MessageRow, payload: unknown): Delivery {
    return {
      topic,
      id: r.msg_id,
      key: r.msg_key,
      payload,
      seq: r.seq,
      attempt: r.attempts,
      publishedAt: r.published_at,
    };
  }

  /** The fetched rows as deliveries: payloads parsed (stored as the producer's JSON text, 0007) or held. */
  async function toDeliveries(topic: string, rows: readonly MessageRow[]): Promise<Delivery[]> {
    const payloads = rows.map((r) =>
      r.payload === null
        ? parsed.get(topic, r.seq, r.msg_id)
        : { value: parsed.parse(topic, r.seq, r.msg_id, r.payload) },
    );
    const missing = rows.filter((_r, i) => payloads[i] === undefined);
    if (missing.length > 0) {
      const texts = await loadPayloads(
        topic,
        missing.map((r) => r.seq),
      );
      rows.forEach((r, i) => {
        if (payloads[i] !== undefined) return;
        const text = texts.get(r.seq);
        if (text === undefined)
          throw new SwitchyardError('BUS_MESSAGE_INVALID', `message ${r.seq} on ${topic} is gone`);
        payloads[i] = { value: parsed.parse(topic, r.seq, r.msg_id, text) };
      });
    }
    return rows.map((r, i) => toDelivery(topic, r, payloads[i]!.value));
  }

  /** Reads payloads by seq; a seq already being read for another group of the process is waited for. */
  const loading = new Map<string, Promise<Map<number, string>>>();
  async function loadPayloads(topic: string, seqs: readonly number[]): Promise<Map<number, string>> {
    const waits = new Set<Promise<Map<number, string>>>();
    const ask: number[] = [];
    for (const seq of seqs) {
      const pending = loading.get(`${topic}\u0000${seq}`);
      if (pending === undefined) ask.push(seq);
      else waits.add(pending);
    }
    if (ask.length > 0) {
      const read = db
        .query<{ seq: number; payload: string }>(q.PAYLOADS, [topic, ask])
        .then(({ rows }) => new Map(rows.map((r) => [r.seq, r.payload])));
      for (const seq of ask) loading.set(`${topic}\u0000${seq}`, read);
      const forget = (): void => {
        for (const seq of ask) if (loading.get(`${topic}\u0000${seq}`) === read) loading.delete(`${topic}\u0000${seq}`);
      };
      read.then(forget, forget);
      waits.add(read);
    }
    const texts = new Map<number, string>();
    for (const m of await Promise.all(waits)) for (const [seq, text] of m) texts.set(seq, text);
    return texts;
  }

  /** Groups of this process that fetched each topic: a topic read by several gets its payloads read once. */
  const groupsOf = new Map<string, Set<string>>();

  /** One call of bus_fetch (migration 0017): its own transaction, one round trip. */
  async function claim(
    spec: GroupSpec,
    opts: FetchOptions,
    now: Date,
  ): Promise<{ rows: MessageRow[]; leaseId?: number }> {
    const groups = groupsOf.get(spec.topic) ?? new Set<string>();
    groups.add(spec.group);
    groupsOf.set(spec.topic, groups);
    const shared = groups.size > 1;
    const { rows } = await db.query<MessageRow & { lease_id: number | null }>(q.FETCH, [
      spec.group,
      spec.topic,
      spec.ordered ?? false,
      now,
      new Date(now.getTime() + opts.leaseMs),
      opts.max,
      opts.maxAttempts,
      holder,
      shared,
      shared ? [] : parsed.held(spec.topic),
    ]);
    const leaseId = rows.find((r) => r.lease_id !== null)?.lease_id ?? undefined;
    return leaseId === undefined ? { rows } : { rows, leaseId };
  }

  async function settle(
    spec: GroupSpec,
    messages: Delivery[],
    leaseId: number | undefined,
    outcomes: readonly Outcome[],
  ): Promise<void> {
    if (outcomes.length !== messages.length) {
      throw new SwitchyardError(
        'BUS_MESSAGE_INVALID',
        `settle got ${outcomes.length} outcomes for ${messages.length} messages`,
      );
    }
    const now = clock.now();
    const done: number[] = [];
    const dead: { seq: number; code: string; message: string; attempts: number }[] = [];
    const again: { seq: number; attempts: number; visible_at: string; error: string | null }[] = [];
    outcomes.forEach((o, i) => {
      const m = messages[i]!;
      switch (o.kind) {
        case 'ack':
          done.push(m.seq);
          break;
        case 'dead':
          dead.push({ seq: m.seq, code: o.error.code, message: o.error.message, attempts: m.attempt });
          done.push(m.seq);
          break;
        case 'retry':
          again.push({
            seq: m.seq,
            attempts: m.attempt,
            visible_at: new Date(now.getTime() + o.delayMs).toISOString(),
            error: `${o.error.code}: ${o.error.message}`,
          });
          break;
        case 'release':
          again.push({
            seq: m.seq,
            attempts: m.attempt - 1,
            visible_at: new Date(now.getTime() + (o.delayMs ?? 0)).toISOString(),
            error: null,
          });
          break;
      }
    });
    if (dead.length === 0 && again.length === 0) {
      // the common case, every message acked: one statement
      await db.query(q.SETTLE_ACKED, [leaseId ?? null, spec.group, spec.topic, done]);
      return;
    }
    await db.transaction(async (tx) => {
      if (leaseId !== undefined) await tx.query(q.DELETE_LEASE, [leaseId]);
      if (dead.length > 0) await tx.query(q.INSERT_DEAD, [spec.group, spec.topic, JSON.stringify(dead), now]);
      if (done.length > 0) await tx.query(q.DELETE_RETRIES, [spec.group, spec.topic, done]);
      if (again.length > 0) await tx.query(q.UPSERT_RETRIES, [spec.group, spec.topic, JSON.stringify(again), now]);
    });
  }

  /**
   * Group publish: callers publishing to a topic while that topic's transaction is in flight
   * join the next one, so N concurrent publishers cost one lock wait and one commit (fsync), not
   * N serialised ones: with a lock per call, webhook ingest queued behind it (bench/README.md,
   * reactions). Each caller still gets its own published/duplicate counts and its own failure.
   */
  const publisher = createGroupPublisher(async (topic, input) => {
    const inserted = await insertMessages(db, topic, input);
    wake(topic);
    return inserted;
  });

  /** One publish statement on `on` (the pool, or a caller's transaction that then holds the topic lock). */
  async function insertMessages(on: Queryable, topic: string, input: readonly OutgoingMessage[]): Promise<Set<string>> {
    const params: unknown[] = [topic, clock.now()];
    for (const m of input) params.push(m.id, m.key ?? null, JSON.stringify(m.payload));
    const { rows } = await on.query<{ msg_id: string }>(q.publishSql(input.length), params);
    return new Set(rows.map((r) => r.msg_id));
  }

  function validate(topic: string, messages: readonly OutgoingMessage[]): void {
    if (!TOPIC_PATTERN.test(topic))
      throw new SwitchyardError('BUS_MESSAGE_INVALID', `invalid topic name ${JSON.stringify(topic)}`);
    messages.forEach((m: OutgoingMessage, ord) => {
      if (typeof m.id !== 'string' || m.id.length === 0)
        throw new SwitchyardError('BUS_MESSAGE_INVALID', `message ${ord} on ${topic} has no id`);
      if (m.payload === undefined)
        throw new SwitchyardError('BUS_MESSAGE_INVALID', `message ${m.id} on ${topic} has no payload`);
    });
  }

  const deadLetters: DeadLetters = {
    ...createDeadLetterStore(db, clock),
    async retry(ids) {
      const now = clock.now();
      return db.transaction(async (tx) => {
        const { rows } = await tx.query<{ id: number; stage: string; topic: string; seq: number }>(
          q.MARK_DEAD_RETRIED,
          [ids, now],
        );
        if (rows.length > 0) await tx.query(q.REQUEUE_DEAD, [JSON.stringify(rows), now]);
        for (const topic of new Set(rows.map((r) => r.topic))) wake(topic);
        return rows.map((r) => r.id);
      });
    },
  };

  return {
    name: 'postgres-log',
    supportsKeyOrdering: true,
    // bus_fetch reads the range to the topic's end in its snapshot, and a waiter is registered at
    // once and woken by the NOTIFY of every later commit
    partialFetchDrains: true,
    async publish(topic, messages) {
      validate(topic, messages);
      if (messages.length === 0) return { published: 0, duplicates: 0 };
      return publisher.publish(topic, messages);
    },
    // The statement takes the topic lock, held until the caller's commit (seq order = commit
    // order), and its NOTIFY is delivered at that commit, which wakes this process's waiters too.
    async publishInTransaction(tx, topic, messages) {
      validate(topic, messages);
      if (messages.length === 0) return { published: 0, duplicates: 0 };
      const inserted = await insertMessages(tx, topic, messages);
      const published = messages.filter((m) => inserted.delete(m.id)).length;
      return { published, duplicates: messages.length - published };
    },
    async ensureGroup(spec) {
      await db.query(q.ENSURE_GROUP, [spec.group, spec.topic, spec.ordered ?? false]);
    },
    async fetch<P>(spec: GroupSpec, options: FetchOptions): Promise<FetchedBatch<P>> {
      const now = clock.now();
      const { rows, leaseId } = await claim(spec, options, now);
      const messages = (await toDeliveries(spec.topic, rows)) as Delivery<P>[];
      let settled = false;
      return {
        messages,
        async settle(outcomes) {
          if (settled) return;
          await settle(spec, messages, leaseId, outcomes);
          settled = true;
        },
      };
    },
    waitForMessages(topic, maxWaitMs, signal) {
      unlisten ??= db.listen('switchyard_bus', wake);
      return new Promise<void>((resolve) => {
        const stop = new AbortController();
        const done = (): void => {
          waiters.get(topic)?.delete(done);
          stop.abort();
          signal?.removeEventListener('abort', done);
          resolve();
        };
        if (signal?.aborted) return resolve();
        signal?.addEventListener('abort', done, { once: true });
        let set = waiters.get(topic);
        if (set === undefined) {
          set = new Set();
          waiters.set(topic, set);
        }
        set.add(done);
        clock.sleep(maxWaitMs, stop.signal).then(done, () => undefined);
      });
    },
    async depth(): Promise<GroupDepth[]> {
      const now = clock.now().getTime();
      const { rows } = await db.query<{
        group_name: string;
        topic: string;
        pending: number;
        in_flight: number;
        retrying: number;
        oldest_pending: Date | null;
      }>(q.DEPTH);
      return rows.map((r) => ({
        topic: r.topic,
        group: r.group_name,
        pending: r.pending,
        inFlight: r.in_flight,
        retrying: r.retrying,
        oldestPendingMs: r.oldest_pending === null ? 0 : Math.max(0, now - r.oldest_pending.getTime()),
      }));
    },
    deadLetters,
    async releaseInstance(instanceId) {
      const now = clock.now();
      const released = await db.transaction(async (tx) => {
        const byGroup = new Map<string, ReleasedWork>();
        const entry = (group: string, topic: string): ReleasedWork => {
          const k = `${group}\u0000${topic}`;
          let e = byGroup.get(k);
          if (e === undefined) {
            e = { group, topic, leases: 0, messages: 0, leaseEnd: null };
            byGroup.set(k, e);
          }
          return e;
        };
        const ranges = await tx.query<{
          group_name: string;
          topic: string;
          kind: string;
          n: number;
          until: Date | null;
        }>(q.RELEASE_INSTANCE_LEASES, [instanceId, now]);
        for (const r of ranges.rows) {
          if (r.kind === 'lease') {
            const e = entry(r.group_name, r.topic);
            e.leases += r.n;
            e.leaseEnd = r.until;
          } else entry(r.group_name, r.topic).messages += r.n;
        }
        const retries = await tx.query<{ group_name: string; topic: string }>(q.RELEASE_INSTANCE_RETRIES, [
          instanceId,
          now,
        ]);
        for (const r of retries.rows) {
          const e = entry(r.group_name, r.topic);
          e.leases++;
          e.messages++;
        }
        return [...byGroup.values()];
      });
      // consumers in other processes too: their messages are due now
      for (const topic of new Set(released.map((r) => r.topic))) {
        await db.query(q.NOTIFY, [topic]);
        wake(topic);
      }
      return released;
    },
    ping: () => db.ping(),
    async close() {
      for (const topic of [...waiters.keys()]) wake(topic);
      if (unlisten !== undefined) await (await unlisten)().catch(() => undefined);
    },
  };
}

/** `write` inserts the messages in list order and returns the ids it inserted (not duplicates). */
function createGroupPublisher(write: (topic: string, messages: readonly OutgoingMessage[]) => Promise<Set<string>>) {
  interface Waiter {
    messages: readonly OutgoingMessage[];
    resolve: (r: { published: number; duplicates: number }) => void;
    reject: (e: unknown) => void;
  }
  const queued = new Map<string, Waiter[]>();
  const busy = new Set<string>();

  async function publishAlone(topic: string, w: Waiter): Promise<void> {
    try {
      const inserted = await write(topic, w.messages);
      const published = w.messages.filter((m) => inserted.delete(m.id)).length;
      w.resolve({ published, duplicates: w.messages.length - published });
    } catch (err) {
      w.reject(err);
    }
  }

  async function drain(topic: string): Promise<void> {
    busy.add(topic);
    for (;;) {
      const group = queued.get(topic) ?? [];
      queued.delete(topic);
      if (group.length === 0) break;
      try {
        const inserted = await write(
          topic,
          group.flatMap((w) => w.messages),
        );
        for (const w of group) {
          // an id published twice in one group counts once, for the first caller
          const published = w.messages.filter((m) => inserted.delete(m.id)).length;
          w.resolve({ published, duplicates: w.messages.length - published });
        }
      } catch (err) {
        if (group.length === 1) group[0]!.reject(err);
        // one caller's bad message must not fail the others: retry each on its own
        else for (const w of group) await publishAlone(topic, w);
      }
    }
    busy.delete(topic);
  }

  return {
    publish(topic: string, messages: readonly OutgoingMessage[]): Promise<{ published: number; duplicates: number }> {
      return new Promise((resolve, reject) => {
        const list = queued.get(topic) ?? [];
        list.push({ messages, resolve, reject });
        queued.set(topic, list);
        if (!busy.has(topic)) void drain(topic);
      });
    },
  };
}
