// What auto check-out reads and writes (see `all.rs` for how this file is compiled).

#[async_trait]
impl AutoCheckOutStore for SqlRepo {
    async fn open_day_users(
        &self,
        org_id: Uuid,
        since: DateTime<Utc>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Uuid>> {
        let mut q = QueryBuilder::<Db>::new(
            "SELECT DISTINCT e.user_id FROM attendance_events e
             WHERE e.org_id = ",
        );
        q.push_bind(org_id)
            .push(" AND e.kind = 'check_in' AND e.status <> 'rejected' AND e.captured_at >= ")
            .push_bind(Timestamp(since));
        if let Some(after) = after {
            q.push(" AND e.user_id > ").push_bind(after);
        }
        // A check-out an approved correction names closes nothing: its correction (perhaps
        // earlier) counts instead, as in the day `judge_page` then judges. The few check-outs
        // after a check-in each probe the unique key of approved corrections.
        q.push(
            " AND NOT EXISTS (SELECT 1 FROM attendance_events o
                   WHERE o.org_id = e.org_id AND o.user_id = e.user_id AND o.kind = 'check_out'
                     AND o.status <> 'rejected' AND o.captured_at > e.captured_at
                     AND NOT EXISTS (SELECT 1 FROM attendance_requests sr
                                     WHERE sr.event_id = o.id AND sr.status = 'approved'))
             ORDER BY e.user_id LIMIT ",
        )
        .push_bind(i64::from(limit));
        Ok(q.build_query_scalar().fetch_all(&self.pool).await?)
    }

    async fn insert_auto_check_out(&self, date: NaiveDate, event: &NewEvent) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        insert_event_in(&mut tx, event).await?;
        // The day's key decides between replicas: the loser's event goes with its rollback.
        let marked = sqlx::query(
            "INSERT INTO auto_check_outs (org_id, user_id, local_date, event_id, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(event.org_id)
        .bind(event.event.user_id)
        .bind(date.to_string())
        .bind(event.event.id)
        .bind(Timestamp(event.event.received_at))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }
}
