/**
 * The NATS bus's SQL: the long-lived publish guard (bus_nats_ids), the attempt bookkeeping of
 * redelivered messages (bus_nats_redeliveries), and Switchyard's dead_letters table, which the
 * postgres-log bus shares so `dead-letters list|retry` work the same on both buses.
 */

// Reserves the ids not yet seen; an unconfirmed reservation older than the broker's duplicate
// window ($4) is taken over (its publisher died before the broker stored the message).
export const RESERVE_IDS = `
  insert into bus_nats_ids (topic, msg_id, reserved_at)
  select $1, x, $3 from unnest($2::text[]) as x
  on conflict (topic, msg_id) do update set reserved_at = excluded.reserved_at
    where not bus_nats_ids.confirmed and bus_nats_ids.reserved_at < $4
  returning msg_id`;

export const CONFIRM_IDS = `
  update bus_nats_ids set confirmed = true where topic = $1 and msg_id = any($2::text[])`;

export const UNRESERVE_IDS = `
  delete from bus_nats_ids where topic = $1 and msg_id = any($2::text[]) and not confirmed`;

export const PRUNE_IDS = `delete from bus_nats_ids where reserved_at < $1`;

export const READ_REDELIVERIES = `
  select seq, releases, first_failed_at from bus_nats_redeliveries
  where group_name = $1 and topic = $2 and seq = any($3::bigint[])`;

// $3: [{seq, released}] — released adds one put-back; a failure only records its first time
export const NOTE_REDELIVERIES = `
  insert into bus_nats_redeliveries (group_name, topic, seq, releases, first_failed_at)
  select $1, $2, x.seq, case when x.released then 1 else 0 end, case when x.released then null else $4::timestamptz end
  from jsonb_to_recordset($3::jsonb) as x(seq bigint, released boolean)
  on conflict (group_name, topic, seq) do update
    set releases = bus_nats_redeliveries.releases + excluded.releases,
      first_failed_at = coalesce(bus_nats_redeliveries.first_failed_at, excluded.first_failed_at)`;

export const FORGET_REDELIVERIES = `
  delete from bus_nats_redeliveries where group_name = $1 and topic = $2 and seq = any($3::bigint[])`;

// $3: [{seq, id, key, payload, code, message, attempts, first}]
export const INSERT_DEAD = `
  insert into dead_letters (stage, topic, seq, msg_id, msg_key, payload, code, message, attempts, first_failed_at,
    last_failed_at)
  select $1, $2, x.seq, x.id, x.key, x.payload, x.code, x.message, x.attempts, coalesce(x.first, $4), $4
  from jsonb_to_recordset($3::jsonb) as x(seq bigint, id text, key text, payload jsonb, code text, message text,
    attempts int, first timestamptz)`;

export const MARK_DEAD_RETRIED = `
  update dead_letters set retried_at = $2
  where id = any($1::bigint[]) and retried_at is null and topic is not null and msg_id is not null
  returning id, stage, topic, msg_id, msg_key, payload::text as payload`;

export const UNMARK_DEAD_RETRIED = `update dead_letters set retried_at = null where id = any($1::bigint[])`;
