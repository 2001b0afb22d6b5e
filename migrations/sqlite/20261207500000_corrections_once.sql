-- SQLite form of the PostgreSQL migration of the same name (the same statements).
-- A flagged or rejected event is corrected at most once (API.md "Attendance requests"): of
-- two approvals naming the same event the database lets one through, however close they
-- come. Holding approved corrections only, it stays a small part of the requests.
CREATE UNIQUE INDEX attendance_requests_corrected_once ON attendance_requests (event_id)
    WHERE (status = 'approved') AND (event_id IS NOT NULL);
-- Reports count an approved correction's event in place of the event it names: a page of
-- users' approved corrections over the report's dates, read once per page of events.
CREATE INDEX attendance_requests_approved_corrections ON attendance_requests (org_id, user_id, local_date)
    WHERE (status = 'approved') AND (event_id IS NOT NULL);
