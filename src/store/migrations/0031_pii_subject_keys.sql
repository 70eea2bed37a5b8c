-- Crypto-shredding (src/privacy/, docs/privacy.md). One data key per subject, wrapped by a master key;
-- `subject` is the subject's blind index (16-byte keyed HMAC of the normalised address), never the address.
-- Erasure sets wrapped_key and master_key_id to null: everything sealed under that key is unreadable,
-- in every table, log line, bus message, dead letter and backup that holds it.
create table subject_keys (
  subject        bytea primary key,
  master_key_id  text collate "C",
  wrapped_key    bytea,
  created_at     timestamptz not null,
  shredded_at    timestamptz,
  check ((wrapped_key is null) = (shredded_at is not null))
);
-- rotation reads the keys still wrapped by an older master key
create index subject_keys_master on subject_keys (master_key_id) where wrapped_key is not null;

-- Suppression that survives erasure: the blind index of the address, so an erased person is never
-- mailed again while nothing stored can be turned back into their address.
create table suppression_fingerprints (
  fingerprint  bytea primary key,
  reason       text not null,
  source       text not null,
  created_at   timestamptz not null
);
