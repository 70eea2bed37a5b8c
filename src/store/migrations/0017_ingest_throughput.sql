-- Reaction ingest writes one outbox row per group of concurrent webhook requests, whose payload
-- is the reaction batch of up to a few thousand events (~0.5 MB of JSON): compress it with lz4
-- like bus_messages (0007) where the server has it; PGlite keeps pglz.
do $$ begin
  execute 'alter table bus_outbox alter column payload set compression lz4';
exception when others then null;
end $$;
