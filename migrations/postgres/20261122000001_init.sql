-- muster schema, PostgreSQL. Every tenant table carries org_id and leads its composite keys
-- with it, so the big tables can later be partitioned by time and distributed by org.
-- Composite foreign keys (org_id, x_id) make a cross-tenant reference impossible, not just
-- unlikely.

CREATE TABLE orgs (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    timezone    text NOT NULL,
    policy      jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- What each role grants in each organisation (editable with PUT /v1/roles/{role}).
CREATE TABLE role_grants (
    org_id      uuid NOT NULL REFERENCES orgs (id),
    role        text NOT NULL CHECK (role IN ('employee', 'manager', 'hr', 'org_admin', 'auditor')),
    permission  text NOT NULL,
    PRIMARY KEY (org_id, role, permission)
);

CREATE TABLE sites (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id),
    name        text NOT NULL,
    timezone    text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (org_id, id)
);

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    org_id         uuid NOT NULL REFERENCES orgs (id),
    email          text NOT NULL,
    -- Emails are unique across the server, compared case-insensitively: the key is the
    -- lower-cased address, made in one place in Rust so both backends agree.
    email_key      text NOT NULL,
    name           text NOT NULL,
    employee_code  text NOT NULL,
    manager_id     uuid,
    status         text NOT NULL CHECK (status IN ('active', 'disabled')),
    password_hash  text,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    CONSTRAINT users_email_key_unique UNIQUE (email_key),
    CONSTRAINT users_employee_code_unique UNIQUE (org_id, employee_code),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, manager_id) REFERENCES users (org_id, id)
);
CREATE INDEX users_org_manager ON users (org_id, manager_id);

CREATE TABLE user_roles (
    org_id   uuid NOT NULL,
    user_id  uuid NOT NULL,
    role     text NOT NULL CHECK (role IN ('employee', 'manager', 'hr', 'org_admin', 'auditor')),
    PRIMARY KEY (user_id, role),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);
CREATE INDEX user_roles_org_role ON user_roles (org_id, role);

CREATE TABLE user_sites (
    org_id   uuid NOT NULL,
    user_id  uuid NOT NULL,
    site_id  uuid NOT NULL,
    PRIMARY KEY (user_id, site_id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id),
    FOREIGN KEY (org_id, site_id) REFERENCES sites (org_id, id)
);
CREATE INDEX user_sites_org_site ON user_sites (org_id, site_id);

CREATE TABLE geofences (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL,
    site_id     uuid NOT NULL,
    name        text NOT NULL,
    version     integer NOT NULL CHECK (version >= 1),
    active      boolean NOT NULL,
    geometry    jsonb NOT NULL,
    area_m2     double precision NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, site_id) REFERENCES sites (org_id, id)
);
CREATE INDEX geofences_org_site ON geofences (org_id, site_id);

-- Every version ever judged against stays readable (events keep geofence_id + version).
CREATE TABLE geofence_versions (
    org_id       uuid NOT NULL,
    geofence_id  uuid NOT NULL,
    version      integer NOT NULL,
    name         text NOT NULL,
    active       boolean NOT NULL,
    geometry     jsonb NOT NULL,
    area_m2      double precision NOT NULL,
    created_at   timestamptz NOT NULL,
    created_by   uuid,
    PRIMARY KEY (geofence_id, version),
    FOREIGN KEY (org_id, geofence_id) REFERENCES geofences (org_id, id)
);

CREATE TABLE photos (
    id            uuid PRIMARY KEY,
    org_id        uuid NOT NULL,
    user_id       uuid NOT NULL,
    storage_key   text NOT NULL UNIQUE,
    -- pending: a presigned upload not yet checked; ready: ingested; deleted: removed from
    -- the store by erasure or retention (the row stays so events can say why).
    status        text NOT NULL CHECK (status IN ('pending', 'ready', 'deleted')),
    sha256        text,
    bytes         bigint,
    content_type  text,
    created_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);
CREATE INDEX photos_org_user_created ON photos (org_id, user_id, created_at);
CREATE INDEX photos_org_created ON photos (org_id, created_at) WHERE status <> 'deleted';

