-- The vendor's raw payload is kept for inspection, replies' stored text and dead letters, and is
-- only ever read whole or erased: `json` stores the text as it came (checked, not converted), so
-- ingest no longer builds a jsonb value per event (decision 0019, bench/README.md "## reactions").
alter table engagement_events alter column raw type json using raw::json;
