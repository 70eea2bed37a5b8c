-- bus_fetch (0017) with its range read as static SQL instead of `return query execute`: the dynamic
-- statement (a read and two writes in CTEs) was parsed and planned at every call, ~10 % of the app's
-- PostgreSQL CPU in the reactions pipeline, where every consumer group fetches after every publish
-- (bench/README.md, reactions; decision 0034). Same steps, same results otherwise.
create or replace function bus_fetch(
  p_group text, p_topic text, p_ordered boolean, p_now timestamptz, p_lease_until timestamptz, p_max integer,
  p_max_attempts integer, p_holder text)
returns table (seq bigint, msg_id text, msg_key text, payload text, published_at timestamptz, attempts integer,
  lease_id bigint)
language plpgsql as $$
#variable_conflict use_column
declare
  g_cursor bigint;
  g_ordered boolean;
  s record;
  n_retried integer := 0;
begin
  perform set_config('synchronous_commit', 'off', true);
  insert into bus_groups (group_name, topic, ordered) values (p_group, p_topic, p_ordered)
  on conflict (group_name, topic) do nothing;
  select g.cursor, g.ordered into g_cursor, g_ordered from bus_groups g
  where g.group_name = p_group and g.topic = p_topic for update;
  if not found then
    raise exception 'group % on % vanished', p_group, p_topic;
  end if;

  with expired as (
    delete from bus_leases l where l.group_name = p_group and l.topic = p_topic and l.lease_until <= p_now
    returning l.from_seq, l.to_seq
  )
  insert into bus_retries (group_name, topic, seq, attempts, visible_at, first_failed_at, last_error)
  select p_group, p_topic, m.seq, 1, p_now, p_now, 'lease expired before the batch was settled'
  from expired e join bus_messages m on m.topic = p_topic and m.seq between e.from_seq and e.to_seq
  on conflict do nothing;

  with dead as (
    delete from bus_retries r
    where r.group_name = p_group and r.topic = p_topic and r.leased and r.visible_at <= p_now
      and r.attempts >= p_max_attempts
    returning r.seq, r.attempts, r.first_failed_at, r.last_error
  )
  insert into dead_letters (stage, topic, seq, msg_id, msg_key, payload, code, message, attempts, first_failed_at,
    last_failed_at)
  select p_group, p_topic, d.seq, m.msg_id, m.msg_key, m.payload::jsonb, 'BUS_ATTEMPTS_EXHAUSTED',
    'lease expired on the last allowed attempt (consumer crashed or hung); last error: '
      || coalesce(d.last_error, 'none'),
    d.attempts, coalesce(d.first_failed_at, p_now), p_now
  from dead d join bus_messages m on m.topic = p_topic and m.seq = d.seq;

  if g_ordered then
    select
      exists (select 1 from bus_leases l where l.group_name = p_group and l.topic = p_topic) as leased,
      (select min(r.seq) from bus_retries r where r.group_name = p_group and r.topic = p_topic) as first_retry,
      (select min(r.seq) from bus_retries r where r.group_name = p_group and r.topic = p_topic
        and r.visible_at <= p_now and not r.leased) as first_due,
      exists (select 1 from bus_retries r where r.group_name = p_group and r.topic = p_topic and r.leased
        and r.visible_at > p_now) as retry_in_flight
    into s;
    if s.leased or s.retry_in_flight then
      return;
    end if;
    if s.first_retry is not null then
      -- the oldest waiting message goes first, alone; if it is backing off, everything waits
      if s.first_due is distinct from s.first_retry then
        return;
      end if;
      return query
        with claimed as (
          update bus_retries r set attempts = r.attempts + 1, leased = true, visible_at = p_lease_until,
            leased_by = p_holder
          where r.group_name = p_group and r.topic = p_topic and r.seq = s.first_retry
          returning r.seq, r.attempts
        )
        select m.seq, m.msg_id, m.msg_key, m.payload, m.published_at, c.attempts, null::bigint
        from claimed c join bus_messages m on m.topic = p_topic and m.seq = c.seq;
      return;
    end if;
  else
    return query
      with due as (
        select r.seq from bus_retries r
        where r.group_name = p_group and r.topic = p_topic and r.visible_at <= p_now
        order by r.seq limit p_max
        for update skip locked
      ), claimed as (
        update bus_retries r set attempts = r.attempts + 1, leased = true, visible_at = p_lease_until,
          leased_by = p_holder
        from due where r.group_name = p_group and r.topic = p_topic and r.seq = due.seq
        returning r.seq, r.attempts
      )
      select m.seq, m.msg_id, m.msg_key, m.payload, m.published_at, c.attempts, null::bigint
      from claimed c join bus_messages m on m.topic = p_topic and m.seq = c.seq
      order by m.seq;
    get diagnostics n_retried = row_count;
  end if;
  if p_max - n_retried <= 0 then
    return;
  end if;

  -- static SQL: plpgsql keeps its plan per connection (custom plans until a generic one costs no
  -- more), where the dynamic statement was parsed and planned at every fetch; bitmap scans stay off
  -- for this transaction, as the stale-statistics guard of 0017
  perform set_config('enable_bitmapscan', 'off', true);
  return query
    with fresh as (
      select m.seq, m.msg_id, m.msg_key, m.payload, m.published_at from bus_messages m
      where m.topic = p_topic and m.seq > g_cursor order by m.seq limit p_max - n_retried
    ), bounds as (
      select min(f.seq) as lo, max(f.seq) as hi from fresh f
    ), advanced as (
      update bus_groups g set cursor = b.hi from bounds b
      where b.hi is not null and g.group_name = p_group and g.topic = p_topic
    ), lease as (
      insert into bus_leases (group_name, topic, from_seq, to_seq, lease_until, instance_id)
      select p_group, p_topic, b.lo, b.hi, p_lease_until, p_holder from bounds b where b.hi is not null
      returning id
    )
    select f.seq, f.msg_id::text, f.msg_key, f.payload, f.published_at, 1, (select l.id from lease l)
    from fresh f order by f.seq;
end $$;
