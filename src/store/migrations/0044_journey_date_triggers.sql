-- Date triggers of journeys (birthday, renewal minus 30 days): an index of the profile dates that
-- some date-triggered journey listens on, kept by the database in the transaction that changes the
-- profile, so the scan of a day reads only the contacts whose date falls on it (by month and day,
-- or by date) instead of every profile. Decision record: docs/decisions/0021-journey-date-triggers.md.

-- The date attributes some journey (any version ever saved) listens on. Usually a handful.
create table journey_date_attributes (
  attribute text collate "C" primary key
);

-- One row per (watched attribute, contact holding a valid date in it): the date, its month and day
-- (month * 100 + day: yearly triggers), and the contact's time zone attribute (the day is the
-- contact's local day).
create table journey_profile_dates (
  attribute  text collate "C" not null,
  contact_id text collate "C" not null,
  value      date not null,
  month_day  smallint not null,
  timezone   text,
  primary key (attribute, contact_id)
);
create index journey_profile_dates_month_day on journey_profile_dates (attribute, month_day);
create index journey_profile_dates_value on journey_profile_dates (attribute, value);

-- The date of a `YYYY-MM-DD…` value, or null (never an error: a bad date in a profile must not fail
-- the transaction that stored it).
create function journey_date_of(v text) returns date language sql immutable as $$
  select case
    when v ~ '^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])'
      and substr(v, 9, 2)::int <= extract(day from (make_date(substr(v, 1, 4)::int, substr(v, 6, 2)::int, 1)
        + interval '1 month - 1 day'))
    then make_date(substr(v, 1, 4)::int, substr(v, 6, 2)::int, substr(v, 9, 2)::int)
  end
$$;

-- Keeps journey_profile_dates in step with contact_profiles, one statement per statement (transition
-- tables, not a call per row); with no watched attribute it joins an empty table and does nothing.
create function journey_profile_dates_sync() returns trigger language plpgsql as $$
begin
  if not exists (select 1 from journey_date_attributes) then
    return null;
  end if;
  if tg_op = 'DELETE' then
    delete from journey_profile_dates d using changed_rows c, journey_date_attributes w
    where d.attribute = w.attribute and d.contact_id = c.contact_id;
    return null;
  end if;
  insert into journey_profile_dates as d (attribute, contact_id, value, month_day, timezone)
  select w.attribute, c.contact_id, x.value,
    (extract(month from x.value) * 100 + extract(day from x.value))::smallint,
    coalesce(nullif(c.attributes ->> 'timezone', ''), nullif(c.attributes ->> 'time_zone', ''))
  from changed_rows c cross join journey_date_attributes w
  cross join lateral (select journey_date_of(c.attributes ->> w.attribute) as value) x
  where x.value is not null
  on conflict (attribute, contact_id) do update set value = excluded.value, month_day = excluded.month_day,
    timezone = excluded.timezone
  where (d.value, d.timezone) is distinct from (excluded.value, excluded.timezone);
  -- a date cleared or no longer valid leaves the index
  delete from journey_profile_dates d using changed_rows c, journey_date_attributes w
  where d.attribute = w.attribute and d.contact_id = c.contact_id
    and journey_date_of(c.attributes ->> w.attribute) is null;
  return null;
end
$$;
create trigger journey_profile_dates_insert after insert on contact_profiles
  referencing new table as changed_rows for each statement execute function journey_profile_dates_sync();
create trigger journey_profile_dates_update after update on contact_profiles
  referencing new table as changed_rows for each statement execute function journey_profile_dates_sync();
create trigger journey_profile_dates_delete after delete on contact_profiles
  referencing old table as changed_rows for each statement execute function journey_profile_dates_sync();

-- Each (journey, contact, occurrence) a date trigger fired for, so one occurrence enters nobody
-- twice (occurrence: the anniversary's year for yearly triggers, else the attribute's date).
create table journey_date_fired (
  journey_id text collate "C" not null,
  contact_id text collate "C" not null,
  occurrence text collate "C" not null,
  fired_at   timestamptz not null,
  primary key (journey_id, contact_id, occurrence)
);

-- The instant each date journey was last scanned: the next scan covers the local days since then.
alter table journey_date_scans add column last_scan_at timestamptz;
