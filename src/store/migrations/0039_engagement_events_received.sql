-- The dashboard's live reaction stream reads the newest events first (received_at, source_id),
-- filtered by type or campaign; without this index every poll would scan the whole event log.
create index engagement_events_received on engagement_events (received_at desc, source_id desc);
