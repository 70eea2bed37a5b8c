/**
 * Streams and durable consumers of the NATS bus: created on first use (by whichever process
 * gets there first; the broker makes an identical create a no-op), cached per process, and read
 * back for depth. A consumer's description carries its Switchyard topic and group, so depth can
 * name them without a second registry.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type MsgRequest,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import type { GroupSpec } from '../port.ts';
import * as s from './subjects.ts';

export interface ConsumerRef {
  stream: string;
  name: string;
}

export interface ConsumerState {
  name: string;
  topic: string;
  group: string;
  /** Not yet delivered to the group. */
  pending: number;
  /** Delivered, not yet acked (in flight or waiting for a redelivery). */
  ackPending: number;
  oldestPendingAt: Date | null;
}

export interface JetStreamAdmin {
  readonly js: JetStreamClient;
  ensureStream(topic: string): Promise<string>;
  ensureConsumer(spec: GroupSpec, leaseMs: number, maxAckPending: number): Promise<ConsumerRef>;
  listConsumers(): Promise<ConsumerState[]>;
}

const MS = 1_000_000; // nanoseconds

export function createJetStreamAdmin(
  nc: NatsConnection,
  o: { prefix: string; windowMs: number; maxAgeMs: number },
): JetStreamAdmin {
  const js = jetstream(nc);
  let jsm: Promise<JetStreamManager> | undefined;
  const streams = new Map<string, Promise<string>>();
  const consumers = new Map<string, { ref: Promise<ConsumerRef>; leaseMs: number }>();
  const manager = (): Promise<JetStreamManager> => {
    jsm ??= jetstreamManager(nc);
    return jsm;
  };

  async function createStream(topic: string): Promise<string> {
    const m = await manager();
    const name = s.streamName(o.prefix, topic);
    const exists = await m.streams.info(name).then(
      () => true,
      () => false,
    );
    if (!exists) {
      await m.streams
        .add({
          name,
          subjects: [s.streamSubjects(o.prefix, topic)],
          storage: StorageType.File,
          retention: RetentionPolicy.Limits,
          max_age: o.maxAgeMs * MS,
          duplicate_window: o.windowMs * MS,
        })
        .catch(async (err: unknown) => {
          // another process created it meanwhile
          await m.streams.info(name).catch(() => Promise.reject(err));
        });
    }
    return name;
  }

  function ensureStream(topic: string): Promise<string> {
    const name = s.streamName(o.prefix, topic);
    let p = streams.get(name);
    if (p === undefined) {
      p = createStream(topic);
      streams.set(name, p);
      p.catch(() => streams.delete(name));
    }
    return p;
  }

  async function createConsumer(spec: GroupSpec, leaseMs: number, maxAckPending: number): Promise<ConsumerRef> {
    const stream = await ensureStream(spec.topic);
    const m = await manager();
    const name = s.consumerName(spec.topic, spec.group);
    const info = await m.consumers.info(stream, name).catch(() => null);
    if (info === null) {
      await m.consumers
        .add(stream, {
          durable_name: name,
          description: JSON.stringify({ topic: spec.topic, group: spec.group }),
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          filter_subject: s.consumerFilter(o.prefix, spec.topic),
          ack_wait: leaseMs * MS,
          max_deliver: -1, // attempts are counted by the bus, which dead-letters into the store
          max_ack_pending: maxAckPending,
        })
        .catch(async (err: unknown) => {
          await m.consumers.info(stream, name).catch(() => Promise.reject(err));
        });
    } else if (info.config.ack_wait !== leaseMs * MS) {
      await m.consumers.update(stream, name, { ack_wait: leaseMs * MS });
    }
    return { stream, name };
  }

  return {
    js,
    ensureStream,
    ensureConsumer(spec, leaseMs, maxAckPending) {
      const key = `${spec.group}\u0000${spec.topic}`;
      const known = consumers.get(key);
      if (known !== undefined && (known.leaseMs === leaseMs || leaseMs === 60_000)) return known.ref;
      const ref = createConsumer(spec, leaseMs, maxAckPending);
      consumers.set(key, { ref, leaseMs });
      ref.catch(() => consumers.delete(key));
      return ref;
    },
    async listConsumers() {
      const m = await manager();
      const out: ConsumerState[] = [];
      for await (const st of m.streams.list()) {
        if (!st.config.name.startsWith(`${o.prefix.toUpperCase()}_`)) continue;
        for await (const c of m.consumers.list(st.config.name)) {
          let meta: { topic?: string; group?: string } = {};
          try {
            meta = JSON.parse(c.config.description ?? '{}');
          } catch {
            continue; // not one of ours
          }
          if (typeof meta.topic !== 'string' || typeof meta.group !== 'string') continue;
          let oldestPendingAt: Date | null = null;
          if (c.num_pending > 0) {
            const next = await m.streams
              // the first message of the group's subjects after what it was last given (server 2.9+)
              .getMessage(st.config.name, {
                seq: c.delivered.stream_seq + 1,
                next_by_subj: c.config.filter_subject ?? '',
              } as unknown as MsgRequest)
              .catch(() => null);
            oldestPendingAt = next?.time ?? null;
          }
          out.push({
            name: c.name,
            topic: meta.topic,
            group: meta.group,
            pending: c.num_pending,
            ackPending: c.num_ack_pending,
            oldestPendingAt,
          });
        }
      }
      return out;
    },
  };
}
