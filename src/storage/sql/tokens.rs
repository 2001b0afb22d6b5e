// Refresh-token families (see `all.rs` for how this file is compiled).

#[async_trait]
impl TokenStore for SqlRepo {
    async fn start_refresh_family(
        &self,
        org_id: Uuid,
        user_id: Uuid,
        family_id: Uuid,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let now = Timestamp(Utc::now());
        sqlx::query("INSERT INTO refresh_families (id, org_id, user_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(family_id)
            .bind(org_id)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(family_id)
        .bind(now)
        .bind(Timestamp(expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn rotate_refresh(
        &self,
        token_hash: &str,
        new_hash: &str,
        new_expires_at: DateTime<Utc>,
    ) -> Result<RefreshOutcome> {
        let mut tx = self.begin_write().await?;
        let now = Utc::now();
        let row = sqlx::query(
            "SELECT t.family_id, t.expires_at, t.used_at, f.user_id, f.org_id, f.revoked_at
             FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
             WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(RefreshOutcome::Invalid);
        };
        let family_id: Uuid = row.try_get("family_id")?;
        let expires_at: Timestamp = row.try_get("expires_at")?;
        let used_at: Option<Timestamp> = row.try_get("used_at")?;
        let revoked_at: Option<Timestamp> = row.try_get("revoked_at")?;
        if revoked_at.is_some() || expires_at.0 <= now {
            return Ok(RefreshOutcome::Invalid);
        }
        // Marking the token used is conditional, so of two concurrent presentations only
        // one rotates; the other is a reuse and revokes the family.
        let claimed = if used_at.is_none() {
            sqlx::query("UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL")
                .bind(token_hash)
                .bind(Timestamp(now))
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1
        } else {
            false
        };
        if !claimed {
            sqlx::query("UPDATE refresh_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(family_id)
                .bind(Timestamp(now))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(RefreshOutcome::Reused);
        }
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(new_hash)
        .bind(family_id)
        .bind(Timestamp(now))
        .bind(Timestamp(new_expires_at))
        .execute(&mut *tx)
        .await?;
        let outcome = RefreshOutcome::Rotated {
            user_id: row.try_get("user_id")?,
            org_id: row.try_get("org_id")?,
            family_id,
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn revoke_family(&self, family_id: Uuid) -> Result<()> {
        sqlx::query("UPDATE refresh_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(family_id)
            .bind(Timestamp(Utc::now()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
