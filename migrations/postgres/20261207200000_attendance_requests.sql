-- Attendance requests (API.md "Attendance requests"): an employee asks for a missed check-in
-- or check-out, or the correction of a flagged or rejected event, and a manager decides.
-- A request names a local day and time (the user's site time zone, else the org's) and the
-- instant they meant when it was filed, so an approval writes the event at that instant
-- even if the user's zone changes in between.
CREATE TABLE attendance_requests (
    id               uuid PRIMARY KEY,
    org_id           uuid NOT NULL,
    user_id          uuid NOT NULL,
    -- YYYY-MM-DD and HH:MM as filed: ISO text sorts as dates do, on both backends.
    local_date       text NOT NULL,
    local_time       text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('missed_check_in', 'missed_check_out', 'correction')),
    proposed_at      timestamptz NOT NULL,
    -- The event a correction is about (the lead's migration drops attendance_events
    -- (org_id, id), so the key is the id alone; the server checks the org and the owner).
    event_id         uuid,
    -- Personal free text: erasure sets it NULL, keeping the request's skeleton.
    reason           text,
    photo_id         uuid,
    status           text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'cancelled')),
    created_at       timestamptz NOT NULL,
    decided_by       uuid,
    decided_at       timestamptz,
    comment          text,
    result_event_id  uuid,
    CONSTRAINT attendance_requests_photo_unique UNIQUE (photo_id),
    UNIQUE (org_id, id),
    CHECK ((status = 'pending') = (decided_at IS NULL)),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id),
    FOREIGN KEY (org_id, decided_by) REFERENCES users (org_id, id),
    FOREIGN KEY (org_id, photo_id) REFERENCES photos (org_id, id),
    FOREIGN KEY (event_id) REFERENCES attendance_events (id),
    FOREIGN KEY (result_event_id) REFERENCES attendance_events (id)
);
-- One pending request per user, day and kind: the database decides, so two concurrent
-- filings cannot both pass a check made before the write.
CREATE UNIQUE INDEX attendance_requests_one_pending ON attendance_requests (org_id, user_id, local_date, kind)
    WHERE status = 'pending';
-- A user's requests (their own list, and team or direct scopes) in creation order.
CREATE INDEX attendance_requests_org_user_id ON attendance_requests (org_id, user_id, id);

-- The request whose approval wrote an event (NULL for events a device or the server sent);
-- at most one event per request.
ALTER TABLE attendance_events ADD COLUMN request_id uuid REFERENCES attendance_requests (id);
-- Partial: device events, nearly all of them, get no entry, so it costs a check-in nothing.
CREATE UNIQUE INDEX attendance_events_request ON attendance_events (request_id) WHERE request_id IS NOT NULL;

-- Organisations created before requests existed get the new permissions in their default
-- roles, as a new organisation would (API.md "Attendance requests"); an admin may change
-- them like any other grant.
INSERT INTO role_grants (org_id, role, permission)
    SELECT id, 'employee', 'attendance.requests.create' FROM orgs
    UNION ALL SELECT id, 'manager', 'attendance.requests.approve:direct' FROM orgs
    UNION ALL SELECT id, 'hr', 'attendance.requests.approve:org' FROM orgs;
