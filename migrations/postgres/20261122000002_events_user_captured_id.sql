-- The previous-fix look-up of every check-in orders a user's events by (captured_at, id):
-- with id in the index it is one index probe in any plan. Without it PostgreSQL's cached
-- generic plan preferred walking the whole org's events by time (millions of index entries
-- per check-in under load). Reports and lists by user read the same index.
CREATE INDEX attendance_events_org_user_captured_id ON attendance_events (org_id, user_id, captured_at, id);
DROP INDEX attendance_events_org_user_captured;
