// What attendance reports read (see `all.rs` for how this file is compiled).

fn report_event_from_row(row: &<Db as sqlx::Database>::Row) -> Result<ReportEvent> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let source: String = row.try_get("source")?;
    let reasons: sqlx::types::Json<Vec<Reason>> = row.try_get("reasons")?;
    let lat: Option<f64> = row.try_get("lat")?;
    let lon: Option<f64> = row.try_get("lon")?;
    let place = match (lat, lon) {
        (Some(lat), Some(lon)) => Some(Place {
            lat,
            lon,
            accuracy_m: row.try_get("accuracy_m")?,
            geofence: row.try_get("geofence_name")?,
        }),
        _ => None,
    };
    Ok(ReportEvent {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        kind: Kind::parse(&kind).ok_or_else(|| StorageError::Corrupt(format!("event kind {kind:?}")))?,
        captured_at: row.try_get::<Timestamp, _>("captured_at")?.0,
        status: Status::parse(&status).ok_or_else(|| StorageError::Corrupt(format!("event status {status:?}")))?,
        source: Source::parse(&source).ok_or_else(|| StorageError::Corrupt(format!("event source {source:?}")))?,
        outside: reasons.0.contains(&Reason::OutsideGeofence),
        superseded: row.try_get("superseded")?,
        place,
    })
}

#[async_trait]
impl ReportStore for SqlRepo {
    async fn team_ids(&self, org_id: Uuid, viewer: Uuid) -> Result<Vec<Uuid>> {
        Ok(sqlx::query_scalar(
            "WITH RECURSIVE team(id) AS (
                 SELECT id FROM users WHERE org_id = $1 AND id = $2
                 UNION
                 SELECT u.id FROM users u JOIN team t ON u.manager_id = t.id WHERE u.org_id = $1
             )
             SELECT id FROM team ORDER BY id",
        )
        .bind(org_id)
        .bind(viewer)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn report_subjects(
        &self,
        org_id: Uuid,
        ids: Option<&[Uuid]>,
        after: Option<Uuid>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ReportSubject>> {
        if ids.is_some_and(<[Uuid]>::is_empty) {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<Db>::new("");
        if let Some(ids) = ids {
            q.push("WITH ids(id) AS (");
            push_values(&mut q, ids);
            q.push(") ");
        }
        q.push(format_args!(
            "SELECT u.id, u.employee_code, u.name, {FIRST_SITE_ID} AS site_id, {FIRST_SITE_TIMEZONE} AS site_timezone
             FROM users u"
        ));
        if ids.is_some() {
            q.push(" JOIN ids ON ids.id = u.id");
        }
        q.push(" WHERE u.org_id = ").push_bind(org_id);
        if let Some(after) = after {
            q.push(" AND u.id > ").push_bind(after);
        }
        q.push(
            " AND (u.status = 'active' OR EXISTS (SELECT 1 FROM attendance_events e
                   WHERE e.org_id = u.org_id AND e.user_id = u.id AND e.captured_at >= ",
        )
        .push_bind(Timestamp(from))
        .push(" AND e.captured_at < ")
        .push_bind(Timestamp(to))
        .push(")) ORDER BY u.id LIMIT ")
        .push_bind(i64::from(limit));
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(ReportSubject {
                    id: row.try_get("id")?,
                    employee_code: row.try_get("employee_code")?,
                    name: row.try_get("name")?,
                    site_id: row.try_get("site_id")?,
                    site_timezone: row.try_get("site_timezone")?,
                })
            })
            .collect()
    }

    async fn report_events(
        &self,
        org_id: Uuid,
        users: &[Uuid],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<EventKey>,
        limit: u32,
    ) -> Result<Vec<ReportEvent>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<Db>::new("WITH ids(id) AS (");
        push_values(&mut q, users);
        // Superseded: an approved correction names the event. Asked as membership of one set
        // per query (the users' approved corrections, a small partial index), which both
        // backends build once and probe per row; a probe per event would be costed per event
        // on PostgreSQL (enough to switch JIT on for a page) for a few real look-ups. An event
        // of the window is of a local date within a day of the window's (any UTC offset), and a
        // correction is filed for its event's local date (`requests::file`): the date bounds
        // only narrow the set.
        let day = chrono::Duration::days(1);
        q.push(
            ") SELECT e.id, e.user_id, e.kind, e.captured_at, e.status, e.source, e.reasons, e.lat, e.lon, e.accuracy_m,
                      e.geofence_name,
                      e.id IN (SELECT sr.event_id FROM attendance_requests sr
                               WHERE sr.org_id = ",
        )
        .push_bind(org_id)
        .push(
            " AND sr.user_id IN (SELECT id FROM ids) AND sr.status = 'approved' AND sr.event_id IS NOT NULL
              AND sr.local_date >= ",
        )
        .push_bind((from - day).format(REQUEST_DATE_FORMAT).to_string())
        .push(" AND sr.local_date <= ")
        .push_bind((to + day).format(REQUEST_DATE_FORMAT).to_string())
        .push(
            ") AS superseded
               FROM ids JOIN attendance_events e ON e.user_id = ids.id WHERE e.org_id = ",
        )
        .push_bind(org_id)
        .push(" AND e.captured_at >= ")
        .push_bind(Timestamp(from))
        .push(" AND e.captured_at < ")
        .push_bind(Timestamp(to));
        if let Some(key) = after {
            // A row-value comparison: the keyset of (user, time, id), on both backends.
            q.push(" AND (e.user_id, e.captured_at, e.id) > (")
                .push_bind(key.user_id)
                .push(", ")
                .push_bind(Timestamp(key.captured_at))
                .push(", ")
                .push_bind(key.id)
                .push(")");
        }
        q.push(" ORDER BY e.user_id, e.captured_at, e.id LIMIT ")
            .push_bind(i64::from(limit));
        // Decoded as the rows arrive: a page of driver rows (every column a boxed value) is
        // several times the size of the events made of it, and four concurrent reports held
        // four such pages at their peak.
        let mut rows = q.build().fetch(&self.pool);
        let mut events = Vec::new();
        while let Some(row) = futures_util::TryStreamExt::try_next(&mut rows).await? {
            events.push(report_event_from_row(&row)?);
        }
        Ok(events)
    }
}
