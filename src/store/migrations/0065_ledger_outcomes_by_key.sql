-- Delivery reports move their send_ledger rows (src/campaigns/send-ledger.ts recordOutcomes), a
-- batch of up to a few thousand (campaign, contact) keys at a time. Left to its estimates the planner
-- hashed a batch of a few hundred against a sequential scan of the whole ledger (its statistics lag a
-- campaign's rows just written; on a 200k-row ledger 0.5 s instead of 0.04 s per 1500 outcomes,
-- bench/README.md, reactions), so the update runs in a function whose settings leave it one key probe
-- per outcome. A function, not `set local` before the statement: one round trip and no transaction
-- held open on a pooled connection. The rules are the ones recordOutcomes documents; returns the
-- rows moved.
create function record_ledger_outcomes(p_campaign_ids text[], p_contact_ids text[], p_states text[],
  p_reasons text[], p_at timestamptz)
returns bigint
language sql
set enable_hashjoin = off
set enable_mergejoin = off
as $$
  with moved as (
    update send_ledger l set state = x.state, reason = coalesce(x.reason, l.reason), updated_at = p_at
    from unnest(p_campaign_ids, p_contact_ids, p_states, p_reasons) as x(campaign_id, contact_id, state, reason)
    where l.campaign_id = x.campaign_id and l.contact_id = x.contact_id
      and (l.state in ('sent', 'sending', 'rendered', 'unknown', 'deferred') or (l.state = 'delivered'
        and x.state in ('bounced', 'complained')))
    returning 1
  )
  select count(*) from moved
$$;
