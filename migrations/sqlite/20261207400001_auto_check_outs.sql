-- SQLite form of the PostgreSQL migration of the same name (uuids as BLOBs, times as TEXT).
-- Auto check-out (API.md "Shifts and the attendance day", policy `auto_check_out_after_h`):
-- every replica runs the job, and this key makes it write at most one check-out per user
-- and day, whoever gets there first. The event and its row commit together.
CREATE TABLE auto_check_outs (
    org_id      BLOB NOT NULL,
    user_id     BLOB NOT NULL,
    -- The attendance day (YYYY-MM-DD, the user's zone) the check-out closed.
    local_date  TEXT NOT NULL,
    event_id    BLOB NOT NULL REFERENCES attendance_events (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id, local_date),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);
