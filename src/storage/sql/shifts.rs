// Shifts with their versions, shift assignments and holidays (see `all.rs` for how this file
// is compiled).

/// How these tables keep dates and times: ISO text, whose byte order is time order on both
/// backends, so range conditions compare the text.
const SHIFT_DATE_FORMAT: &str = "%Y-%m-%d";
const SHIFT_TIME_FORMAT: &str = "%H:%M";

const VERSION_COLUMNS: &str = "v.shift_id, v.version, v.name, v.start_time, v.end_time, v.weekdays, v.late_grace_min,
    v.early_grace_min, v.break_min, v.half_day_below_min, v.overtime_after_min, v.effective_at";

/// A shift with its latest version: the version with the highest number (the primary key
/// `(shift_id, version)` answers the `MAX`).
const SHIFT_SELECT: &str = "SELECT s.id, s.created_at, s.retired_at, v.shift_id, v.version, v.name, v.start_time, v.end_time,
    v.weekdays, v.late_grace_min, v.early_grace_min, v.break_min, v.half_day_below_min, v.overtime_after_min,
    v.effective_at
    FROM shifts s JOIN shift_versions v ON v.shift_id = s.id
        AND v.version = (SELECT MAX(m.version) FROM shift_versions m WHERE m.shift_id = s.id)";

const ASSIGNMENT_COLUMNS: &str = "a.id, a.shift_id, a.site_id, a.user_id, a.from_date, a.to_date, a.created_at";

const HOLIDAY_COLUMNS: &str = "h.id, h.date, h.name, h.site_id, h.created_at";

fn shift_date(date: NaiveDate) -> String {
    date.format(SHIFT_DATE_FORMAT).to_string()
}

fn parse_shift_date(value: &str, what: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(value, SHIFT_DATE_FORMAT)
        .map_err(|_| StorageError::Corrupt(format!("{what} {value:?} is not a date")))
}

fn shift_time(time: NaiveTime) -> String {
    time.format(SHIFT_TIME_FORMAT).to_string()
}

/// A stored minute count: the schema's CHECKs keep them in 0..=1440.
fn minutes(row: &<Db as sqlx::Database>::Row, column: &str) -> Result<u32> {
    let value: i32 = row.try_get(column)?;
    u32::try_from(value).map_err(|_| StorageError::Corrupt(format!("shift {column} {value}")))
}

/// The database form of a minute count the domain validated to 0..=1440.
fn minutes_param(value: u32) -> Result<i32> {
    i32::try_from(value).map_err(|_| StorageError::Corrupt(format!("a shift's minute count {value} is out of range")))
}

fn version_from_row(row: &<Db as sqlx::Database>::Row) -> Result<ShiftVersion> {
    let corrupt = |what: &str, value: &str| StorageError::Corrupt(format!("shift version {what} {value:?}"));
    let start: String = row.try_get("start_time")?;
    let end: String = row.try_get("end_time")?;
    let weekdays: i32 = row.try_get("weekdays")?;
    let version: i32 = row.try_get("version")?;
    let overtime: Option<i32> = row.try_get("overtime_after_min")?;
    Ok(ShiftVersion {
        shift_id: row.try_get("shift_id")?,
        version: u32::try_from(version).map_err(|_| corrupt("number", &version.to_string()))?,
        name: row.try_get("name")?,
        rules: ShiftRules {
            start: NaiveTime::parse_from_str(&start, SHIFT_TIME_FORMAT).map_err(|_| corrupt("start", &start))?,
            end: NaiveTime::parse_from_str(&end, SHIFT_TIME_FORMAT).map_err(|_| corrupt("end", &end))?,
            weekdays: u8::try_from(weekdays)
                .ok()
                .and_then(Weekdays::from_bits)
                .ok_or_else(|| corrupt("weekdays", &weekdays.to_string()))?,
            late_grace_min: minutes(row, "late_grace_min")?,
            early_grace_min: minutes(row, "early_grace_min")?,
            break_min: minutes(row, "break_min")?,
            half_day_below_min: minutes(row, "half_day_below_min")?,
            overtime_after_min: overtime
                .map(|m| u32::try_from(m).map_err(|_| corrupt("overtime_after_min", &m.to_string())))
                .transpose()?,
        },
        effective_at: row.try_get::<Timestamp, _>("effective_at")?.0,
    })
}

