// Erasure and retention (see `all.rs` for how this file is compiled). Every statement is
// bounded or scoped to one user, and every one is idempotent: running it twice, or on two
// replicas, removes nothing twice and leaves nothing half-done.

/// What erasure and retention remove from an event: everything that says where the person
/// was or what they carried. Kind, times, status and verdict stay, so reports still add up.
const FORGET_LOCATION: &str = "lat = NULL, lon = NULL, accuracy_m = NULL, altitude_m = NULL, provider = NULL,
     is_mock = NULL, device = NULL, note = NULL, distance_m = NULL, location_removed_at = $2";

/// Takes the retention lock for this transaction where replicas share the database;
/// `false` means another replica is at it, so this one skips the round.
async fn retention_lock(conn: &mut DbConn) -> Result<bool> {
    match TRY_LOCK_RETENTION {
        Some(sql) => Ok(sqlx::query_scalar(sql).fetch_one(&mut *conn).await?),
        None => Ok(true),
    }
}

#[async_trait]
impl PrivacyStore for SqlRepo {
    async fn erase_user_data(&self, org_id: Uuid, user_id: Uuid, audit: &AuditEntry) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let now = Timestamp(Utc::now());
        let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
        if exists == 0 {
            return Ok(false);
        }
        let sql = format!(
            "UPDATE attendance_events SET {FORGET_LOCATION} WHERE org_id = $1 AND user_id = $3 AND location_removed_at IS NULL"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        // A request's reason and its decision's comment are free text about the person; the
        // request's skeleton (day, kind, time, status, who decided) stays, as an event's does.
        sqlx::query(
            "UPDATE attendance_requests SET reason = NULL, comment = NULL
             WHERE org_id = $1 AND user_id = $2 AND (reason IS NOT NULL OR comment IS NOT NULL)",
        )
        .bind(org_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE photos SET status = 'deleted' WHERE org_id = $1 AND user_id = $2 AND status <> 'deleted'")
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM app_log_entries WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM app_log_batches WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, std::slice::from_ref(audit)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn event_details(&self, org_id: Uuid, user_id: Uuid, page: PageRequest) -> Result<Page<EventDetails>> {
        let rows = sqlx::query(
            "SELECT id, device, note FROM attendance_events WHERE org_id = $1 AND user_id = $2
               AND (device IS NOT NULL OR note IS NOT NULL) AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4",
        )
        .bind(org_id)
        .bind(user_id)
        .bind(page.after)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let details = rows
            .iter()
            .map(|r| {
                Ok(EventDetails {
                    event_id: r.try_get("id")?,
                    device: r
                        .try_get::<Option<sqlx::types::Json<serde_json::Value>>, _>("device")?
                        .map(|d| d.0),
                    note: r.try_get("note")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(into_page(details, page.limit, |d| d.event_id))
    }

    async fn photos_to_delete(&self, org_id: Uuid, user_id: Option<Uuid>, limit: u32) -> Result<Vec<(Uuid, String)>> {
        let rows = sqlx::query(
            "SELECT id, storage_key FROM photos WHERE org_id = $1 AND ($2 IS NULL OR user_id = $2)
               AND status = 'deleted' AND deleted_at IS NULL ORDER BY id LIMIT $3",
        )
        .bind(org_id)
        .bind(user_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("storage_key")?)))
            .collect()
    }

    async fn photo_deleted(&self, org_id: Uuid, photo_id: Uuid) -> Result<()> {
        sqlx::query("UPDATE photos SET deleted_at = $3 WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(photo_id)
            .bind(Timestamp(Utc::now()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn org_ids(&self) -> Result<Vec<Uuid>> {
        Ok(sqlx::query_scalar("SELECT id FROM orgs ORDER BY id")
            .fetch_all(&self.pool)
            .await?)
    }

    async fn expire_locations(&self, org_id: Uuid, before: DateTime<Utc>, limit: u32) -> Result<Option<u64>> {
        let mut tx = self.begin_write().await?;
        if !retention_lock(&mut tx).await? {
            return Ok(None);
        }
        let sql = format!(
            "UPDATE attendance_events SET {FORGET_LOCATION} WHERE id IN (
                 SELECT id FROM attendance_events WHERE org_id = $1 AND captured_at < $3 AND location_removed_at IS NULL LIMIT $4)"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(Timestamp(Utc::now()))
            .bind(Timestamp(before))
            .bind(i64::from(limit))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(Some(done))
    }

    async fn expire_photos(&self, org_id: Uuid, before: DateTime<Utc>, limit: u32) -> Result<Option<u64>> {
        let mut tx = self.begin_write().await?;
        if !retention_lock(&mut tx).await? {
            return Ok(None);
        }
        let done = sqlx::query(
            "UPDATE photos SET status = 'deleted' WHERE id IN (
                 SELECT id FROM photos WHERE org_id = $1 AND created_at < $2 AND status <> 'deleted' LIMIT $3)",
        )
        .bind(org_id)
        .bind(Timestamp(before))
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(Some(done))
    }

    async fn unreferenced_photo_keys(&self, keys: &[String]) -> Result<Option<Vec<String>>> {
        if keys.is_empty() {
            return Ok(Some(Vec::new()));
        }
        // A read, but under the retention lock like every other retention step, so that
        // replicas take turns rather than all listing the store at once.
        let mut tx = self.pool.begin().await?;
        if !retention_lock(&mut tx).await? {
            return Ok(None);
        }
        // A `deleted` row does not keep its key: erasure or retention has already removed
        // its object (or is about to), so an object found there again is one a phone PUT
        // through a presigned URL still valid after the erasure, and must go too. `pending`
        // rows do keep theirs: a presigned upload lands under the key its row already names.
        let mut q = QueryBuilder::<Db>::new("WITH listed(storage_key) AS (");
        push_values(&mut q, keys);
        q.push(
            ") SELECT l.storage_key FROM listed l WHERE NOT EXISTS (
                 SELECT 1 FROM photos p WHERE p.storage_key = l.storage_key AND p.status <> 'deleted')",
        );
        let unreferenced = q.build_query_scalar().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(unreferenced))
    }

    async fn expire_app_logs(&self, org_id: Uuid, before: DateTime<Utc>, limit: u32) -> Result<Option<u64>> {
        let mut tx = self.begin_write().await?;
        if !retention_lock(&mut tx).await? {
            return Ok(None);
        }
        let batches: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM app_log_batches WHERE org_id = $1 AND received_at < $2 ORDER BY id LIMIT $3",
        )
        .bind(org_id)
        .bind(Timestamp(before))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        for batch in &batches {
            sqlx::query("DELETE FROM app_log_entries WHERE batch_id = $1")
                .bind(batch)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM app_log_batches WHERE id = $1")
                .bind(batch)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(batches.len() as u64))
    }
}
