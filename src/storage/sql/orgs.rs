// Organisations, their policy and role grants (see `all.rs` for how this file is compiled).

fn org_from_row(row: &<Db as sqlx::Database>::Row) -> Result<Org> {
    Ok(Org {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        timezone: row.try_get("timezone")?,
        created_at: row.try_get::<Timestamp, _>("created_at")?.0,
    })
}

async fn fetch_org(conn: &mut DbConn, org_id: Uuid) -> Result<Option<Org>> {
    let row = sqlx::query("SELECT id, name, timezone, created_at FROM orgs WHERE id = $1")
        .bind(org_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(org_from_row).transpose()
}

async fn replace_role_grants(conn: &mut DbConn, org_id: Uuid, role: Role, grants: PermissionSet) -> Result<()> {
    sqlx::query("DELETE FROM role_grants WHERE org_id = $1 AND role = $2")
        .bind(org_id)
        .bind(role.as_str())
        .execute(&mut *conn)
        .await?;
    for p in grants.iter() {
        sqlx::query("INSERT INTO role_grants (org_id, role, permission) VALUES ($1, $2, $3)")
            .bind(org_id)
            .bind(role.as_str())
            .bind(p.as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[async_trait]
impl OrgStore for SqlRepo {
    async fn count_orgs(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM orgs")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn create_org(
        &self,
        org: &NewOrg,
        admin: &NewUser,
        audit: &[AuditEntry],
    ) -> Result<Result<(Org, User), UserWriteError>> {
        let mut tx = self.begin_write().await?;
        let now = Timestamp(Utc::now());
        sqlx::query(
            "INSERT INTO orgs (id, name, timezone, policy, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(org.id)
        .bind(&org.name)
        .bind(&org.timezone)
        .bind(sqlx::types::Json(Policy::default()))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for role in Role::ALL {
            replace_role_grants(&mut tx, org.id, *role, role.default_grants()).await?;
        }
        if let Err(refused) = insert_user(&mut tx, org.id, admin).await? {
            return Ok(Err(refused));
        }
        insert_audit(&mut tx, audit).await?;
        let created = fetch_org(&mut tx, org.id).await?;
        let user = fetch_user(&mut tx, org.id, admin.id).await?;
        tx.commit().await?;
        match (created, user) {
            (Some(o), Some(u)) => Ok(Ok((o, u))),
            _ => Err(StorageError::Corrupt("organisation vanished during creation".into())),
        }
    }

    async fn get_org(&self, org_id: Uuid) -> Result<Option<Org>> {
        let mut conn = self.pool.acquire().await?;
        fetch_org(&mut conn, org_id).await
    }

    async fn update_org(&self, org_id: Uuid, patch: &OrgPatch, audit: &AuditEntry) -> Result<Option<Org>> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE orgs SET name = COALESCE($2, name), timezone = COALESCE($3, timezone), updated_at = $4 WHERE id = $1",
        )
        .bind(org_id)
        .bind(&patch.name)
        .bind(&patch.timezone)
        .bind(Timestamp(Utc::now()))
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        insert_audit(&mut tx, std::slice::from_ref(audit)).await?;
        let org = fetch_org(&mut tx, org_id).await?;
        tx.commit().await?;
        Ok(org)
    }

    async fn get_policy(&self, org_id: Uuid) -> Result<Policy> {
        let policy: Option<sqlx::types::Json<Policy>> = sqlx::query_scalar("SELECT policy FROM orgs WHERE id = $1")
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?;
        policy
            .map(|p| p.0)
            .ok_or_else(|| StorageError::Corrupt(format!("organisation {org_id} has no policy")))
    }

    async fn put_policy(&self, org_id: Uuid, policy: &Policy, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE orgs SET policy = $2, updated_at = $3 WHERE id = $1")
            .bind(org_id)
            .bind(sqlx::types::Json(policy))
            .bind(Timestamp(Utc::now()))
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, std::slice::from_ref(audit)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn role_grants(&self, org_id: Uuid) -> Result<Vec<(Role, PermissionSet)>> {
        let rows = sqlx::query("SELECT role, permission FROM role_grants WHERE org_id = $1")
            .bind(org_id)
            .fetch_all(&self.pool)
            .await?;
        let mut grants: Vec<(Role, PermissionSet)> = Role::ALL.iter().map(|r| (*r, PermissionSet::empty())).collect();
        for row in rows {
            let role = Role::parse(row.try_get("role")?);
            let permission = Permission::parse(row.try_get("permission")?);
            if let (Some(role), Some(permission)) = (role, permission)
                && let Some((_, set)) = grants.iter_mut().find(|(r, _)| *r == role)
            {
                set.insert(permission);
            }
        }
        Ok(grants)
    }

    async fn set_role_grants(&self, org_id: Uuid, role: Role, grants: PermissionSet, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        replace_role_grants(&mut tx, org_id, role, grants).await?;
        insert_audit(&mut tx, std::slice::from_ref(audit)).await?;
        tx.commit().await?;
        Ok(())
    }
}
