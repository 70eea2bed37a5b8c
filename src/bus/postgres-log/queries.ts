/**
 * SQL of the postgres-log bus. Every statement is set-wise: one statement per publish call, per
 * fetch step and per settle step, whatever the batch size. Tables: migration 0001_bus.sql.
 */

/**
 * Publish of n messages, one statement (its own transaction, one round trip): one VALUES row per
 * message, each payload its own text parameter, so PostgreSQL copies the producer's JSON as it
 * is: lexing ~250 kB chunks as an array or as JSON is a large share of its time in a blast
 * (bench/README.md, bus). The topic lock serialises publishers of one topic until commit, so seq
 * order = commit order in a topic and a group cursor can never pass a seq that commits later. It
 * is taken in the one-row subquery every output row joins, so before the first row (and its seq)
 * exists; the NOTIFY there is delivered at commit. Rows are inserted in list order.
 * Parameters: $1 topic, $2 published_at, then (id, key, payload) per message.
 */
const publishStatements = new Map<number, string>();
export function publishSql(n: number): string {
  let sql = publishStatements.get(n);
  if (sql === undefined) {
    const rows = Array.from({ length: n }, (_, i) => `(${i}, $${3 + 3 * i}, $${4 + 3 * i}, $${5 + 3 * i})`);
    sql = `insert into bus_messages (topic, msg_id, msg_key, payload, published_at)
      select $1::text, v.msg_id, v.msg_key, v.payload, $2::timestamptz
      from (select pg_advisory_xact_lock(hashtext('switchyard_bus:' || $1::text)),
              pg_notify('switchyard_bus', $1::text)) as topic_lock
      cross join (values ${rows.join(', ')}) as v(n, msg_id, msg_key, payload)
      order by v.n
      on conflict (topic, msg_id) do nothing returning msg_id`;
    if (n <= 1000) publishStatements.set(n, sql);
  }
  return sql;
}

export const NOTIFY = `select pg_notify('switchyard_bus', $1)`;

export const ENSURE_GROUP = `
  insert into bus_groups (group_name, topic, ordered) values ($1, $2, $3)
  on conflict (group_name, topic) do nothing`;

export const DELETE_LEASE = `delete from bus_leases where id = $1`;

// A fetch, in one call of bus_fetch (migration 0017, which says what each of its steps is for). No
// payload comes back for the seqs in $10 (those the process holds parsed), nor any when $9 (a topic
// several of the process's groups read: their fetches, woken by one publish, run at once, so one
// read of the payloads serves them all): decoding the same text once per group was ~3 µs of the
// process's main thread per reaction event, seven groups reading each batch (bench/README.md).
export const FETCH = `
  select f.seq, f.msg_id, f.msg_key,
    case when $9::boolean or f.seq = any($10::bigint[]) then null else f.payload end as payload,
    f.published_at, f.attempts, f.lease_id
  from bus_fetch($1, $2, $3, $4, $5, $6, $7, $8) f`;

// The payloads a fetch left out that the process does not hold.
export const PAYLOADS = `select seq, payload from bus_messages where topic = $1 and seq = any($2::bigint[])`;

// Settling a batch whose messages were all acked: the lease and their retry rows go together.
// The commit does not wait for the WAL flush: if a crash loses it, the lease expires and the
// messages are delivered again, which at-least-once delivery allows.
export const SETTLE_ACKED = `
  with async_commit as (select set_config('synchronous_commit', 'off', true) as setting),
  lease as (delete from bus_leases where id = $1),
  retries as (delete from bus_retries where group_name = $2 and topic = $3 and seq = any($4::bigint[]))
  select setting from async_commit`;

