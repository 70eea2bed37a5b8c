-- Dashboard sessions: a browser logs in once with an API key and then carries an opaque session
-- token in an HttpOnly cookie. Only SHA-256 of the token is stored (a copy of this table cannot be
-- replayed as cookies). A session acts as its key: each request joins the key row, so revoking the
-- key ends every session of it on the next request, as revoking ends bearer use.
create table dashboard_sessions (
  token_hash  text collate "C" primary key,
  key_id      text collate "C" not null references api_keys (id),
  created_at  timestamptz not null,
  expires_at  timestamptz not null,
  ended_at    timestamptz
);
-- expired and ended sessions are pruned by age when a new one is created
create index dashboard_sessions_expires on dashboard_sessions (expires_at);