fn shift_from_row(row: &<Db as sqlx::Database>::Row) -> Result<StoredShift> {
    Ok(StoredShift {
        id: row.try_get("id")?,
        current: version_from_row(row)?,
        created_at: row.try_get::<Timestamp, _>("created_at")?.0,
        retired_at: row.try_get::<Option<Timestamp>, _>("retired_at")?.map(|t| t.0),
    })
}

fn assignment_from_row(row: &<Db as sqlx::Database>::Row) -> Result<Assignment> {
    let site_id: Option<Uuid> = row.try_get("site_id")?;
    let user_id: Option<Uuid> = row.try_get("user_id")?;
    let target = match (site_id, user_id) {
        (Some(site), None) => Target::Site(site),
        (None, Some(user)) => Target::User(user),
        _ => return Err(StorageError::Corrupt("a shift assignment names not exactly one target".into())),
    };
    let from: String = row.try_get("from_date")?;
    let to: Option<String> = row.try_get("to_date")?;
    Ok(Assignment {
        id: row.try_get("id")?,
        shift_id: row.try_get("shift_id")?,
        target,
        from: parse_shift_date(&from, "shift assignment from_date")?,
        to: to.map(|t| parse_shift_date(&t, "shift assignment to_date")).transpose()?,
        created_at: row.try_get::<Timestamp, _>("created_at")?.0,
    })
}

fn holiday_from_row(row: &<Db as sqlx::Database>::Row) -> Result<Holiday> {
    let date: String = row.try_get("date")?;
    Ok(Holiday {
        id: row.try_get("id")?,
        date: parse_shift_date(&date, "holiday date")?,
        name: row.try_get("name")?,
        site_id: row.try_get("site_id")?,
        created_at: row.try_get::<Timestamp, _>("created_at")?.0,
    })
}

/// Locks the org, then reads a shift that may still change; the refusal (`Missing`,
/// `Retired`) otherwise. The lock serialises changes and retirements of the shift with each
/// other and with assignments (which check it is not retired): a version number read here
/// is the latest, and an assignment either sees the shift retired or commits before the
/// retirement does.
async fn changeable_shift(conn: &mut DbConn, org_id: Uuid, shift_id: Uuid) -> Result<Result<StoredShift, ShiftWrite>> {
    sqlx::query(LOCK_ORG).bind(org_id).execute(&mut *conn).await?;
    Ok(match fetch_shift(conn, org_id, shift_id).await? {
        None => Err(ShiftWrite::Missing),
        Some(shift) if shift.retired_at.is_some() => Err(ShiftWrite::Retired),
        Some(shift) => Ok(shift),
    })
}

