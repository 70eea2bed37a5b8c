-- Blast throughput (issue 4). Measured with perf on the 2-core machine: PostgreSQL spent ~8 % of
-- its time in pglz compressing chunk payloads, ~15 % comparing text keys through the locale
-- (strcoll: databases created with C.UTF-8 or en_US are not "C" to PostgreSQL 15), and most of
-- the rest on ledger rows written three times with four indexes each.

-- Chunk payloads (≤ 1000 recipients, ~250 kB) are written once and read once per group: keep the
-- producer's JSON text as it is (text: no jsonb tree to build on insert nor to print on fetch,
-- and no json_lex, which was the next hot spot with a json column) and compress it with lz4
-- where the server has it (PGlite does not; pglz stays there). The bus writes it with
-- JSON.stringify and reads it with JSON.parse; inspect it with `payload::jsonb`.
alter table bus_messages alter column payload type text using payload::text;
do $$ begin
  execute 'alter table bus_messages alter column payload set compression lz4';
exception when others then null;
end $$;

-- Identifiers are compared byte-wise: memcmp instead of strcoll on every index probe.
alter table bus_messages alter column topic type text collate "C", alter column msg_id type text collate "C";
alter table send_ledger alter column campaign_id type text collate "C", alter column contact_id type text collate "C",
  alter column message_id type text collate "C";
alter table suppressions alter column email type text collate "C";
alter table consents alter column contact_id type text collate "C";

-- sending → sent (and later → delivered / bounced) must be HOT updates: no index may cover `state`
-- and each page keeps room for the new row version. Status counts scan the campaign's primary
-- key range instead (once per status call, not once per recipient).
drop index send_ledger_state;
alter table send_ledger set (fillfactor = 80);
