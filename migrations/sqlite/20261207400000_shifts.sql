-- SQLite form of the PostgreSQL migration of the same name (uuids as BLOBs, times as TEXT).
-- Shifts, their assignments and holidays (API.md "Shifts and the attendance day").
-- A shift is versioned like a geofence: a change appends a version effective from the
-- instant it was made, so days judged under an older version keep being judged by it.
CREATE TABLE shifts (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES orgs (id),
    created_at  TEXT NOT NULL,
    -- A retired shift takes no new assignments and no changes; its versions stay readable.
    retired_at  TEXT,
    UNIQUE (org_id, id)
) STRICT;

CREATE TABLE shift_versions (
    org_id              BLOB NOT NULL,
    shift_id            BLOB NOT NULL,
    version             INTEGER NOT NULL CHECK (version >= 1),
    name                TEXT NOT NULL,
    -- HH:MM, local to whoever the shift is resolved for; end < start is a night shift.
    start_time          TEXT NOT NULL,
    end_time            TEXT NOT NULL,
    -- Bit set, 1 << days from Monday; never empty.
    weekdays            INTEGER NOT NULL CHECK ((weekdays >= 1) AND (weekdays <= 127)),
    late_grace_min      INTEGER NOT NULL CHECK ((late_grace_min >= 0) AND (late_grace_min <= 1440)),
    early_grace_min     INTEGER NOT NULL CHECK ((early_grace_min >= 0) AND (early_grace_min <= 1440)),
    break_min           INTEGER NOT NULL CHECK ((break_min >= 0) AND (break_min <= 1440)),
    half_day_below_min  INTEGER NOT NULL CHECK ((half_day_below_min >= 0) AND (half_day_below_min <= 1440)),
    overtime_after_min  INTEGER CHECK ((overtime_after_min >= 0) AND (overtime_after_min <= 1440)),
    effective_at        TEXT NOT NULL,
    PRIMARY KEY (shift_id, version),
    FOREIGN KEY (org_id, shift_id) REFERENCES shifts (org_id, id)
) STRICT;

CREATE TABLE shift_assignments (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL,
    shift_id    BLOB NOT NULL,
    site_id     BLOB,
    user_id     BLOB,
    -- YYYY-MM-DD: ISO TEXT sorts as dates do, on both backends. to_date NULL: open-ended.
    from_date   TEXT NOT NULL,
    to_date     TEXT,
    created_at  TEXT NOT NULL,
    UNIQUE (org_id, id),
    CHECK ((site_id IS NULL) <> (user_id IS NULL)),
    CHECK ((to_date IS NULL) OR (to_date >= from_date)),
    FOREIGN KEY (org_id, shift_id) REFERENCES shifts (org_id, id),
    FOREIGN KEY (org_id, site_id) REFERENCES sites (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
) STRICT;
-- The overlap check and schedule resolution look a target's assignments up by date.
CREATE INDEX shift_assignments_user_from ON shift_assignments (org_id, user_id, from_date) WHERE user_id IS NOT NULL;
CREATE INDEX shift_assignments_site_from ON shift_assignments (org_id, site_id, from_date) WHERE site_id IS NOT NULL;
CREATE INDEX shift_assignments_shift ON shift_assignments (org_id, shift_id);

CREATE TABLE holidays (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES orgs (id),
    -- YYYY-MM-DD.
    date        TEXT NOT NULL,
    name        TEXT NOT NULL,
    -- NULL: the whole organisation's.
    site_id     BLOB,
    created_at  TEXT NOT NULL,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, site_id) REFERENCES sites (org_id, id)
) STRICT;
-- One holiday per date org-wide and one per date and site: the database refuses the
-- duplicate, so concurrent inserts cannot both pass a check.
CREATE UNIQUE INDEX holidays_org_date ON holidays (org_id, date) WHERE site_id IS NULL;
CREATE UNIQUE INDEX holidays_site_date ON holidays (org_id, site_id, date) WHERE site_id IS NOT NULL;
-- The list and schedule resolution read holidays by date, org-wide and per site together.
CREATE INDEX holidays_org_date_id ON holidays (org_id, date, id);

-- Organisations created before shifts existed get the new permissions in their default
-- roles, as a new organisation would (API.md "Shifts and the attendance day").
INSERT INTO role_grants (org_id, role, permission)
    SELECT id, 'employee', 'shifts.read' FROM orgs
    UNION ALL SELECT id, 'manager', 'shifts.read' FROM orgs
    UNION ALL SELECT id, 'hr', 'shifts.read' FROM orgs
    UNION ALL SELECT id, 'hr', 'shifts.manage' FROM orgs
    UNION ALL SELECT id, 'org_admin', 'shifts.read' FROM orgs
    UNION ALL SELECT id, 'org_admin', 'shifts.manage' FROM orgs;
