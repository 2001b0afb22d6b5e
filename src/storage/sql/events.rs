// Attendance events (see `all.rs` for how this file is compiled).

#[async_trait]
impl EventStore for SqlRepo {
    async fn site_locations(
        &self,
        org_id: Uuid,
        site_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<EventLocation>> {
        let rows = sqlx::query(
            "SELECT id, lat, lon, accuracy_m FROM attendance_events
             WHERE org_id = $1 AND site_id = $2 AND captured_at >= $3 AND captured_at < $4
               AND lat IS NOT NULL AND lon IS NOT NULL
             ORDER BY captured_at, id LIMIT $5",
        )
        .bind(org_id)
        .bind(site_id)
        .bind(Timestamp(from))
        .bind(Timestamp(to))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut located = Vec::with_capacity(rows.len());
        for row in rows {
            // Stored points were validated on the way in; one that no longer parses is skipped.
            if let Ok(point) = LatLon::new(row.try_get("lat")?, row.try_get("lon")?) {
                let accuracy: Option<f64> = row.try_get("accuracy_m")?;
                located.push(EventLocation {
                    event_id: row.try_get("id")?,
                    point,
                    accuracy_m: accuracy.unwrap_or(0.0),
                });
            }
        }
        Ok(located)
    }
}
