-- The event log's key columns compare bytewise (collation "C", as the profile, list and bus tables'
-- keys have since 0007/0022): under the database's default collation every comparison in its four
-- indexes (source id, contact, campaign and type, received order) went through the locale's
-- strcoll on copies of both strings, even under C.UTF-8, whose order is the same as "C"'s.
-- Inserting 900 bench-like events into a 200 000-row copy took ~10 % less time (decision 0041,
-- bench/README.md "## reactions"). Equality is unchanged; only a non-"C" database collation
-- orders these ids differently, and every reader orders and compares them through the column.
-- The table is not rewritten (same type); its indexes are rebuilt.
alter table engagement_events
  alter column source_id type text collate "C",
  alter column type type text collate "C",
  alter column campaign_id type text collate "C",
  alter column contact_id type text collate "C";