export const INSERT_DEAD = `
  insert into dead_letters (stage, topic, seq, msg_id, msg_key, payload, code, message, attempts, first_failed_at,
    last_failed_at)
  select $1, $2, x.seq, m.msg_id, m.msg_key, m.payload::jsonb, x.code, x.message, x.attempts,
    coalesce(r.first_failed_at, $4), $4
  from jsonb_to_recordset($3::jsonb) as x(seq bigint, code text, message text, attempts int)
  join bus_messages m on m.topic = $2 and m.seq = x.seq
  left join bus_retries r on r.group_name = $1 and r.topic = $2 and r.seq = x.seq`;

export const DELETE_RETRIES = `
  delete from bus_retries where group_name = $1 and topic = $2 and seq = any($3::bigint[])`;

export const UPSERT_RETRIES = `
  insert into bus_retries (group_name, topic, seq, attempts, visible_at, leased, first_failed_at, last_error)
  select $1, $2, x.seq, x.attempts, x.visible_at, false, $4, x.error
  from jsonb_to_recordset($3::jsonb) as x(seq bigint, attempts int, visible_at timestamptz, error text)
  on conflict (group_name, topic, seq) do update
    set attempts = excluded.attempts, visible_at = excluded.visible_at, leased = false, leased_by = null,
        last_error = coalesce(excluded.last_error, bus_retries.last_error)`;

export const DEPTH = `
  select g.group_name, g.topic,
    (select count(*) from bus_messages m where m.topic = g.topic and m.seq > g.cursor)::int as pending,
    ((select count(*) from bus_leases l join bus_messages m
        on m.topic = l.topic and m.seq between l.from_seq and l.to_seq
      where l.group_name = g.group_name and l.topic = g.topic)
     + (select count(*) from bus_retries r where r.group_name = g.group_name and r.topic = g.topic
       and r.leased))::int as in_flight,
    (select count(*) from bus_retries r where r.group_name = g.group_name and r.topic = g.topic
      and not r.leased)::int as retrying,
    (select m.published_at from bus_messages m where m.topic = g.topic and m.seq > g.cursor
      order by m.seq limit 1) as oldest_pending
  from bus_groups g order by g.topic, g.group_name`;

export const MARK_DEAD_RETRIED = `
  update dead_letters set retried_at = $2
  where id = any($1::bigint[]) and retried_at is null and topic is not null and seq is not null
  returning id, stage, topic, seq`;

export const REQUEUE_DEAD = `
  insert into bus_retries (group_name, topic, seq, attempts, visible_at, leased)
  select x.stage, x.topic, x.seq, 0, $2, false
  from jsonb_to_recordset($1::jsonb) as x(stage text, topic text, seq bigint)
  on conflict (group_name, topic, seq) do update
    set attempts = 0, visible_at = excluded.visible_at, leased = false, leased_by = null`;

// A dead process's range leases become retry rows visible now, as if they had expired: the next
// fetch redelivers them with attempt 2, which is what makes the send stage mark in-doubt rows.
export const RELEASE_INSTANCE_LEASES = `
  with released as (
    delete from bus_leases where instance_id = $1::text
    returning group_name, topic, from_seq, to_seq, lease_until
  ), retried as (
    insert into bus_retries (group_name, topic, seq, attempts, visible_at, first_failed_at, last_error)
    select e.group_name, e.topic, m.seq, 1, $2, $2, 'the process holding the lease stopped (' || $1::text || ')'
    from released e join bus_messages m on m.topic = e.topic and m.seq between e.from_seq and e.to_seq
    on conflict do nothing
    returning group_name, topic
  )
  select group_name, topic, 'lease' as kind, count(*)::int as n, min(lease_until) as until
  from released group by group_name, topic
  union all
  select group_name, topic, 'message' as kind, count(*)::int as n, null::timestamptz as until
  from retried group by group_name, topic`;

// The dead process's leased retry rows: visible now, so they are redelivered at once.
export const RELEASE_INSTANCE_RETRIES = `
  update bus_retries set visible_at = $2, leased_by = null
  where leased_by = $1 and leased
  returning group_name, topic`;
