-- The consent ledger (law.md §10): one row per consent event, never updated, hash-chained like
-- audit_log (src/core/hash-chain.ts; canonical text in src/core/dsr/consent-chain.ts). The chain
-- covers only what may be kept after erasure: the subject as a keyed hash of the normalised
-- address, and `pii_digest`, a keyed hash of the personal fields (email, IP, user agent) which
-- live in consent_pii and are deleted when the subject is erased, so erasure never breaks it.
create table consent_records (
  id               bigserial primary key,
  at               timestamptz not null,
  occurred_at      timestamptz not null,
  subject_hash     text collate "C" not null,
  contact_id       text collate "C",
  topic            text collate "C" not null,
  channel          text not null,
  basis            text not null,
  action           text not null,
  source           text not null,
  actor            text not null,
  wording_id       text,
  wording_version  text,
  wording_hash     text,
  locale           text,
  doi_token_id     text,
  doi_sent_at      timestamptz,
  doi_confirmed_at timestamptz,
  gpc              boolean,
  jurisdiction     text,
  evidence_ref     text,
  withdrawn_via    text,
  expires_at       timestamptz,
  pii_digest       text not null,
  prev_hash        text not null,
  hash             text not null unique
);
create index consent_records_subject on consent_records (subject_hash, id);

create function consent_records_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'consent_records is append-only';
end $$;
create trigger consent_records_no_change before update or delete on consent_records
  for each row execute function consent_records_append_only();

-- The personal fields of a record; erasure deletes these rows and the digest stays in the chain.
create table consent_pii (
  record_id    bigint primary key references consent_records (id),
  subject_hash text collate "C" not null,
  pii          jsonb not null
);
create index consent_pii_subject on consent_pii (subject_hash);

-- Every Nth record's hash, also logged: a chain cut short after a checkpoint no longer reaches it.
create table consent_checkpoints (
  record_id bigint primary key,
  hash      text not null,
  at        timestamptz not null
);

-- Current per-topic subscription state, derived from the ledger in the same transaction as each
-- record (the ledger is the evidence; this is what blasts read set-wise).
create table topic_subscriptions (
  subject_hash text collate "C" not null,
  topic        text collate "C" not null,
  subscribed   boolean not null,
  record_id    bigint not null,
  updated_at   timestamptz not null,
  primary key (subject_hash, topic)
);

-- Double opt-in: one row per confirmation mail sent; the signed link names the token id.
create table consent_doi (
  token_id     text collate "C" primary key,
  subject_hash text collate "C" not null,
  topic        text collate "C" not null,
  record_id    bigint not null,
  sent_at      timestamptz not null,
  expires_at   timestamptz not null,
  confirmed_at timestamptz
);
