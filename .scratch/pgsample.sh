#!/bin/bash
# waits for the bench's backends to be busy, then samples their states every 100 ms for $1 seconds
q="select state, coalesce(wait_event_type,'-')||':'||coalesce(wait_event,'-'), left(regexp_replace(query, '\s+', ' ', 'g'), 70) from pg_stat_activity where application_name = 'switchyard_bench_reactions' and state <> 'idle' and query like '%engagement_events%'"
until [ -n "$(psql -h 127.0.0.1 -U postgres test -Atc "$q")" ]; do sleep 0.2; done
sleep 2
end=$((SECONDS+$1))
while [ $SECONDS -lt $end ]; do
  psql -h 127.0.0.1 -U postgres test -Atc "select state, coalesce(wait_event_type,'-')||':'||coalesce(wait_event,'-'), left(regexp_replace(query, '\s+', ' ', 'g'), 70) from pg_stat_activity where application_name = 'switchyard_bench_reactions' and state <> 'idle'"
  echo ---
  sleep 0.1
done
