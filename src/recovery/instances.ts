/**
 * Process instances: every process that runs stage workers registers a row in the store and
 * heartbeats on its clock. Each one also sweeps: an instance whose heartbeat is older than
 * deadAfterMs has stopped (crashed, killed, lost its host), so its bus leases are handed back at
 * once rather than after the lease, and the first redelivery marks its in-doubt sends as before.
 * A clean stop deletes the row and hands back whatever is still leased.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { Bus, ReleasedWork } from '../bus/port.ts';
import type { Clock } from '../clock/port.ts';
import type { Db } from '../store/port.ts';

export interface InstanceOptions {
  /** Clock time between heartbeats (and sweeps). */
  heartbeatMs: number;
  /** Heartbeat age after which another process declares an instance stopped. */
  deadAfterMs: number;
}

export interface InstanceDeps {
  db: Db;
  bus: Bus;
  clock: Clock;
  log: Logger;
  /** Where the recovery counters are registered (the app's metrics registry). */
  registry?: Registry;
}

/** One sweep's work on one stopped instance. */
export interface Recovery {
  instanceId: string;
  pid: number;
  host: string;
  role: string;
  lastHeartbeatAt: Date;
  leases: number;
  messages: number;
  released: ReleasedWork[];
}

export interface ProcessInstance {
  readonly id: string;
  /** Registers the row, sweeps once, then heartbeats and sweeps every heartbeatMs until stop(). */
  start(info: { role: string; stages: readonly string[] }): Promise<void>;
  /** One heartbeat and one sweep (what the loop runs); returns what was recovered. */
  tick(): Promise<Recovery[]>;
  /** Ends the loop, hands back anything still leased and deletes the row. Call after the consumers stopped. */
  stop(): Promise<void>;
}

/** Unique per process start, readable in logs: host, pid and a random suffix. */
export function newInstanceId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

