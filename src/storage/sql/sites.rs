// Sites and geofences with their versions (see `all.rs` for how this file is compiled).

const FENCE_COLUMNS: &str = "id, site_id, name, geometry, version, active, area_m2, created_at";

fn site_from_row(row: &<Db as sqlx::Database>::Row) -> Result<Site> {
    Ok(Site {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        timezone: row.try_get("timezone")?,
        created_at: row.try_get::<Timestamp, _>("created_at")?.0,
    })
}

fn fence_from_row(row: &<Db as sqlx::Database>::Row) -> Result<StoredFence> {
    Ok(StoredFence {
        id: row.try_get("id")?,
        site_id: row.try_get("site_id")?,
        name: row.try_get("name")?,
        geometry: row.try_get::<sqlx::types::Json<serde_json::Value>, _>("geometry")?.0,
        version: row.try_get("version")?,
        active: row.try_get("active")?,
        area_m2: row.try_get("area_m2")?,
        created_at: row.try_get::<Timestamp, _>("created_at")?.0,
    })
}

async fn fetch_fence(conn: &mut DbConn, org_id: Uuid, fence_id: Uuid) -> Result<Option<StoredFence>> {
    let sql = format!("SELECT {FENCE_COLUMNS} FROM geofences WHERE org_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .bind(fence_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(fence_from_row).transpose()
}

/// Records the fence's current state as a version row, and tells other replicas.
async fn record_fence_version(conn: &mut DbConn, org_id: Uuid, fence: &StoredFence, by: Option<Uuid>) -> Result<()> {
    sqlx::query(
        "INSERT INTO geofence_versions (org_id, geofence_id, version, name, active, geometry, area_m2, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(org_id)
    .bind(fence.id)
    .bind(fence.version)
    .bind(&fence.name)
    .bind(fence.active)
    .bind(sqlx::types::Json(&fence.geometry))
    .bind(fence.area_m2)
    .bind(Timestamp(Utc::now()))
    .bind(by)
    .execute(&mut *conn)
    .await?;
    if let Some(notify) = NOTIFY_FENCES {
        sqlx::query(notify).bind(org_id.to_string()).execute(&mut *conn).await?;
    }
    Ok(())
}

#[async_trait]
impl SiteStore for SqlRepo {
    async fn create_site(&self, org_id: Uuid, site: &NewSite, audit: &AuditEntry) -> Result<Site> {
        let mut tx = self.begin_write().await?;
        let now = Timestamp(Utc::now());
        let row = sqlx::query(
            "INSERT INTO sites (id, org_id, name, timezone, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
             RETURNING id, name, timezone, created_at",
        )
        .bind(site.id)
        .bind(org_id)
        .bind(&site.name)
        .bind(&site.timezone)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let created = site_from_row(&row)?;
        insert_audit(&mut tx, std::slice::from_ref(audit)).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn get_site(&self, org_id: Uuid, site_id: Uuid) -> Result<Option<Site>> {
        let row = sqlx::query("SELECT id, name, timezone, created_at FROM sites WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(site_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(site_from_row).transpose()
    }

    async fn list_sites(&self, org_id: Uuid, page: PageRequest) -> Result<Page<Site>> {
        let rows = sqlx::query(
            "SELECT id, name, timezone, created_at FROM sites WHERE org_id = $1 AND ($2 IS NULL OR id > $2)
             ORDER BY id LIMIT $3",
        )
        .bind(org_id)
        .bind(page.after)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let sites = rows.iter().map(site_from_row).collect::<Result<Vec<_>>>()?;
        Ok(into_page(sites, page.limit, |s| s.id))
    }

    async fn update_site(
        &self,
        org_id: Uuid,
        site_id: Uuid,
        patch: &SitePatch,
        audit: &AuditEntry,
    ) -> Result<Option<Site>> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE sites SET name = COALESCE($3, name), timezone = COALESCE($4, timezone), updated_at = $5
             WHERE org_id = $1 AND id = $2 RETURNING id, name, timezone, created_at",
        )
        .bind(org_id)
        .bind(site_id)
        .bind(&patch.name)
        .bind(&patch.timezone)
        .bind(Timestamp(Utc::now()))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let site = site_from_row(&row)?;
        insert_audit(&mut tx, std::slice::from_ref(audit)).await?;
        tx.commit().await?;
        Ok(Some(site))
    }

    async fn create_fences(
        &self,
        org_id: Uuid,
        fences: &[NewFence],
        audit: &[AuditEntry],
    ) -> Result<Result<Vec<StoredFence>, FenceWriteError>> {
        let mut tx = self.begin_write().await?;
        let now = Timestamp(Utc::now());
        let mut created = Vec::with_capacity(fences.len());
        for (index, f) in fences.iter().enumerate() {
            let site: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sites WHERE org_id = $1 AND id = $2")
                .bind(org_id)
                .bind(f.site_id)
                .fetch_one(&mut *tx)
                .await?;
            if site == 0 {
                return Ok(Err(FenceWriteError::UnknownSite { index }));
            }
            let sql = format!(
                "INSERT INTO geofences (id, org_id, site_id, name, version, active, geometry, area_m2, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 1, TRUE, $5, $6, $7, $7) RETURNING {FENCE_COLUMNS}"
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(f.id)
                .bind(org_id)
                .bind(f.site_id)
                .bind(&f.name)
                .bind(sqlx::types::Json(&f.geometry))
                .bind(f.area_m2)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            let fence = fence_from_row(&row)?;
            record_fence_version(&mut tx, org_id, &fence, audit.first().and_then(|a| a.actor_id)).await?;
            created.push(fence);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Ok(created))
    }

    async fn replace_fence(
        &self,
        org_id: Uuid,
        fence_id: Uuid,
        change: &FenceChange,
        audit: &AuditEntry,
    ) -> Result<Option<StoredFence>> {
        let (geometry, area) = change.geometry.clone().unzip();
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE geofences SET name = COALESCE($3, name), geometry = COALESCE($4, geometry),
                 area_m2 = COALESCE($5, area_m2), version = version + 1, updated_at = $6
             WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(fence_id)
        .bind(&change.name)
        .bind(geometry.map(sqlx::types::Json))
        .bind(area)
        .bind(Timestamp(Utc::now()))
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        let fence = fetch_fence(&mut tx, org_id, fence_id).await?;
        if let Some(fence) = &fence {
            record_fence_version(&mut tx, org_id, fence, audit.actor_id).await?;
        }
        insert_audit(&mut tx, std::slice::from_ref(audit)).await?;
        tx.commit().await?;
        Ok(fence)
    }

    async fn retire_fence(&self, org_id: Uuid, fence_id: Uuid, audit: &AuditEntry) -> Result<Option<StoredFence>> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE geofences SET active = FALSE, version = version + 1, updated_at = $3
             WHERE org_id = $1 AND id = $2 AND active",
        )
        .bind(org_id)
        .bind(fence_id)
        .bind(Timestamp(Utc::now()))
        .execute(&mut *tx)
        .await?;
        let fence = fetch_fence(&mut tx, org_id, fence_id).await?;
        // Retiring twice is not a new version.
        if updated.rows_affected() == 1
            && let Some(fence) = &fence
        {
            record_fence_version(&mut tx, org_id, fence, audit.actor_id).await?;
            insert_audit(&mut tx, std::slice::from_ref(audit)).await?;
        }
        tx.commit().await?;
        Ok(fence)
    }

    async fn get_fence(&self, org_id: Uuid, fence_id: Uuid) -> Result<Option<StoredFence>> {
        let mut conn = self.pool.acquire().await?;
        fetch_fence(&mut conn, org_id, fence_id).await
    }

    async fn list_fences(&self, org_id: Uuid, site_id: Option<Uuid>, page: PageRequest) -> Result<Page<StoredFence>> {
        let sql = format!(
            "SELECT {FENCE_COLUMNS} FROM geofences WHERE org_id = $1 AND ($2 IS NULL OR site_id = $2)
             AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(site_id)
            .bind(page.after)
            .bind(i64::from(page.limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        let fences = rows.iter().map(fence_from_row).collect::<Result<Vec<_>>>()?;
        Ok(into_page(fences, page.limit, |f| f.id))
    }

    async fn fence_versions(&self, org_id: Uuid, fence_id: Uuid) -> Result<Vec<FenceVersion>> {
        let rows = sqlx::query(
            "SELECT version, name, geometry, active, area_m2, created_at, created_by FROM geofence_versions
             WHERE org_id = $1 AND geofence_id = $2 ORDER BY version",
        )
        .bind(org_id)
        .bind(fence_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(FenceVersion {
                    version: row.try_get("version")?,
                    name: row.try_get("name")?,
                    geometry: row.try_get::<sqlx::types::Json<serde_json::Value>, _>("geometry")?.0,
                    active: row.try_get("active")?,
                    area_m2: row.try_get("area_m2")?,
                    created_at: row.try_get::<Timestamp, _>("created_at")?.0,
                    created_by: row.try_get("created_by")?,
                })
            })
            .collect()
    }

    async fn active_fences(&self, org_id: Uuid) -> Result<Vec<StoredFence>> {
        let sql = format!("SELECT {FENCE_COLUMNS} FROM geofences WHERE org_id = $1 AND active ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(fence_from_row).collect()
    }
}
