// Attendance requests (see `all.rs` for how this file is compiled).

const REQUEST_COLUMNS: &str = "id, user_id, local_date, local_time, kind, proposed_at, event_id, reason, photo_id,
    status, created_at, decided_by, decided_at, comment, result_event_id";

/// How the requests table keeps a local date and time: ISO text, whose byte order is time
/// order on both backends.
const REQUEST_DATE_FORMAT: &str = "%Y-%m-%d";
const REQUEST_TIME_FORMAT: &str = "%H:%M";

fn request_from_row(row: &<Db as sqlx::Database>::Row) -> Result<StoredRequest> {
    let corrupt = |what: &str, value: &str| StorageError::Corrupt(format!("attendance request {what} {value:?}"));
    let date: String = row.try_get("local_date")?;
    let time: String = row.try_get("local_time")?;
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    Ok(StoredRequest {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        date: NaiveDate::parse_from_str(&date, REQUEST_DATE_FORMAT).map_err(|_| corrupt("date", &date))?,
        time: NaiveTime::parse_from_str(&time, REQUEST_TIME_FORMAT).map_err(|_| corrupt("time", &time))?,
        kind: RequestKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        proposed_at: row.try_get::<Timestamp, _>("proposed_at")?.0,
        event_id: row.try_get("event_id")?,
        reason: row.try_get("reason")?,
        photo_id: row.try_get("photo_id")?,
        status: RequestStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        created_at: row.try_get::<Timestamp, _>("created_at")?.0,
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get::<Option<Timestamp>, _>("decided_at")?.map(|t| t.0),
        comment: row.try_get("comment")?,
        result_event_id: row.try_get("result_event_id")?,
    })
}