async fn fetch_shift(conn: &mut DbConn, org_id: Uuid, shift_id: Uuid) -> Result<Option<StoredShift>> {
    let sql = format!("{SHIFT_SELECT} WHERE s.org_id = $1 AND s.id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .bind(shift_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(shift_from_row).transpose()
}

async fn fetch_assignment(conn: &mut DbConn, org_id: Uuid, assignment_id: Uuid) -> Result<Option<Assignment>> {
    let sql = format!("SELECT {ASSIGNMENT_COLUMNS} FROM shift_assignments a WHERE a.org_id = $1 AND a.id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .bind(assignment_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(assignment_from_row).transpose()
}

async fn insert_shift_version(conn: &mut DbConn, org_id: Uuid, v: &ShiftVersion) -> Result<()> {
    let r = &v.rules;
    sqlx::query(
        "INSERT INTO shift_versions (org_id, shift_id, version, name, start_time, end_time, weekdays, late_grace_min,
             early_grace_min, break_min, half_day_below_min, overtime_after_min, effective_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(org_id)
    .bind(v.shift_id)
    .bind(i32::try_from(v.version).map_err(|_| StorageError::Corrupt(format!("shift version {}", v.version)))?)
    .bind(&v.name)
    .bind(shift_time(r.start))
    .bind(shift_time(r.end))
    .bind(i32::from(r.weekdays.bits()))
    .bind(minutes_param(r.late_grace_min)?)
    .bind(minutes_param(r.early_grace_min)?)
    .bind(minutes_param(r.break_min)?)
    .bind(minutes_param(r.half_day_below_min)?)
    .bind(r.overtime_after_min.map(minutes_param).transpose()?)
    .bind(Timestamp(v.effective_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Does the organisation have this site (`Target::Site`) or user (`Target::User`)?
async fn target_exists(conn: &mut DbConn, org_id: Uuid, target: Target) -> Result<bool> {
    let (sql, id) = match target {
        Target::Site(id) => ("SELECT COUNT(*) FROM sites WHERE org_id = $1 AND id = $2", id),
        Target::User(id) => ("SELECT COUNT(*) FROM users WHERE org_id = $1 AND id = $2", id),
    };
    let count: i64 = sqlx::query_scalar(sql).bind(org_id).bind(id).fetch_one(&mut *conn).await?;
    Ok(count > 0)
}

/// Pushes ` AND a.from_date <= to AND (a.to_date IS NULL OR a.to_date >= from)`: the
/// assignments that share at least one date with `from..=to` (`to: None`, open-ended).
fn push_overlapping(q: &mut QueryBuilder<Db>, from: NaiveDate, to: Option<NaiveDate>) {
    if let Some(to) = to {
        q.push(" AND a.from_date <= ").push_bind(shift_date(to));
    }
    q.push(" AND (a.to_date IS NULL OR a.to_date >= ")
        .push_bind(shift_date(from))
        .push(")");
}

#[async_trait]
impl ShiftStore for SqlRepo {
    async fn insert_shift(&self, org_id: Uuid, shift: &StoredShift, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO shifts (id, org_id, created_at, retired_at) VALUES ($1, $2, $3, NULL)")
            .bind(shift.id)
            .bind(org_id)
            .bind(Timestamp(shift.created_at))
            .execute(&mut *tx)
            .await?;
        insert_shift_version(&mut tx, org_id, &shift.current).await?;
        insert_audit(&mut tx, std::slice::from_ref(audit)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_shift(&self, org_id: Uuid, shift_id: Uuid) -> Result<Option<StoredShift>> {
        let mut conn = self.pool.acquire().await?;
        fetch_shift(&mut conn, org_id, shift_id).await
    }

    async fn list_shifts(&self, org_id: Uuid, page: PageRequest) -> Result<Page<StoredShift>> {
        let sql = format!(
            "{SHIFT_SELECT} WHERE s.org_id = $1 AND s.retired_at IS NULL AND ($2 IS NULL OR s.id > $2)
             ORDER BY s.id LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(page.after)
            .bind(i64::from(page.limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        let shifts = rows.iter().map(shift_from_row).collect::<Result<Vec<_>>>()?;
        Ok(into_page(shifts, page.limit, |s| s.id))
    }

    async fn update_shift(
        &self,
        org_id: Uuid,
        shift_id: Uuid,
        name: &str,
        rules: &ShiftRules,
        at: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<ShiftWrite> {
        let mut tx = self.begin_write().await?;
        let current = match changeable_shift(&mut tx, org_id, shift_id).await? {
            Ok(shift) => shift,
            Err(refused) => return Ok(refused),
        };
        let version = ShiftVersion {
            shift_id,
            version: current.current.version + 1,
            name: name.to_owned(),
            rules: rules.clone(),
            effective_at: at,
        };
        insert_shift_version(&mut tx, org_id, &version).await?;
        insert_audit(&mut tx, std::slice::from_ref(audit)).await?;
        tx.commit().await?;
        Ok(ShiftWrite::Done(StoredShift { current: version, ..current }))
    }

    async fn retire_shift(&self, org_id: Uuid, shift_id: Uuid, at: DateTime<Utc>, audit: &AuditEntry) -> Result<ShiftWrite> {
        let mut tx = self.begin_write().await?;
        let current = match changeable_shift(&mut tx, org_id, shift_id).await? {
            Ok(shift) => shift,
            Err(refused) => return Ok(refused),
        };
        sqlx::query("UPDATE shifts SET retired_at = $3 WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(shift_id)
            .bind(Timestamp(at))
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, std::slice::from_ref(audit)).await?;
        tx.commit().await?;
        Ok(ShiftWrite::Done(StoredShift {
            retired_at: Some(at),
            ..current
        }))
    }

    async fn insert_assignment(&self, org_id: Uuid, a: &Assignment, audit: &AuditEntry) -> Result<AssignOutcome> {
        let mut tx = self.begin_write().await?;
        // The overlap check below and the insert must not interleave with another
        // assignment's: with the organisation locked (PostgreSQL) or the database's one
        // writer (SQLite), of two overlapping writes the second sees the first.
        sqlx::query(LOCK_ORG).bind(org_id).execute(&mut *tx).await?;
        let shift = sqlx::query("SELECT retired_at FROM shifts WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(a.shift_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(shift) = shift else {
            return Ok(AssignOutcome::ShiftMissing);
        };
        if shift.try_get::<Option<Timestamp>, _>("retired_at")?.is_some() {
            return Ok(AssignOutcome::ShiftRetired);
        }
        if !target_exists(&mut tx, org_id, a.target).await? {
            return Ok(AssignOutcome::TargetMissing);
        }
        let mut q = QueryBuilder::<Db>::new("SELECT a.id FROM shift_assignments a WHERE a.org_id = ");
        q.push_bind(org_id);
        match a.target {
            Target::Site(site) => q.push(" AND a.site_id = ").push_bind(site),
            Target::User(user) => q.push(" AND a.user_id = ").push_bind(user),
        };
        push_overlapping(&mut q, a.from, a.to);
        q.push(" ORDER BY a.from_date LIMIT 1");
        if let Some(row) = q.build().fetch_optional(&mut *tx).await? {
            return Ok(AssignOutcome::Overlaps(row.try_get("id")?));
        }
        let (site_id, user_id) = match a.target {
            Target::Site(site) => (Some(site), None),
            Target::User(user) => (None, Some(user)),
        };
        sqlx::query(
            "INSERT INTO shift_assignments (id, org_id, shift_id, site_id, user_id, from_date, to_date, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(a.id)
        .bind(org_id)
        .bind(a.shift_id)
        .bind(site_id)
        .bind(user_id)
        .bind(shift_date(a.from))
        .bind(a.to.map(shift_date))
        .bind(Timestamp(a.created_at))
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, std::slice::from_ref(audit)).await?;
        tx.commit().await?;
        Ok(AssignOutcome::Assigned(a.clone()))
    }

    async fn list_assignments(
        &self,
        org_id: Uuid,
        filter: AssignmentFilter,
        page: PageRequest,
    ) -> Result<Page<Assignment>> {
        let mut q = QueryBuilder::<Db>::new(format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM shift_assignments a WHERE a.org_id = "
        ));
        q.push_bind(org_id);
        if let Some(site) = filter.site_id {
            q.push(" AND a.site_id = ").push_bind(site);
        }
        if let Some(user) = filter.user_id {
            q.push(" AND a.user_id = ").push_bind(user);
        }
        if let Some(after) = page.after {
            q.push(" AND a.id > ").push_bind(after);
        }
        q.push(" ORDER BY a.id LIMIT ").push_bind(i64::from(page.limit) + 1);
        let rows = q.build().fetch_all(&self.pool).await?;
        let items = rows.iter().map(assignment_from_row).collect::<Result<Vec<_>>>()?;
        Ok(into_page(items, page.limit, |a| a.id))
    }

    async fn end_assignment(
        &self,
        org_id: Uuid,
        assignment_id: Uuid,
        today: NaiveDate,
        audit: &AuditEntry,
    ) -> Result<EndOutcome> {
        let mut tx = self.begin_write().await?;
        let Some(current) = fetch_assignment(&mut tx, org_id, assignment_id).await? else {
            return Ok(EndOutcome::Missing);
        };
        if current.from >= today {
            let deleted = sqlx::query("DELETE FROM shift_assignments WHERE org_id = $1 AND id = $2")
                .bind(org_id)
                .bind(assignment_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                // A concurrent end deleted it first (and audited that).
                return Ok(EndOutcome::Missing);
            }
            insert_audit(&mut tx, std::slice::from_ref(audit)).await?;
            tx.commit().await?;
            return Ok(EndOutcome::Deleted);
        }
        let yesterday = today.pred_opt().unwrap_or(NaiveDate::MIN);
        if current.to.is_some_and(|to| to <= yesterday) {
            // It ended before today already: nothing changes, so nothing is audited.
            return Ok(EndOutcome::Ended(current));
        }
        // The condition keeps a concurrent end from being applied (and audited) twice.
        let ended = sqlx::query(
            "UPDATE shift_assignments SET to_date = $3
             WHERE org_id = $1 AND id = $2 AND (to_date IS NULL OR to_date > $3)",
        )
        .bind(org_id)
        .bind(assignment_id)
        .bind(shift_date(yesterday))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if ended == 0 {
            return Ok(match fetch_assignment(&mut tx, org_id, assignment_id).await? {
                Some(now_ended) => EndOutcome::Ended(now_ended),
                None => EndOutcome::Missing,
            });
        }
        insert_audit(&mut tx, std::slice::from_ref(audit)).await?;
        tx.commit().await?;
        Ok(EndOutcome::Ended(Assignment {
            to: Some(yesterday),
            ..current
        }))
    }

    async fn insert_holiday(&self, org_id: Uuid, h: &Holiday, audit: &AuditEntry) -> Result<HolidayOutcome> {
        let mut tx = self.begin_write().await?;
        if let Some(site) = h.site_id
            && !target_exists(&mut tx, org_id, Target::Site(site)).await?
        {
            return Ok(HolidayOutcome::SiteMissing);
        }
        let inserted = sqlx::query(
            "INSERT INTO holidays (id, org_id, date, name, site_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(h.id)
        .bind(org_id)
        .bind(shift_date(h.date))
        .bind(&h.name)
        .bind(h.site_id)
        .bind(Timestamp(h.created_at))
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            // The partial unique indexes on the date (PostgreSQL names them; SQLite lists
            // their columns) are what refuses a duplicate, concurrent or not.
            return match unique_violation(&e) {
                Some(what) if what.contains("holidays_org_date") || what.contains("holidays_site_date")
                    || what.contains("holidays.date") =>
                {
                    Ok(HolidayOutcome::Duplicate)
                }
                _ => Err(e.into()),
            };
        }
        insert_audit(&mut tx, std::slice::from_ref(audit)).await?;
        tx.commit().await?;
        Ok(HolidayOutcome::Added(h.clone()))
    }

    async fn list_holidays(
        &self,
        org_id: Uuid,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        page: PageRequest,
    ) -> Result<Page<Holiday>> {
        let mut q = QueryBuilder::<Db>::new(format!(
            "SELECT {HOLIDAY_COLUMNS} FROM holidays h WHERE h.org_id = "
        ));
        q.push_bind(org_id);
        if let Some(from) = from {
            q.push(" AND h.date >= ").push_bind(shift_date(from));
        }
        if let Some(to) = to {
            q.push(" AND h.date <= ").push_bind(shift_date(to));
        }
        if let Some(after) = page.after {
            // The cursor is the last holiday's id; the keyset is (date, id), so its date is
            // read back. A cursor whose holiday was deleted since matches nothing: the list
            // ends there rather than starting over.
            q.push(" AND (h.date, h.id) > (SELECT c.date, c.id FROM holidays c WHERE c.org_id = ")
                .push_bind(org_id)
                .push(" AND c.id = ")
                .push_bind(after)
                .push(")");
        }
        q.push(" ORDER BY h.date, h.id LIMIT ").push_bind(i64::from(page.limit) + 1);
        let rows = q.build().fetch_all(&self.pool).await?;
        let items = rows.iter().map(holiday_from_row).collect::<Result<Vec<_>>>()?;
        Ok(into_page(items, page.limit, |h| h.id))
    }

    async fn delete_holiday(&self, org_id: Uuid, holiday_id: Uuid, audit: &AuditEntry) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM holidays WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(holiday_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, std::slice::from_ref(audit)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn schedule_inputs(
        &self,
        org_id: Uuid,
        users: &[(Uuid, Option<Uuid>)],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<ScheduleInputs> {
        if users.is_empty() {
            return Ok(ScheduleInputs::default());
        }
        let user_ids: Vec<Uuid> = users.iter().map(|(user, _)| *user).collect();
        let mut site_ids: Vec<Uuid> = users.iter().filter_map(|(_, site)| *site).collect();
        site_ids.sort_unstable();
        site_ids.dedup();
        let mut conn = self.pool.acquire().await?;

        // The id lists are joined VALUES lists, not `IN (...)` (see `push_values`); the users'
        // and the sites' assignments are two arms, each answered by its partial index.
        let mut q = QueryBuilder::<Db>::new("WITH uids(id) AS (");
        push_values(&mut q, &user_ids);
        q.push(")");
        if !site_ids.is_empty() {
            q.push(", sids(id) AS (");
            push_values(&mut q, &site_ids);
            q.push(")");
        }
        q.push(format_args!(
            " SELECT {ASSIGNMENT_COLUMNS} FROM uids JOIN shift_assignments a ON a.user_id = uids.id WHERE a.org_id = "
        ))
        .push_bind(org_id);
        push_overlapping(&mut q, from, Some(to));
        if !site_ids.is_empty() {
            q.push(format_args!(
                " UNION ALL SELECT {ASSIGNMENT_COLUMNS} FROM sids JOIN shift_assignments a ON a.site_id = sids.id
                  WHERE a.org_id = "
            ))
            .push_bind(org_id);
            push_overlapping(&mut q, from, Some(to));
        }
        let rows = q.build().fetch_all(&mut *conn).await?;
        let assignments = rows.iter().map(assignment_from_row).collect::<Result<Vec<_>>>()?;

        let mut shift_ids: Vec<Uuid> = assignments.iter().map(|a| a.shift_id).collect();
        shift_ids.sort_unstable();
        shift_ids.dedup();
        let versions = if shift_ids.is_empty() {
            Vec::new()
        } else {
            let mut q = QueryBuilder::<Db>::new("WITH ids(id) AS (");
            push_values(&mut q, &shift_ids);
            q.push(format_args!(
                ") SELECT {VERSION_COLUMNS} FROM ids JOIN shift_versions v ON v.shift_id = ids.id WHERE v.org_id = "
            ))
            .push_bind(org_id)
            .push(" ORDER BY v.shift_id, v.version");
            let rows = q.build().fetch_all(&mut *conn).await?;
            rows.iter().map(version_from_row).collect::<Result<Vec<_>>>()?
        };

        let mut q = QueryBuilder::<Db>::new("");
        if !site_ids.is_empty() {
            q.push("WITH sids(id) AS (");
            push_values(&mut q, &site_ids);
            q.push(") ");
        }
        q.push(format_args!(
            "SELECT {HOLIDAY_COLUMNS} FROM holidays h WHERE h.org_id = "
        ))
        .push_bind(org_id)
        .push(" AND h.date >= ")
        .push_bind(shift_date(from))
        .push(" AND h.date <= ")
        .push_bind(shift_date(to));
        if site_ids.is_empty() {
            q.push(" AND h.site_id IS NULL");
        } else {
            q.push(" AND (h.site_id IS NULL OR h.site_id IN (SELECT id FROM sids))");
        }
        q.push(" ORDER BY h.date, h.id");
        let rows = q.build().fetch_all(&mut *conn).await?;
        let holidays = rows.iter().map(holiday_from_row).collect::<Result<Vec<_>>>()?;

        Ok(ScheduleInputs {
            assignments,
            versions,
            holidays,
        })
    }
}
