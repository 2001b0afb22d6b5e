-- muster schema, SQLite (STRICT tables; uuids as 16-byte BLOBs, times as fixed-width
-- RFC 3339 UTC TEXT so that TEXT order is time order, JSON as TEXT). Every tenant table carries org_id and leads its composite keys
-- with it, so the big tables can later be partitioned by time and distributed by org.
-- Composite foreign keys (org_id, x_id) make a cross-tenant reference impossible, not just
-- unlikely.

CREATE TABLE orgs (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL,
    timezone    TEXT NOT NULL,
    policy      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

-- What each role grants in each organisation (editable with PUT /v1/roles/{role}).
CREATE TABLE role_grants (
    org_id      BLOB NOT NULL REFERENCES orgs (id),
    role        TEXT NOT NULL CHECK (role IN ('employee', 'manager', 'hr', 'org_admin', 'auditor')),
    permission  TEXT NOT NULL,
    PRIMARY KEY (org_id, role, permission)
) STRICT;

CREATE TABLE sites (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES orgs (id),
    name        TEXT NOT NULL,
    timezone    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (org_id, id)
) STRICT;

CREATE TABLE users (
    id             BLOB PRIMARY KEY,
    org_id         BLOB NOT NULL REFERENCES orgs (id),
    email          TEXT NOT NULL,
    -- Emails are unique across the server, compared case-insensitively: the key is the
    -- lower-cased address, made in one place in Rust so both backends agree.
    email_key      TEXT NOT NULL,
    name           TEXT NOT NULL,
    employee_code  TEXT NOT NULL,
    manager_id     BLOB,
    status         TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    password_hash  TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    CONSTRAINT users_email_key_unique UNIQUE (email_key),
    CONSTRAINT users_employee_code_unique UNIQUE (org_id, employee_code),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, manager_id) REFERENCES users (org_id, id)
) STRICT;
CREATE INDEX users_org_manager ON users (org_id, manager_id);

CREATE TABLE user_roles (
    org_id   BLOB NOT NULL,
    user_id  BLOB NOT NULL,
    role     TEXT NOT NULL CHECK (role IN ('employee', 'manager', 'hr', 'org_admin', 'auditor')),
    PRIMARY KEY (user_id, role),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
) STRICT;
CREATE INDEX user_roles_org_role ON user_roles (org_id, role);

CREATE TABLE user_sites (
    org_id   BLOB NOT NULL,
    user_id  BLOB NOT NULL,
    site_id  BLOB NOT NULL,
    PRIMARY KEY (user_id, site_id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id),
    FOREIGN KEY (org_id, site_id) REFERENCES sites (org_id, id)
) STRICT;
CREATE INDEX user_sites_org_site ON user_sites (org_id, site_id);

CREATE TABLE geofences (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL,
    site_id     BLOB NOT NULL,
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL CHECK (version >= 1),
    active      INTEGER NOT NULL,
    geometry    TEXT NOT NULL,
    area_m2     REAL NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, site_id) REFERENCES sites (org_id, id)
) STRICT;
CREATE INDEX geofences_org_site ON geofences (org_id, site_id);

-- Every version ever judged against stays readable (events keep geofence_id + version).
CREATE TABLE geofence_versions (
    org_id       BLOB NOT NULL,
    geofence_id  BLOB NOT NULL,
    version      INTEGER NOT NULL,
    name         TEXT NOT NULL,
    active       INTEGER NOT NULL,
    geometry     TEXT NOT NULL,
    area_m2      REAL NOT NULL,
    created_at   TEXT NOT NULL,
    created_by   BLOB,
    PRIMARY KEY (geofence_id, version),
    FOREIGN KEY (org_id, geofence_id) REFERENCES geofences (org_id, id)
) STRICT;

CREATE TABLE photos (
    id            BLOB PRIMARY KEY,
    org_id        BLOB NOT NULL,
    user_id       BLOB NOT NULL,
    storage_key   TEXT NOT NULL UNIQUE,
    -- pending: a presigned upload not yet checked; ready: ingested; deleted: removed from
    -- the store by erasure or retention (the row stays so events can say why).
    status        TEXT NOT NULL CHECK (status IN ('pending', 'ready', 'deleted')),
    sha256        TEXT,
    bytes         INTEGER,
    content_type  TEXT,
    created_at    TEXT NOT NULL,
    deleted_at    TEXT,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
) STRICT;
CREATE INDEX photos_org_user_created ON photos (org_id, user_id, created_at);
CREATE INDEX photos_org_created ON photos (org_id, created_at) WHERE status <> 'deleted';

CREATE TABLE attendance_events (
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
    CONSTRAINT attendance_events_photo_unique UNIQUE (photo_id),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id),
    FOREIGN KEY (org_id, photo_id) REFERENCES photos (org_id, id)
) STRICT;
CREATE INDEX attendance_events_org_user_captured ON attendance_events (org_id, user_id, captured_at);
CREATE INDEX attendance_events_org_captured ON attendance_events (org_id, captured_at);
CREATE INDEX attendance_events_org_site_captured ON attendance_events (org_id, site_id, captured_at);
CREATE INDEX attendance_events_retention ON attendance_events (org_id, captured_at)
    WHERE location_removed_at IS NULL;

CREATE TABLE app_log_batches (
    id           BLOB PRIMARY KEY,
    org_id       BLOB NOT NULL,
    user_id      BLOB NOT NULL,
    received_at  TEXT NOT NULL,
    ip           TEXT,
    device       TEXT NOT NULL,
    app_config   TEXT NOT NULL,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
) STRICT;
CREATE INDEX app_log_batches_org_received ON app_log_batches (org_id, received_at);

CREATE TABLE app_log_entries (
    id        BLOB PRIMARY KEY,
    org_id    BLOB NOT NULL,
    batch_id  BLOB NOT NULL,
    user_id   BLOB NOT NULL,
    ts        TEXT NOT NULL,
    level     TEXT NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
    event     TEXT NOT NULL,
    message   TEXT NOT NULL,
    attrs     TEXT NOT NULL,
    FOREIGN KEY (org_id, batch_id) REFERENCES app_log_batches (org_id, id)
) STRICT;
CREATE INDEX app_log_entries_org_user_ts ON app_log_entries (org_id, user_id, ts);
CREATE INDEX app_log_entries_org_ts ON app_log_entries (org_id, ts);
CREATE INDEX app_log_entries_batch ON app_log_entries (batch_id);

CREATE TABLE audit_log (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES orgs (id),
    at          TEXT NOT NULL,
    actor_id    BLOB,
    subject_id  BLOB,
    action      TEXT NOT NULL,
    object_id   TEXT,
    request_id  TEXT,
    ip          TEXT,
    detail      TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_org_at ON audit_log (org_id, at);
CREATE INDEX audit_log_org_subject_at ON audit_log (org_id, subject_id, at);
CREATE INDEX audit_log_org_actor_at ON audit_log (org_id, actor_id, at);

-- The audit trail is append-only at the database level too: no role of the application
-- can rewrite history, whatever bug a future change introduces.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- Refresh tokens rotate within a family; presenting a used token revokes the family.
CREATE TABLE refresh_families (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL,
    user_id     BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
) STRICT;
CREATE INDEX refresh_families_user ON refresh_families (org_id, user_id);

CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    family_id   BLOB NOT NULL REFERENCES refresh_families (id),
    issued_at   TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
) STRICT;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
