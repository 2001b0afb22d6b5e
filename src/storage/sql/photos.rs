// Photo records (see `all.rs` for how this file is compiled).

const PHOTO_COLUMNS: &str = "id, org_id, user_id, storage_key, status, sha256, bytes, content_type, created_at";

fn photo_from_row(row: &<Db as sqlx::Database>::Row) -> Result<PhotoRecord> {
    let status: String = row.try_get("status")?;
    Ok(PhotoRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        user_id: row.try_get("user_id")?,
        storage_key: row.try_get("storage_key")?,
        status: PhotoStatus::parse(&status).ok_or_else(|| StorageError::Corrupt(format!("photo status {status:?}")))?,
        sha256: row.try_get("sha256")?,
        bytes: row.try_get("bytes")?,
        content_type: row.try_get("content_type")?,
        created_at: row.try_get::<Timestamp, _>("created_at")?.0,
    })
}

#[async_trait]
impl PhotoRecordStore for SqlRepo {
    async fn insert_photo(&self, photo: &PhotoRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO photos (id, org_id, user_id, storage_key, status, sha256, bytes, content_type, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(photo.id)
        .bind(photo.org_id)
        .bind(photo.user_id)
        .bind(&photo.storage_key)
        .bind(photo.status.as_str())
        .bind(&photo.sha256)
        .bind(photo.bytes)
        .bind(&photo.content_type)
        .bind(Timestamp(photo.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_photo(&self, org_id: Uuid, photo_id: Uuid) -> Result<Option<PhotoRecord>> {
        let sql = format!("SELECT {PHOTO_COLUMNS} FROM photos WHERE org_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(photo_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(photo_from_row).transpose()
    }

    async fn mark_photo_ready(&self, photo: &PhotoRecord) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE photos SET storage_key = $3, status = 'ready', sha256 = $4, bytes = $5, content_type = $6
             WHERE org_id = $1 AND id = $2 AND status = 'pending'",
        )
        .bind(photo.org_id)
        .bind(photo.id)
        .bind(&photo.storage_key)
        .bind(&photo.sha256)
        .bind(photo.bytes)
        .bind(&photo.content_type)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn photo_attached(&self, org_id: Uuid, photo_id: Uuid) -> Result<bool> {
        // A photo goes with one check-in or one attendance request, never both.
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM attendance_events WHERE org_id = $1 AND photo_id = $2)
                  + (SELECT COUNT(*) FROM attendance_requests WHERE org_id = $1 AND photo_id = $2)",
        )
            .bind(org_id)
            .bind(photo_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    async fn user_photos(&self, org_id: Uuid, user_id: Uuid) -> Result<Vec<PhotoRecord>> {
        let sql = format!(
            "SELECT {PHOTO_COLUMNS} FROM photos WHERE org_id = $1 AND user_id = $2 AND status <> 'deleted' ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(photo_from_row).collect()
    }

    async fn event_photo(&self, org_id: Uuid, event_id: Uuid) -> Result<Option<(Uuid, PhotoRecord)>> {
        let sql = format!(
            "SELECT e.user_id AS subject_id, {} FROM attendance_events e JOIN photos p ON p.org_id = e.org_id AND p.id = e.photo_id
             WHERE e.org_id = $1 AND e.id = $2",
            PHOTO_COLUMNS.split(", ").map(|c| format!("p.{c}")).collect::<Vec<_>>().join(", ")
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((row.try_get("subject_id")?, photo_from_row(&row)?)))
    }
}
