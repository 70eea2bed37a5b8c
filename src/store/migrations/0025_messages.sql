-- Transactional messages (POST /v1/messages): one row per caller's idempotency key. The message
-- itself is a message stream (a campaign row `msg_…`, src/campaigns/streams.ts) whose one ledger
-- row is the send record; this row answers a repeated request with the first result.
create table messages (
  id              text primary key,            -- msg_<24 hex of sha256(idempotency key)>
  idempotency_key text not null unique,
  request_hash    text not null,               -- sha256 of the canonical request: a reuse with another body is refused
  contact_id      text not null,
  category        text not null,
  priority        text not null,
  created_at      timestamptz not null
);
