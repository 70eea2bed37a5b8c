-- API keys of the admin listener. The key itself is never stored: only its lookup prefix (the
-- 8 characters after "sy_", unique, found by index), a per-key random salt and
-- SHA-256(salt || secret). Keys carry 256 bits of randomness, so a fast hash cannot be brute-forced
-- and no slow KDF is needed on every request. Revocation is a timestamp, never a delete, so the
-- audit log's key ids keep resolving to a name.
create table api_keys (
  id          text collate "C" primary key,
  name        text not null,
  role        text not null check (role in ('admin', 'marketer', 'analyst', 'compliance')),
  prefix      text collate "C" not null unique,
  salt        text not null,
  secret_hash text not null,
  created_at  timestamptz not null,
  created_by  text not null,
  revoked_at  timestamptz,
  revoked_by  text
);
-- "is there an active admin key?" on every start
create index api_keys_active_role on api_keys (role) where revoked_at is null;
