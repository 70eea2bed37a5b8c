-- List history by episode (decision 0032). A member row carries its entry (id, time, cause), so an
-- entry writes only that row; an exit deletes it and writes one closed episode (entry and exit)
-- with two indexes, where every transition used to write a history row with three. `list_history`
-- becomes a view with the same rows as the table it replaces: one per transition, ids from the same
-- sequence (the ids in list.entered / list.exited and the journeys' `list:<id>` keys).
alter sequence list_history_id_seq owned by none;
alter sequence list_history_id_seq rename to list_transition_ids;

-- the defaults serve rows written by SQL outside the lists service (bench and test set-up)
alter table list_members
  add column entry_id bigint not null default nextval('list_transition_ids'),
  add column cause_kind text not null default 'manual',
  add column cause_id text not null default 'sql';

-- entry_* null: an exit whose entry was never recorded (rows written outside the service before
-- this migration); exit_* null: the member of a list that was deleted (no exit happened)
create table list_episodes (
  list_id          text collate "C" not null,
  contact_id       text collate "C" not null,
  entry_id         bigint,
  entered_at       timestamptz,
  entry_cause_kind text,
  entry_cause_id   text,
  exit_id          bigint,
  exited_at        timestamptz,
  exit_cause_kind  text,
  exit_cause_id    text
);
-- history is read by contact or by list (src/lists/queries.ts history)
create index list_episodes_contact on list_episodes (contact_id);
create index list_episodes_list on list_episodes (list_id);

-- every exit with the transition before it (its entry, when that was one)
insert into list_episodes
select list_id, contact_id,
  case when prev_entered then prev_id end, case when prev_entered then prev_at end,
  case when prev_entered then prev_kind end, case when prev_entered then prev_cause end,
  id, at, cause_kind, cause_id
from (
  select h.*,
    lag(entered) over w as prev_entered, lag(id) over w as prev_id, lag(at) over w as prev_at,
    lag(cause_kind) over w as prev_kind, lag(cause_id) over w as prev_cause
  from list_history h
  window w as (partition by list_id, contact_id order by id)
) x
where not entered;

-- a current member's entry is the last transition of its list and contact
update list_members m set entry_id = e.id, entered_at = e.at, cause_kind = e.cause_kind, cause_id = e.cause_id
from (
  select distinct on (list_id, contact_id) id, list_id, contact_id, entered, at, cause_kind, cause_id
  from list_history order by list_id, contact_id, id desc
) e
where e.entered and e.list_id = m.list_id and e.contact_id = m.contact_id;

-- entries of lists deleted before this migration (their members were dropped, their history kept)
insert into list_episodes (list_id, contact_id, entry_id, entered_at, entry_cause_kind, entry_cause_id)
select e.list_id, e.contact_id, e.id, e.at, e.cause_kind, e.cause_id
from (
  select distinct on (list_id, contact_id) id, list_id, contact_id, entered, at, cause_kind, cause_id
  from list_history order by list_id, contact_id, id desc
) e
where e.entered
  and not exists (select 1 from list_members m where m.list_id = e.list_id and m.contact_id = e.contact_id);

drop table list_history;

create view list_history as
  select entry_id as id, list_id, contact_id, true as entered, entered_at as at,
    entry_cause_kind as cause_kind, entry_cause_id as cause_id
  from list_episodes where entry_id is not null
  union all
  select exit_id, list_id, contact_id, false, exited_at, exit_cause_kind, exit_cause_id
  from list_episodes where exit_id is not null
  union all
  select entry_id, list_id, contact_id, true, entered_at, cause_kind, cause_id from list_members;
