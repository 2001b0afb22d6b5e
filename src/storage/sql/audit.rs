// The audit trail (see `all.rs` for how this file is compiled).

#[async_trait]
impl AuditStore for SqlRepo {
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        insert_audit(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_audit(&self, org_id: Uuid, filter: &AuditFilter, page: PageRequest) -> Result<Page<AuditEntry>> {
        let mut q = QueryBuilder::<Db>::new(
            "SELECT id, org_id, at, actor_id, subject_id, action, object_id, request_id, ip, detail FROM audit_log WHERE org_id = ",
        );
        q.push_bind(org_id);
        if let Some(actor) = filter.actor_id {
            q.push(" AND actor_id = ").push_bind(actor);
        }
        if let Some(subject) = filter.subject_id {
            q.push(" AND subject_id = ").push_bind(subject);
        }
        if !filter.actions.is_empty() {
            q.push(" AND action IN (");
            let mut actions = q.separated(", ");
            for a in &filter.actions {
                actions.push_bind(a.clone());
            }
            q.push(")");
        }
        if let Some(from) = filter.from {
            q.push(" AND at >= ").push_bind(Timestamp(from));
        }
        if let Some(to) = filter.to {
            q.push(" AND at < ").push_bind(Timestamp(to));
        }
        if let Some(after) = page.after {
            q.push(" AND id > ").push_bind(after);
        }
        q.push(" ORDER BY id LIMIT ").push_bind(i64::from(page.limit) + 1);
        let rows = q.build().fetch_all(&self.pool).await?;
        let entries = rows
            .iter()
            .map(|row| {
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    org_id: row.try_get("org_id")?,
                    at: row.try_get::<Timestamp, _>("at")?.0,
                    actor_id: row.try_get("actor_id")?,
                    subject_id: row.try_get("subject_id")?,
                    action: row.try_get("action")?,
                    object_id: row.try_get("object_id")?,
                    request_id: row.try_get("request_id")?,
                    ip: row.try_get("ip")?,
                    detail: row.try_get::<sqlx::types::Json<serde_json::Value>, _>("detail")?.0,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(into_page(entries, page.limit, |e| e.id))
    }
}
