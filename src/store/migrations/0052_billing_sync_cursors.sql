-- Durable positions of the billing readers that poll a source instead of being pushed to: the
-- Stripe backfill (one row per list: position = the last object id applied, Stripe's
-- starting_after) and the SQL billing table (position = the keyset watermark as JSON). A reader
-- writes its position only after the page it read is applied, so a crash re-reads at most one
-- page, which the idempotent apply turns into duplicates.
create table billing_sync_cursors (
  source      text not null,              -- stripe | sql
  stream      text not null,              -- customers | invoices | charges | subscriptions | <table name>
  since       timestamptz,                -- the backfill's --since (a different one starts again)
  position    text,
  done        boolean not null default false,
  pages       bigint not null default 0,
  objects     bigint not null default 0,
  updated_at  timestamptz not null,
  primary key (source, stream)
);