export function createProcessInstance(deps: InstanceDeps, options: InstanceOptions & { id: string }): ProcessInstance {
  const { db, bus, clock, log } = deps;
  const { id } = options;
  const stop = new AbortController();
  let info: { role: string; stages: readonly string[] } | undefined;
  let loop: Promise<void> | undefined;
  const counters = deps.registry === undefined ? undefined : recoveryCounters(deps.registry);

  async function register(): Promise<void> {
    const now = clock.now();
    log.info(
      { instance: id, role: info?.role, stages: info?.stages },
      `instance ${id} registered; heartbeat every ${options.heartbeatMs} ms, `
        + `taken as stopped after ${options.deadAfterMs} ms without one`,
    );
    await db.query(
      `insert into process_instances (id, pid, host, role, stages, started_at, heartbeat_at)
       values ($1, $2, $3, $4, $5, $6, $6)
       on conflict (id) do update set heartbeat_at = excluded.heartbeat_at`,
      [id, process.pid, hostname(), info?.role ?? 'worker', [...(info?.stages ?? [])], now],
    );
  }

  async function heartbeat(): Promise<void> {
    const { rows } = await db.query('update process_instances set heartbeat_at = $2 where id = $1 returning id', [
      id,
      clock.now(),
    ]);
    if (rows.length > 0) return;
    // Declared stopped while alive (paused too long): our leases were handed to others and their
    // settles will be ignored; register again so what we lease from now on is ours.
    log.warn({ instance: id }, `instance ${id} was declared stopped by another process; registering again`);
    await register();
  }

  async function sweep(): Promise<Recovery[]> {
    const threshold = new Date(clock.now().getTime() - options.deadAfterMs);
    const { rows } = await db.query<{ id: string; pid: number; host: string; role: string; heartbeat_at: Date }>(
      'select id, pid, host, role, heartbeat_at from process_instances where heartbeat_at < $1 and id <> $2',
      [threshold, id],
    );
    const recovered: Recovery[] = [];
    for (const dead of rows) {
      // The row goes first, atomically: one sweeper wins, and an instance that was only paused
      // finds its row gone at its next heartbeat and says so. A sweeper stopping before the
      // release leaves those leases to expire as they would have without instances.
      const { rows: gone } = await db.query(
        'delete from process_instances where id = $1 and heartbeat_at < $2 returning id',
        [dead.id, threshold],
      );
      if (gone.length === 0) continue; // another sweeper got it, or it heartbeat meanwhile
      const released = (await bus.releaseInstance?.(dead.id)) ?? [];
      const r: Recovery = {
        instanceId: dead.id,
        pid: dead.pid,
        host: dead.host,
        role: dead.role,
        lastHeartbeatAt: dead.heartbeat_at,
        leases: released.reduce((n, w) => n + w.leases, 0),
        messages: released.reduce((n, w) => n + w.messages, 0),
        released,
      };
      await db.query(
        `insert into process_recoveries
           (instance_id, recovered_by, recovered_at, last_heartbeat_at, leases, messages, detail)
         values ($1, $2, $3, $4, $5, $6, $7)`,
        [r.instanceId, id, clock.now(), r.lastHeartbeatAt, r.leases, r.messages, JSON.stringify(released)],
      );
      report(r);
      recovered.push(r);
    }
    return recovered;
  }

  function report(r: Recovery): void {
    const perTopic = r.released.map((w) => `${w.topic}/${w.group}: ${w.leases} leases, ${w.messages} messages`);
    log.info(
      {
        recovered: {
          instance: r.instanceId,
          pid: r.pid,
          host: r.host,
          role: r.role,
          lastHeartbeatAt: r.lastHeartbeatAt,
          leases: r.leases,
          messages: r.messages,
          released: r.released,
        },
      },
      `recovered work of stopped instance ${r.instanceId} (last heartbeat ${r.lastHeartbeatAt.toISOString()}): `
        + `released ${r.leases} leases, ${r.messages} messages`
        + (perTopic.length > 0 ? ` (${perTopic.join('; ')})` : ''),
    );
    counters?.instances.inc();
    for (const w of r.released) counters?.messages.inc({ topic: w.topic, group: w.group }, w.messages);
  }

  async function tick(): Promise<Recovery[]> {
    await heartbeat();
    return sweep();
  }

  async function run(): Promise<void> {
    while (!stop.signal.aborted) {
      try {
        await clock.sleep(options.heartbeatMs, stop.signal);
      } catch {
        return; // stop()
      }
      // A store hiccup must not end the heartbeat: the next tick tries again.
      await tick().catch((err: unknown) => log.warn({ err, instance: id }, 'instance heartbeat or sweep failed'));
    }
  }

  return {
    id,
    async start(i) {
      info = i;
      await register();
      await sweep().catch((err: unknown) => log.warn({ err, instance: id }, 'instance sweep failed'));
      loop ??= run();
    },
    tick,
    async stop() {
      stop.abort();
      await loop;
      if (info === undefined) return;
      await bus.releaseInstance?.(id);
      await db.query('delete from process_instances where id = $1', [id]);
    },
  };
}

function recoveryCounters(registry: Registry) {
  const existing = registry.getSingleMetric('switchyard_recovered_instances_total');
  if (existing !== undefined) {
    return {
      instances: existing as Counter,
      messages: registry.getSingleMetric('switchyard_recovered_messages_total') as Counter<'topic' | 'group'>,
    };
  }
  return {
    instances: new Counter({
      name: 'switchyard_recovered_instances_total',
      help: 'Stopped process instances whose work this process released',
      registers: [registry],
    }),
    messages: new Counter({
      name: 'switchyard_recovered_messages_total',
      help: 'Bus messages made deliverable again because the process holding them stopped',
      labelNames: ['topic', 'group'] as const,
      registers: [registry],
    }),
  };
}

/** Recent recoveries, newest first: for a status report ("work of a stopped process was taken over"). */
export async function listRecoveries(
  db: Db,
  filter: { since?: Date; limit?: number } = {},
): Promise<{ instanceId: string; recoveredBy: string; recoveredAt: Date; leases: number; messages: number }[]> {
  const { rows } = await db.query<{
    instance_id: string;
    recovered_by: string;
    recovered_at: Date;
    leases: number;
    messages: number;
  }>(
    `select instance_id, recovered_by, recovered_at, leases, messages from process_recoveries
     where $1::timestamptz is null or recovered_at >= $1 order by id desc limit $2`,
    [filter.since ?? null, filter.limit ?? 20],
  );
  return rows.map((r) => ({
    instanceId: r.instance_id,
    recoveredBy: r.recovered_by,
    recoveredAt: r.recovered_at,
    leases: r.leases,
    messages: r.messages,
  }));
}
