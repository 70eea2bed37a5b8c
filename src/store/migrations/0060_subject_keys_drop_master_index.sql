-- Rotation reads stale keys by `master_key_id <> current` in subject order (src/privacy/queries.ts):
-- a btree on master_key_id cannot serve `<>`, so the plan is the primary key with a filter and
-- this index was only written, once per new subject (a first blast to a million people writes a
-- million entries). Decision record 0029.
drop index if exists subject_keys_master;
