// App logs: batches and their entries (see `all.rs` for how this file is compiled).


/// Entries per multi-row INSERT: 9 parameters each stays far below SQLite's 32,766 and
/// PostgreSQL's 65,535 bound parameters per statement.
const APP_LOG_ROWS_PER_INSERT: usize = 500;

fn app_log_from_row(row: &<Db as sqlx::Database>::Row) -> Result<AppLog> {
    let level: String = row.try_get("level")?;
    Ok(AppLog {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        received_at: row.try_get::<Timestamp, _>("received_at")?.0,
        ts: row.try_get::<Timestamp, _>("ts")?.0,
        level: Level::parse(&level).ok_or_else(|| StorageError::Corrupt(format!("app log level {level:?}")))?,
        event: row.try_get("event")?,
        message: row.try_get("message")?,
        attrs: row.try_get::<sqlx::types::Json<serde_json::Value>, _>("attrs")?.0,
        device: row.try_get::<sqlx::types::Json<Device>, _>("device")?.0,
        app_config: row.try_get::<sqlx::types::Json<serde_json::Value>, _>("app_config")?.0,
        ip: row.try_get("ip")?,
    })
}

#[async_trait]
impl AppLogStore for SqlRepo {
    async fn insert_app_log_batch(&self, batch: &NewBatch) -> Result<()> {
        let origin = &batch.origin;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO app_log_batches (id, org_id, user_id, received_at, ip, device, app_config)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(batch.id)
        .bind(origin.org_id)
        .bind(origin.user_id)
        .bind(Timestamp(origin.received_at))
        .bind(&origin.ip)
        .bind(sqlx::types::Json(&batch.device))
        .bind(sqlx::types::Json(&batch.app_config))
        .execute(&mut *tx)
        .await?;
        for chunk in batch.entries.chunks(APP_LOG_ROWS_PER_INSERT) {
            let mut q = QueryBuilder::<Db>::new(
                "INSERT INTO app_log_entries (id, org_id, batch_id, user_id, ts, level, event, message, attrs) ",
            );
            q.push_values(chunk, |mut row, e| {
                row.push_bind(e.id)
                    .push_bind(origin.org_id)
                    .push_bind(batch.id)
                    .push_bind(origin.user_id)
                    .push_bind(Timestamp(e.ts))
                    .push_bind(e.level.as_str())
                    .push_bind(&e.event)
                    .push_bind(&e.message)
                    .push_bind(sqlx::types::Json(&e.attrs));
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_app_logs(&self, org_id: Uuid, filter: &AppLogFilter, page: PageRequest) -> Result<Page<AppLog>> {
        let mut q = QueryBuilder::<Db>::new("");
        if let UserScope::TeamOf(viewer) = filter.scope {
            push_team_cte(&mut q, org_id, viewer);
        }
        q.push(
            "SELECT e.id, e.user_id, b.received_at, e.ts, e.level, e.event, e.message, e.attrs, b.device, b.app_config, b.ip
             FROM app_log_entries e JOIN app_log_batches b ON b.org_id = e.org_id AND b.id = e.batch_id
             WHERE e.org_id = ",
        )
        .push_bind(org_id);
        if let UserScope::TeamOf(_) = filter.scope {
            q.push(" AND e.user_id IN (SELECT id FROM team)");
        }
        if let Some(user_id) = filter.user_id {
            q.push(" AND e.user_id = ").push_bind(user_id);
        }
        if let Some(from) = filter.from {
            q.push(" AND e.ts >= ").push_bind(Timestamp(from));
        }
        if let Some(to) = filter.to {
            q.push(" AND e.ts < ").push_bind(Timestamp(to));
        }
        if let Some(level) = filter.level {
            q.push(" AND e.level = ").push_bind(level.as_str());
        }
        if let Some(after) = page.after {
            q.push(" AND e.id > ").push_bind(after);
        }
        q.push(" ORDER BY e.id LIMIT ").push_bind(i64::from(page.limit) + 1);
        let rows = q.build().fetch_all(&self.pool).await?;
        let items = rows.iter().map(app_log_from_row).collect::<Result<Vec<_>>>()?;
        Ok(into_page(items, page.limit, |a| a.id))
    }
}