async fn fetch_request(conn: &mut DbConn, org_id: Uuid, request_id: Uuid) -> Result<Option<StoredRequest>> {
    let sql = format!("SELECT {REQUEST_COLUMNS} FROM attendance_requests WHERE org_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .bind(request_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(request_from_row).transpose()
}

/// The refusal behind a unique violation of a request insert: its partial index of pending
/// requests (PostgreSQL names it; SQLite lists its columns) or its photo key.
fn request_refusal(e: &sqlx::Error) -> Option<FileOutcome> {
    let what = unique_violation(e)?;
    if what.contains("attendance_requests_one_pending") || what.contains("attendance_requests.local_date") {
        Some(FileOutcome::PendingExists)
    } else if what.contains("photo") {
        Some(FileOutcome::PhotoTaken)
    } else {
        None
    }
}

/// Is this the unique violation of a second approved correction of one event (PostgreSQL
/// names the partial index; SQLite lists its column)?
fn corrected_twice(e: &sqlx::Error) -> bool {
    unique_violation(e).is_some_and(|what| {
        what.contains("attendance_requests_corrected_once") || what.contains("attendance_requests.event_id")
    })
}

#[async_trait]
impl RequestStore for SqlRepo {
    async fn filing_context(&self, org_id: Uuid, user_id: Uuid) -> Result<Option<FilingContext>> {
        let sql = format!(
            "SELECT o.policy, o.timezone AS org_timezone, {FIRST_SITE_TIMEZONE} AS site_timezone
             FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.org_id = $1 AND u.id = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(FilingContext {
            policy: row.try_get::<sqlx::types::Json<Policy>, _>("policy")?.0,
            org_timezone: row.try_get("org_timezone")?,
            site_timezone: row.try_get("site_timezone")?,
        }))
    }

    async fn insert_request(&self, org_id: Uuid, r: &StoredRequest, audit: &AuditEntry) -> Result<FileOutcome> {
        let mut tx = self.begin_write().await?;
        // Conditional in the statement itself: no correction of an event corrected already
        // (a missed kind's NULL `event_id` equals nothing). A filing racing an approval may
        // still pass; that approval's key then refuses this one's (`resolve_request`).
        let inserted = sqlx::query(
            "INSERT INTO attendance_requests (id, org_id, user_id, local_date, local_time, kind, proposed_at, event_id,
                 reason, photo_id, status, created_at)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
             WHERE NOT EXISTS (SELECT 1 FROM attendance_requests WHERE event_id = $8 AND status = 'approved')",
        )
        .bind(r.id)
        .bind(org_id)
        .bind(r.user_id)
        .bind(r.date.format(REQUEST_DATE_FORMAT).to_string())
        .bind(r.time.format(REQUEST_TIME_FORMAT).to_string())
        .bind(r.kind.as_str())
        .bind(Timestamp(r.proposed_at))
        .bind(r.event_id)
        .bind(&r.reason)
        .bind(r.photo_id)
        .bind(r.status.as_str())
        .bind(Timestamp(r.created_at))
        .execute(&mut *tx)
        .await;
        match inserted {
            // Dropping the transaction rolls it back: nothing of a refused filing stays.
            Err(e) => return request_refusal(&e).ok_or_else(|| e.into()),
            Ok(done) if done.rows_affected() == 0 => return Ok(FileOutcome::Corrected),
            Ok(_) => {}
        }
        insert_audit(&mut tx, std::slice::from_ref(audit)).await?;
        let filed = fetch_request(&mut tx, org_id, r.id).await?;
        tx.commit().await?;
        filed
            .map(FileOutcome::Filed)
            .ok_or_else(|| StorageError::Corrupt("an attendance request vanished as it was filed".into()))
    }

    async fn get_request(&self, org_id: Uuid, request_id: Uuid) -> Result<Option<StoredRequest>> {
        let mut conn = self.pool.acquire().await?;
        fetch_request(&mut conn, org_id, request_id).await
    }

    async fn list_requests(&self, org_id: Uuid, filter: &RequestFilter, page: PageRequest) -> Result<Page<StoredRequest>> {
        let mut q = QueryBuilder::<Db>::new("");
        if let RequestScope::TeamOf(viewer) = filter.scope {
            push_team_cte(&mut q, org_id, viewer);
        }
        q.push(format_args!(
            "SELECT {REQUEST_COLUMNS} FROM attendance_requests WHERE org_id = "
        ))
        .push_bind(org_id);
        match filter.scope {
            RequestScope::Org => {}
            RequestScope::TeamOf(_) => {
                q.push(" AND user_id IN (SELECT id FROM team)");
            }
            RequestScope::DirectOf(viewer) => {
                q.push(" AND (user_id = ")
                    .push_bind(viewer)
                    .push(" OR user_id IN (SELECT id FROM users WHERE org_id = ")
                    .push_bind(org_id)
                    .push(" AND manager_id = ")
                    .push_bind(viewer)
                    .push("))");
            }
            RequestScope::User(user_id) => {
                q.push(" AND user_id = ").push_bind(user_id);
            }
        }
        if let Some(status) = filter.status {
            q.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(from) = filter.from {
            q.push(" AND local_date >= ")
                .push_bind(from.format(REQUEST_DATE_FORMAT).to_string());
        }
        if let Some(to) = filter.to {
            q.push(" AND local_date <= ")
                .push_bind(to.format(REQUEST_DATE_FORMAT).to_string());
        }
        if let Some(after) = page.after {
            // Ids are UUIDv7: id order is creation order, and the cursor is the last id.
            q.push(" AND id > ").push_bind(after);
        }
        q.push(" ORDER BY id LIMIT ").push_bind(i64::from(page.limit) + 1);
        let rows = q.build().fetch_all(&self.pool).await?;
        let items = rows.iter().map(request_from_row).collect::<Result<Vec<_>>>()?;
        Ok(into_page(items, page.limit, |r| r.id))
    }

    async fn resolve_request(
        &self,
        org_id: Uuid,
        request_id: Uuid,
        resolution: &Resolution,
        audit: &AuditEntry,
    ) -> Result<ResolveOutcome> {
        let mut tx = self.begin_write().await?;
        // The condition on `pending` is the decision's lock: on PostgreSQL a concurrent
        // decision waits for this row and then finds it decided; SQLite's write transaction
        // runs them one after the other. Either way the loser changes nothing. Approving a
        // correction also takes its event's entry in `attendance_requests_corrected_once`:
        // of two corrections of one event, the second approval fails here.
        let decided = sqlx::query(
            "UPDATE attendance_requests SET status = $3, decided_by = $4, decided_at = $5, comment = $6
             WHERE org_id = $1 AND id = $2 AND status = 'pending'",
        )
        .bind(org_id)
        .bind(request_id)
        .bind(resolution.status.as_str())
        .bind(resolution.by)
        .bind(Timestamp(resolution.at))
        .bind(&resolution.comment)
        .execute(&mut *tx)
        .await;
        let decided = match decided {
            Err(e) if corrected_twice(&e) => return Ok(ResolveOutcome::Corrected),
            decided => decided?.rows_affected(),
        };
        if decided == 0 {
            return Ok(match fetch_request(&mut tx, org_id, request_id).await? {
                Some(current) => ResolveOutcome::AlreadyDecided(current),
                None => ResolveOutcome::Missing,
            });
        }
        if let Some(event) = &resolution.event {
            insert_event_in(&mut tx, event).await?;
            sqlx::query("UPDATE attendance_requests SET result_event_id = $3 WHERE org_id = $1 AND id = $2")
                .bind(org_id)
                .bind(request_id)
                .bind(event.event.id)
                .execute(&mut *tx)
                .await?;
        }
        insert_audit(&mut tx, std::slice::from_ref(audit)).await?;
        let resolved = fetch_request(&mut tx, org_id, request_id).await?;
        tx.commit().await?;
        resolved
            .map(ResolveOutcome::Resolved)
            .ok_or_else(|| StorageError::Corrupt("an attendance request vanished as it was decided".into()))
    }
}
