-- Ledger rows are now inserted when a recipient is claimed for sending (or excluded), not when
-- its chunk is complied: one write less per recipient. Completion is tracked per chunk part.
alter table campaign_chunks add column parts integer not null default 1;

create table campaign_chunk_parts (
  campaign_id text not null,
  seq         integer not null,
  part        integer not null,
  primary key (campaign_id, seq, part)
);
