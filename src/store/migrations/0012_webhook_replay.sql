-- Replay keys of verified webhook requests (Mailgun's signature token, a hash of Stripe's and
-- SendGrid's signed timestamp + signature/body). Mailgun signs only timestamp + token, not the
-- event, so a captured signature could carry other event data: a key seen again with another body
-- is a replay; with the same body (digest kept here) it is the vendor redelivering, which ingest
-- deduplicates by event id.
-- A row is useless once its signed timestamp is outside the vendor's tolerance (expires_at);
-- rows are pruned set-wise on that index. The primary key makes the claim one atomic insert.
create table webhook_replay (
  vendor     text collate "C" not null,
  replay_key text collate "C" not null,
  body_sha256 bytea not null,
  expires_at timestamptz not null,
  primary key (vendor, replay_key)
);
create index webhook_replay_expires on webhook_replay (expires_at);
