/**
 * NATS JetStream bus adapter. Topics live in one stream per topic family, each group is a durable
 * pull consumer with explicit acks; the broker keeps every message and every unacked delivery, so
 * a worker that dies loses nothing (its deliveries come back after the consumer's ack wait, which
 * is the fetch's lease). What the broker cannot do is held beside it in the Switchyard store:
 * de-duplication beyond the broker's window (bus_nats_ids), attempts that leave out put-backs, and
 * dead letters (Switchyard's dead_letters table, so `dead-letters list|retry` work unchanged).
 *
 * Time: leases and backoff are the broker's timers (ack wait, nak with delay) in real time. The
 * injected clock may run ahead of real time (the manual clock in tests); a lease or backoff that
 * is due on the clock before the broker's timer fires is handed back early with a confirmed nak,
 * so the clock, not the broker, decides when work is due, and the broker only ever fires late.
 */
import { performance } from 'node:perf_hooks';
import type { Msg, MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';
import { connect, createInbox, headers } from '@nats-io/transport-node';
import type { Clock } from '../../clock/port.ts';
import { SwitchyardError, toError } from '../../core/errors.ts';
import type { Db } from '../../store/port.ts';
import type {
  Bus,
  Delivery,
  FetchedBatch,
  FetchOptions,
  GroupDepth,
  GroupSpec,
  OutgoingMessage,
  Outcome,
} from '../port.ts';
import { createNatsDeadLetters } from './dead-letters.ts';
import { createJetStreamAdmin, type JetStreamAdmin } from './jetstream-admin.ts';
import * as q from './queries.ts';
import * as s from './subjects.ts';

export interface NatsBusDeps {
  db: Db;
  clock: Clock;
  /** Server URL(s) (the bus opens and closes its own connection) or an open connection (left open). */
  url?: string | string[];
  connection?: NatsConnection;
}

export interface NatsBusOptions {
  /** First token of every subject and stream name; one deployment's buses share it. */
  prefix?: string;
  /** The broker's duplicate window for `Nats-Msg-Id` (ms). */
  duplicateWindowMs?: number;
  /** How long streams keep messages (ms); groups created later still get what is kept. */
  maxAgeMs?: number;
  /** How long the store remembers published ids (ms); at least the stream's max age. */
  idRetentionMs?: number;
}

/** A delivery this bus handed out (lease) or put back with a delay (retry), by ack subject. */
interface Held {
  reply: string;
  consumer: string;
  /** On the clock: when the lease ends or the retry is due. */
  dueAt: number;
  /** In real time (performance.now()): when the broker's own timer will fire. */
  brokerAt: number;
  kind: 'lease' | 'retry';
}

const MARGIN_MS = 50;
const REQUEST_TIMEOUT_MS = 5_000;
const DEFAULT_LEASE_MS = 60_000;
const MAX_ACK_PENDING = 20_000;

export function createNatsBus(deps: NatsBusDeps, options: NatsBusOptions = {}): Bus {
  const { db, clock } = deps;
  const prefix = options.prefix ?? 'sy';
  const windowMs = options.duplicateWindowMs ?? 120_000;
  const maxAgeMs = options.maxAgeMs ?? 7 * 86_400_000;
  const idRetentionMs = Math.max(options.idRetentionMs ?? maxAgeMs, maxAgeMs);
  const ownsConnection = deps.connection === undefined;
  const ready: Promise<{ nc: NatsConnection; admin: JetStreamAdmin }> = (async () => {
    const nc =
      deps.connection
      ?? (await connect({ servers: deps.url ?? '127.0.0.1:4222', maxReconnectAttempts: -1, name: 'switchyard' }));
    return { nc, admin: createJetStreamAdmin(nc, { prefix, windowMs, maxAgeMs }) };
  })();
  ready.catch(() => undefined); // surfaced by the first call that awaits it
  const held = new Map<string, Held>();
  const wakeSubs = new Map<string, { sub: Subscription; waiters: Set<() => void> }>();
  let lastPrune = 0;
  let closed = false;

  async function conn(): Promise<Awaited<typeof ready>> {
    if (closed) throw new SwitchyardError('BUS_UNREACHABLE', 'the NATS bus is closed');
    try {
      return await ready;
    } catch (err) {
      throw new SwitchyardError('BUS_UNREACHABLE', `NATS connection failed: ${toError(err).message}`, {
        retryable: true,
        cause: err,
      });
    }
  }

  /** A nak the broker confirms (ack of the ack), so a fetch right after it sees the message. */
  async function nakNow(nc: NatsConnection, reply: string): Promise<void> {
    await nc.request(reply, '-NAK', { timeout: REQUEST_TIMEOUT_MS }).catch(() => undefined);
  }

  /** Hands back what is due on the clock before the broker's timer would fire. */
  async function giveBackDue(nc: NatsConnection, consumer: string): Promise<void> {
    const now = clock.now().getTime();
    const real = performance.now();
    const due: Held[] = [];
    for (const [reply, h] of held) {
      if (h.consumer !== consumer || h.dueAt > now) continue;
      held.delete(reply);
      if (h.brokerAt - real > MARGIN_MS) due.push(h);
    }
    due.sort((a, b) => s.parseAckSubject(a.reply).streamSeq - s.parseAckSubject(b.reply).streamSeq);
    for (const h of due) await nakNow(nc, h.reply);
  }

  /** One pull request with no_wait: whatever is deliverable now, up to max. Its own inbox
   *  subscription, since delivered messages carry their stream subject, not the inbox. */
  async function pull(nc: NatsConnection, stream: string, consumer: string, max: number): Promise<Msg[]> {
    const inbox = createInbox();
    const got: Msg[] = [];
    return new Promise<Msg[]>((resolve, reject) => {
      const finish = (err: Error | null): void => {
        clearTimeout(timer);
        sub.unsubscribe();
        if (err === null) resolve(got);
        else reject(err);
      };
      const timer = setTimeout(
        () => finish(new SwitchyardError('BUS_UNREACHABLE', 'NATS did not answer a fetch', { retryable: true })),
        REQUEST_TIMEOUT_MS,
      );
      const sub = nc.subscribe(inbox, {
        callback: (_err, m) => {
          const code = m.headers?.code ?? 0;
          if (code === 0 && m.reply) got.push(m);
          if (code === 0 && got.length < max) return;
          if (code === 0 || code === 404 || code === 408 || code === 409) finish(null);
          else finish(new SwitchyardError('BUS_UNREACHABLE', `NATS fetch failed: ${code}`, { retryable: true }));
        },
      });
      const api = `$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`; // a JetStream API subject, not a topic
      nc.publish(api, JSON.stringify({ batch: max, no_wait: true }), { reply: inbox });
    });
  }

  function header(h: MsgHdrs | undefined, name: string): string | null {
    const v = h?.get(name);
    return v === undefined || v === '' ? null : v;
  }

  async function fetch<P>(spec: GroupSpec, opts: FetchOptions): Promise<FetchedBatch<P>> {
    s.checkTopic(spec.topic);
    s.checkGroup(spec.group);
    const { nc, admin } = await conn();
    const c = await admin.ensureConsumer(spec, opts.leaseMs, spec.ordered ? opts.max : MAX_ACK_PENDING);
    await giveBackDue(nc, c.name);
    if (spec.ordered && [...held.values()].some((h) => h.consumer === c.name && h.kind === 'lease'))
      return emptyBatch<P>(); // an ordered group has one batch out at a time
    const raw = await pull(nc, c.stream, c.name, opts.max);
    const now = clock.now();
    type Pending = { msg: Msg; info: s.AckInfo; id: string; key: string | null };
    const mine: Pending[] = [];
    for (const m of raw) {
      const target = s.targetGroup(m.subject);
      if (target !== null && target !== spec.group) {
        m.respond('+ACK'); // a copy put back for another group
        continue;
      }
      // the broker's id is `<topic>:<id>` (its dedup is per stream, and a stream holds a family of topics)
      const id = header(m.headers, 'Sy-Id') ?? (header(m.headers, 'Nats-Msg-Id') ?? '').slice(spec.topic.length + 1);
      mine.push({ msg: m, info: s.parseAckSubject(m.reply!), id, key: header(m.headers, 'Sy-Key') });
    }
    const redelivered = mine.filter((p) => p.info.deliveries > 1).map((p) => p.info.streamSeq);
    const notes = new Map<number, { releases: number; firstFailedAt: Date | null }>();
    if (redelivered.length > 0) {
      const { rows } = await db.query<{ seq: number; releases: number; first_failed_at: Date | null }>(
        q.READ_REDELIVERIES,
        [spec.group, spec.topic, redelivered],
      );
      for (const r of rows) notes.set(Number(r.seq), { releases: r.releases, firstFailedAt: r.first_failed_at });
    }
    const messages: Delivery<P>[] = [];
    const replies: string[] = [];
    const dead: Record<string, unknown>[] = [];
    const deadReplies: string[] = [];
    for (const p of mine) {
      const note = notes.get(p.info.streamSeq);
      const attempt = p.info.deliveries - (note?.releases ?? 0);
      let payload: unknown;
      let problem: { code: string; message: string } | null = null;
      try {
        payload = JSON.parse(p.msg.string());
      } catch {
        problem = { code: 'BUS_MESSAGE_INVALID', message: 'payload is not JSON' };
      }
      if (problem === null && attempt > opts.maxAttempts)
        problem = { code: 'BUS_ATTEMPTS_EXHAUSTED', message: `lease expired on all ${opts.maxAttempts} attempts` };
      if (problem !== null) {
        dead.push(deadRow(p.info.streamSeq, p.id, p.key, payload ?? null, problem, attempt - 1, note?.firstFailedAt));
        deadReplies.push(p.msg.reply!);
        continue;
      }
      messages.push({
        topic: spec.topic,
        id: p.id,
        key: p.key,
        payload: payload as P,
        seq: p.info.streamSeq,
        attempt,
        publishedAt: p.info.publishedAt,
      });
      replies.push(p.msg.reply!);
    }
    if (dead.length > 0) {
      await db.query(q.INSERT_DEAD, [spec.group, spec.topic, JSON.stringify(dead), now]);
      for (const r of deadReplies) nc.publish(r, '+TERM');
    }
    if (spec.ordered) {
      const order = messages.map((_m, i) => i).sort((a, b) => messages[a]!.seq - messages[b]!.seq);
      const sortedM = order.map((i) => messages[i]!);
      const sortedR = order.map((i) => replies[i]!);
      messages.splice(0, messages.length, ...sortedM);
      replies.splice(0, replies.length, ...sortedR);
    }
    const leaseEnd = now.getTime() + opts.leaseMs;
    const brokerAt = performance.now() + opts.leaseMs;
    for (const r of replies) held.set(r, { reply: r, consumer: c.name, dueAt: leaseEnd, brokerAt, kind: 'lease' });
    let settled = false;
    return {
      messages,
      async settle(outcomes) {
        if (outcomes.length !== messages.length) {
          throw new SwitchyardError(
            'BUS_MESSAGE_INVALID',
            `settle got ${outcomes.length} outcomes for ${messages.length} messages`,
          );
        }
        if (settled) return;
        settled = true;
        await settleBatch(nc, spec, c.name, messages, replies, new Set(redelivered), outcomes);
      },
    };
  }

  async function settleBatch(
    nc: NatsConnection,
    spec: GroupSpec,
    consumer: string,
    messages: Delivery[],
    replies: string[],
    redelivered: ReadonlySet<number>,
    outcomes: readonly Outcome[],
  ): Promise<void> {
    const now = clock.now();
    const acks: string[] = [];
    const forget: number[] = [];
    const dead: Record<string, unknown>[] = [];
    const terms: string[] = [];
    const naks: { reply: string; delayMs: number }[] = [];
    const notes: { seq: number; released: boolean }[] = [];
    let orderedHold = 0; // ordered: what follows a retry waits as long as it does
    outcomes.forEach((o, i) => {
      const m = messages[i]!;
      const reply = replies[i]!;
      const h = held.get(reply);
      if (h === undefined || h.kind !== 'lease') return; // the lease was lost: settling it is a no-op
      held.delete(reply);
      switch (o.kind) {
        case 'ack':
          acks.push(reply);
          if (redelivered.has(m.seq)) forget.push(m.seq);
          break;
        case 'dead':
          dead.push(deadRow(m.seq, m.id, m.key, m.payload, o.error, m.attempt, null));
          terms.push(reply);
          forget.push(m.seq);
          break;
        case 'retry':
          orderedHold = Math.max(orderedHold, o.delayMs);
          naks.push({ reply, delayMs: o.delayMs });
          notes.push({ seq: m.seq, released: false });
          break;
        case 'release':
          naks.push({ reply, delayMs: spec.ordered ? Math.max(orderedHold, o.delayMs ?? 0) : (o.delayMs ?? 0) });
          notes.push({ seq: m.seq, released: true });
          break;
      }
    });
    if (notes.length > 0) await db.query(q.NOTE_REDELIVERIES, [spec.group, spec.topic, JSON.stringify(notes), now]);
    if (dead.length > 0) {
      // first failure times recorded by earlier retries
      const { rows } = await db.query<{ seq: number; first_failed_at: Date | null }>(q.READ_REDELIVERIES, [
        spec.group,
        spec.topic,
        dead.map((d) => d.seq),
      ]);
      const first = new Map(rows.map((r) => [Number(r.seq), r.first_failed_at]));
      for (const d of dead) d.first = first.get(d.seq as number) ?? null;
      await db.query(q.INSERT_DEAD, [spec.group, spec.topic, JSON.stringify(dead), now]);
    }
    if (forget.length > 0) await db.query(q.FORGET_REDELIVERIES, [spec.group, spec.topic, forget]);
    for (const r of acks) nc.publish(r, '+ACK');
    for (const r of terms) nc.publish(r, '+TERM');
    const real = performance.now();
    for (const n of naks) {
      nc.publish(n.reply, n.delayMs > 0 ? `-NAK ${JSON.stringify({ delay: n.delayMs * 1_000_000 })}` : '-NAK');
      if (n.delayMs > 0)
        held.set(n.reply, {
          reply: n.reply,
          consumer,
          dueAt: now.getTime() + n.delayMs,
          brokerAt: real + n.delayMs,
          kind: 'retry',
        });
    }
    await nc.flush();
  }

  function deadRow(
    seq: number,
    id: string,
    key: string | null,
    payload: unknown,
    error: { code: string; message: string },
    attempts: number,
    first: Date | null | undefined,
  ): Record<string, unknown> {
    return { seq, id, key, payload, code: error.code, message: error.message, attempts, first: first ?? null };
  }

  async function publish<P>(
    topic: string,
    messages: readonly OutgoingMessage<P>[],
  ): Promise<{ published: number; duplicates: number }> {
    s.checkTopic(topic);
    if (messages.length === 0) return { published: 0, duplicates: 0 };
    const bodies = messages.map((m, ord) => {
      if (typeof m.id !== 'string' || m.id.length === 0)
        throw new SwitchyardError('BUS_MESSAGE_INVALID', `message ${ord} on ${topic} has no id`);
      if (m.payload === undefined)
        throw new SwitchyardError('BUS_MESSAGE_INVALID', `message ${m.id} on ${topic} has no payload`);
      return JSON.stringify(m.payload);
    });
    const { nc, admin } = await conn();
    await admin.ensureStream(topic);
    const now = clock.now();
    const ids = [...new Set(messages.map((m) => m.id))];
    const { rows } = await db.query<{ msg_id: string }>(q.RESERVE_IDS, [
      topic,
      ids,
      now,
      new Date(now.getTime() - windowMs),
    ]);
    const fresh = new Set(rows.map((r) => r.msg_id));
    const subject = s.messageSubject(prefix, topic);
    const sent: string[] = [];
    const results = await Promise.allSettled(
      messages.map(async (m, i) => {
        if (!fresh.delete(m.id)) return false; // a repeat, here or earlier
        const h = headers();
        h.set('Nats-Msg-Id', `${topic}:${m.id}`);
        if (m.key !== undefined) h.set('Sy-Key', m.key);
        const ack = await admin.js.publish(subject, bodies[i]!, { headers: h, timeout: REQUEST_TIMEOUT_MS });
        sent.push(m.id);
        return !ack.duplicate;
      }),
    );
    const failed = results.find((r) => r.status === 'rejected');
    if (sent.length > 0) await db.query(q.CONFIRM_IDS, [topic, sent]);
    if (failed !== undefined) {
      const unsent = ids.filter((id) => !sent.includes(id));
      await db.query(q.UNRESERVE_IDS, [topic, unsent]).catch(() => undefined);
      throw new SwitchyardError('BUS_UNREACHABLE', `NATS publish failed: ${toError(failed.reason).message}`, {
        retryable: true,
        cause: failed.reason,
      });
    }
    nc.publish(s.wakeSubject(prefix, topic));
    await pruneIds(now);
    const published = results.filter((r) => r.status === 'fulfilled' && r.value).length;
    return { published, duplicates: messages.length - published };
  }

  async function pruneIds(now: Date): Promise<void> {
    if (now.getTime() - lastPrune < 600_000) return;
    lastPrune = now.getTime();
    await db.query(q.PRUNE_IDS, [new Date(now.getTime() - idRetentionMs)]);
  }

  async function waitForMessages(topic: string, maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    s.checkTopic(topic);
    const { nc } = await conn();
    let entry = wakeSubs.get(topic);
    if (entry === undefined) {
      const waiters = new Set<() => void>();
      const sub = nc.subscribe(s.wakeSubject(prefix, topic), {
        callback: () => {
          for (const w of [...waiters]) w();
        },
      });
      entry = { sub, waiters };
      wakeSubs.set(topic, entry);
      await nc.flush(); // the subscription is in place before anyone publishes
    }
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const waiters = entry.waiters;
    let wake: () => void = () => undefined;
    const woken = new Promise<void>((resolve) => {
      wake = resolve;
    });
    waiters.add(wake);
    try {
      await Promise.race([woken, clock.sleep(maxWaitMs, stop.signal).catch(() => undefined)]);
    } finally {
      waiters.delete(wake);
      stop.abort();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async function depth(): Promise<GroupDepth[]> {
    const { admin } = await conn();
    const now = clock.now().getTime();
    const out: GroupDepth[] = [];
    for (const c of await admin.listConsumers()) {
      let retrying = 0;
      for (const h of held.values()) if (h.consumer === c.name && h.kind === 'retry' && h.dueAt > now) retrying++;
      out.push({
        topic: c.topic,
        group: c.group,
        pending: c.pending,
        inFlight: Math.max(0, c.ackPending - retrying),
        retrying,
        oldestPendingMs: c.oldestPendingAt === null ? 0 : Math.max(0, Date.now() - c.oldestPendingAt.getTime()),
      });
    }
    return out;
  }

  return {
    name: 'nats',
    supportsKeyOrdering: true,
    publish,
    async ensureGroup(spec) {
      s.checkTopic(spec.topic);
      s.checkGroup(spec.group);
      const { admin } = await conn();
      await admin.ensureConsumer(spec, DEFAULT_LEASE_MS, spec.ordered ? 100 : MAX_ACK_PENDING);
    },
    fetch,
    waitForMessages,
    depth,
    deadLetters: createNatsDeadLetters({ db, clock, publishCopy }),
    async ping() {
      const { nc } = await conn();
      await nc.flush();
    },
    async close() {
      if (closed) return;
      const c = await ready.catch(() => null);
      closed = true;
      if (c === null) return;
      // graceful stop: what this process still holds goes back now instead of after the ack wait
      const leases = [...held.values()].filter((h) => h.kind === 'lease');
      held.clear();
      await Promise.all(leases.map((h) => nakNow(c.nc, h.reply)));
      for (const { sub } of wakeSubs.values()) sub.unsubscribe();
      if (ownsConnection) await c.nc.drain().catch(() => c.nc.close());
      else await c.nc.flush().catch(() => undefined);
    },
  };

  /** Puts a dead letter back for one group: a copy on the group's own subject, a fresh broker id. */
  async function publishCopy(copy: {
    dlId: number;
    group: string;
    topic: string;
    id: string;
    key: string | null;
    payload: string;
  }): Promise<void> {
    const { nc, admin } = await conn();
    await admin.ensureStream(copy.topic);
    const h = headers();
    h.set('Nats-Msg-Id', `${copy.topic}:${copy.id}#dead-letter-${copy.dlId}`);
    h.set('Sy-Id', copy.id);
    if (copy.key !== null) h.set('Sy-Key', copy.key);
    await admin.js.publish(s.groupSubject(prefix, copy.topic, copy.group), copy.payload, {
      headers: h,
      timeout: REQUEST_TIMEOUT_MS,
    });
    nc.publish(s.wakeSubject(prefix, copy.topic));
  }
}

function emptyBatch<P>(): FetchedBatch<P> {
  return { messages: [], settle: async () => undefined };
}
