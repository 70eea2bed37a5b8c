-- Lists: static (members added by hand) or dynamic (a segment decides). `depends_on` names the
-- lists the segment reads (the dependency graph, kept acyclic by the service); `inputs` what it
-- reads (attributes, click tags, opens), so a change re-evaluates only the lists it touches.
-- A deleted list keeps its row (deleted_at) so history and frozen audiences still name it.
-- every definition change takes the next revision, so each process sees at once that its compiled
-- copy of the lists is stale (one cheap max() per evaluation)
create sequence list_revisions;
create table lists (
  id                  text collate "C" primary key,
  name                text not null,
  kind                text not null check (kind in ('static', 'dynamic')),
  definition          jsonb,
  depends_on          text[] not null default '{}',
  inputs              jsonb not null default '{}',
  revision            bigint not null default nextval('list_revisions'),
  created_at          timestamptz not null,
  updated_at          timestamptz not null,
  deleted_at          timestamptz,
  rebuild_state       text check (rebuild_state in ('running', 'done', 'failed')),
  rebuild_done        bigint not null default 0,
  rebuild_total       bigint not null default 0,
  rebuild_changed     bigint not null default 0,
  rebuild_started_at  timestamptz,
  rebuild_finished_at timestamptz,
  rebuild_error       text
);

-- Current members. The segment SQL's `inList` probes the primary key.
create table list_members (
  list_id    text collate "C" not null,
  contact_id text collate "C" not null,
  entered_at timestamptz not null,
  primary key (list_id, contact_id)
);
create index list_members_contact on list_members (contact_id);

-- Every real transition, with what caused it; its id is the bus message id of the event.
create table list_history (
  id         bigserial primary key,
  list_id    text collate "C" not null,
  contact_id text collate "C" not null,
  entered    boolean not null,
  at         timestamptz not null,
  cause_kind text not null,
  cause_id   text not null
);
create index list_history_contact on list_history (contact_id, id);
create index list_history_list on list_history (list_id, id);

-- When a time-relative condition of a list may next flip for a contact: the timer dispatcher
-- re-evaluates just that contact then (one row per list and contact; due ones taken set-wise).
create table list_timers (
  list_id    text collate "C" not null,
  contact_id text collate "C" not null,
  due_at     timestamptz not null,
  primary key (list_id, contact_id)
);
create index list_timers_due on list_timers (due_at);
