-- Two unique keys on attendance_events cost every insert an index entry for nothing:
-- * UNIQUE (org_id, id) was there for composite foreign keys that no table declares; the
--   primary key already makes id unique, and every look-up by id names org_id beside it.
-- * UNIQUE (photo_id) indexed every event, although most carry no photo: the same rule as
--   a partial index holds entries only for events with a photo. `ON CONFLICT DO NOTHING`
--   (no target) still skips an event whose photo is taken, as the batch insert relies on.
--
-- SQLite cannot drop a table constraint, so the table is rebuilt the way SQLite's manual
-- prescribes (https://www.sqlite.org/lang_altertable.html#otheralter): a new table, every row
-- copied by column name, the old one dropped, the new one renamed, its indexes recreated.
-- It runs in the migration's transaction, so a failure leaves the old table as it was. No
-- table references attendance_events and it has no triggers or views, so nothing else
-- needs recreating; the copied rows keep satisfying the table's own foreign keys, which
-- SQLite checks on every copied row as foreign_keys is on.
CREATE TABLE attendance_events_rebuilt (
    id                BLOB PRIMARY KEY,
    org_id            BLOB NOT NULL,
    user_id           BLOB NOT NULL,
    client_event_id   BLOB NOT NULL,
    -- sha256 of the canonical request, so a retry with another body is a 409.
    request_sha256    TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('check_in', 'check_out')),
    captured_at       TEXT NOT NULL,
    received_at       TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('accepted', 'flagged', 'rejected')),
    verdict           TEXT NOT NULL CHECK (verdict IN ('inside', 'outside', 'uncertain', 'no_geofence')),
    reasons           TEXT NOT NULL,
    geofence_id       BLOB,
    geofence_version  INTEGER,
    geofence_name     TEXT,
    site_id           BLOB,
    distance_m        REAL,
    -- Location, device data and note are personal data: erasure and retention null them
    -- and stamp location_removed_at, keeping the attendance skeleton for reports.
    lat               REAL,
    lon               REAL,
    accuracy_m        REAL,
    altitude_m        REAL,
    provider          TEXT,
    is_mock           INTEGER,
    device            TEXT,
    note              TEXT,
    location_removed_at TEXT,
    photo_id          BLOB,
    CONSTRAINT attendance_events_client_event_unique UNIQUE (org_id, user_id, client_event_id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id),
    FOREIGN KEY (org_id, photo_id) REFERENCES photos (org_id, id)
) STRICT;
INSERT INTO attendance_events_rebuilt (id, org_id, user_id, client_event_id, request_sha256, kind, captured_at, received_at, status, verdict, reasons, geofence_id, geofence_version, geofence_name, site_id, distance_m, lat, lon, accuracy_m, altitude_m, provider, is_mock, device, note, location_removed_at, photo_id)
    SELECT id, org_id, user_id, client_event_id, request_sha256, kind, captured_at, received_at, status, verdict, reasons, geofence_id, geofence_version, geofence_name, site_id, distance_m, lat, lon, accuracy_m, altitude_m, provider, is_mock, device, note, location_removed_at, photo_id FROM attendance_events;
DROP TABLE attendance_events;
ALTER TABLE attendance_events_rebuilt RENAME TO attendance_events;
CREATE UNIQUE INDEX attendance_events_photo_unique ON attendance_events (photo_id) WHERE photo_id IS NOT NULL;
CREATE INDEX attendance_events_org_user_captured_id ON attendance_events (org_id, user_id, captured_at, id);
CREATE INDEX attendance_events_org_captured ON attendance_events (org_id, captured_at);
CREATE INDEX attendance_events_org_site_captured ON attendance_events (org_id, site_id, captured_at);
CREATE INDEX attendance_events_retention ON attendance_events (org_id, captured_at)
    WHERE location_removed_at IS NULL;
