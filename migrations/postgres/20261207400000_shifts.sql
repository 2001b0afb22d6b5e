-- Shifts, their assignments and holidays (API.md "Shifts and the attendance day").
-- A shift is versioned like a geofence: a change appends a version effective from the
-- instant it was made, so days judged under an older version keep being judged by it.
CREATE TABLE shifts (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id),
    created_at  timestamptz NOT NULL,
    -- A retired shift takes no new assignments and no changes; its versions stay readable.
    retired_at  timestamptz,
    UNIQUE (org_id, id)
);

CREATE TABLE shift_versions (
    org_id              uuid NOT NULL,
    shift_id            uuid NOT NULL,
    version             integer NOT NULL CHECK (version >= 1),
    name                text NOT NULL,
    -- HH:MM, local to whoever the shift is resolved for; end < start is a night shift.
    start_time          text NOT NULL,
    end_time            text NOT NULL,
    -- Bit set, 1 << days from Monday; never empty.
    weekdays            integer NOT NULL CHECK ((weekdays >= 1) AND (weekdays <= 127)),
    late_grace_min      integer NOT NULL CHECK ((late_grace_min >= 0) AND (late_grace_min <= 1440)),
    early_grace_min     integer NOT NULL CHECK ((early_grace_min >= 0) AND (early_grace_min <= 1440)),
    break_min           integer NOT NULL CHECK ((break_min >= 0) AND (break_min <= 1440)),
    half_day_below_min  integer NOT NULL CHECK ((half_day_below_min >= 0) AND (half_day_below_min <= 1440)),
    overtime_after_min  integer CHECK ((overtime_after_min >= 0) AND (overtime_after_min <= 1440)),
    effective_at        timestamptz NOT NULL,
    PRIMARY KEY (shift_id, version),
    FOREIGN KEY (org_id, shift_id) REFERENCES shifts (org_id, id)
);

CREATE TABLE shift_assignments (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL,
    shift_id    uuid NOT NULL,
    site_id     uuid,
    user_id     uuid,
    -- YYYY-MM-DD: ISO text sorts as dates do, on both backends. to_date NULL: open-ended.
    from_date   text NOT NULL,
    to_date     text,
    created_at  timestamptz NOT NULL,
    UNIQUE (org_id, id),
    CHECK ((site_id IS NULL) <> (user_id IS NULL)),
    CHECK ((to_date IS NULL) OR (to_date >= from_date)),
    FOREIGN KEY (org_id, shift_id) REFERENCES shifts (org_id, id),
    FOREIGN KEY (org_id, site_id) REFERENCES sites (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);
-- The overlap check and schedule resolution look a target's assignments up by date.
CREATE INDEX shift_assignments_user_from ON shift_assignments (org_id, user_id, from_date) WHERE user_id IS NOT NULL;
CREATE INDEX shift_assignments_site_from ON shift_assignments (org_id, site_id, from_date) WHERE site_id IS NOT NULL;
CREATE INDEX shift_assignments_shift ON shift_assignments (org_id, shift_id);

CREATE TABLE holidays (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id),
    -- YYYY-MM-DD.
    date        text NOT NULL,
    name        text NOT NULL,
    -- NULL: the whole organisation's.
    site_id     uuid,
    created_at  timestamptz NOT NULL,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, site_id) REFERENCES sites (org_id, id)
);
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