CREATE TABLE attendance_events (
    id                uuid PRIMARY KEY,
    org_id            uuid NOT NULL,
    user_id           uuid NOT NULL,
    client_event_id   uuid NOT NULL,
    -- sha256 of the canonical request, so a retry with another body is a 409.
    request_sha256    text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('check_in', 'check_out')),
    captured_at       timestamptz NOT NULL,
    received_at       timestamptz NOT NULL,
    status            text NOT NULL CHECK (status IN ('accepted', 'flagged', 'rejected')),
    verdict           text NOT NULL CHECK (verdict IN ('inside', 'outside', 'uncertain', 'no_geofence')),
    reasons           jsonb NOT NULL,
    geofence_id       uuid,
    geofence_version  integer,
    geofence_name     text,
    site_id           uuid,
    distance_m        double precision,
    -- Location, device data and note are personal data: erasure and retention null them
    -- and stamp location_removed_at, keeping the attendance skeleton for reports.
    lat               double precision,
    lon               double precision,
    accuracy_m        double precision,
    altitude_m        double precision,
    provider          text,
    is_mock           boolean,
    device            jsonb,
    note              text,
    location_removed_at timestamptz,
    photo_id          uuid,
    CONSTRAINT attendance_events_client_event_unique UNIQUE (org_id, user_id, client_event_id),
    CONSTRAINT attendance_events_photo_unique UNIQUE (photo_id),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id),
    FOREIGN KEY (org_id, photo_id) REFERENCES photos (org_id, id)
);
CREATE INDEX attendance_events_org_user_captured ON attendance_events (org_id, user_id, captured_at);
CREATE INDEX attendance_events_org_captured ON attendance_events (org_id, captured_at);
CREATE INDEX attendance_events_org_site_captured ON attendance_events (org_id, site_id, captured_at);
CREATE INDEX attendance_events_retention ON attendance_events (org_id, captured_at)
    WHERE location_removed_at IS NULL;

CREATE TABLE app_log_batches (
    id           uuid PRIMARY KEY,
    org_id       uuid NOT NULL,
    user_id      uuid NOT NULL,
    received_at  timestamptz NOT NULL,
    ip           text,
    device       jsonb NOT NULL,
    app_config   jsonb NOT NULL,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);
CREATE INDEX app_log_batches_org_received ON app_log_batches (org_id, received_at);

CREATE TABLE app_log_entries (
    id        uuid PRIMARY KEY,
    org_id    uuid NOT NULL,
    batch_id  uuid NOT NULL,
    user_id   uuid NOT NULL,
    ts        timestamptz NOT NULL,
    level     text NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
    event     text NOT NULL,
    message   text NOT NULL,
    attrs     jsonb NOT NULL,
    FOREIGN KEY (org_id, batch_id) REFERENCES app_log_batches (org_id, id)
);
CREATE INDEX app_log_entries_org_user_ts ON app_log_entries (org_id, user_id, ts);
CREATE INDEX app_log_entries_org_ts ON app_log_entries (org_id, ts);
CREATE INDEX app_log_entries_batch ON app_log_entries (batch_id);

CREATE TABLE audit_log (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id),
    at          timestamptz NOT NULL,
    actor_id    uuid,
    subject_id  uuid,
    action      text NOT NULL,
    object_id   text,
    request_id  text,
    ip          text,
    detail      jsonb NOT NULL
);
CREATE INDEX audit_log_org_at ON audit_log (org_id, at);
CREATE INDEX audit_log_org_subject_at ON audit_log (org_id, subject_id, at);
CREATE INDEX audit_log_org_actor_at ON audit_log (org_id, actor_id, at);

-- The audit trail is append-only at the database level too: no role of the application
-- can rewrite history, whatever bug a future change introduces.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Refresh tokens rotate within a family; presenting a used token revokes the family.
CREATE TABLE refresh_families (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL,
    user_id     uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);
CREATE INDEX refresh_families_user ON refresh_families (org_id, user_id);

CREATE TABLE refresh_tokens (
    token_hash  text PRIMARY KEY,
    family_id   uuid NOT NULL REFERENCES refresh_families (id),
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
