//! The PostgreSQL backend: production, several replicas sharing one database.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Pool, Postgres as Db};
use std::str::FromStr;

use super::error::Result;
use super::repo::DbOptions;

const BACKEND: &str = "postgres";
/// PostgreSQL's default isolation plus explicit row locks where a rule spans rows.
const BEGIN_WRITE: &str = "BEGIN";
/// Serialises changes to one organisation's reporting tree and admins across replicas.
const LOCK_ORG: &str = "SELECT id FROM orgs WHERE id = $1 FOR UPDATE";

/// Tells other replicas that an organisation's geofences changed (their caches drop its
/// index); sent inside the writing transaction, so only committed changes are announced.
const NOTIFY_FENCES: Option<&str> = Some("SELECT pg_notify('muster_geofences', $1)");
const FENCE_CHANNEL: &str = "muster_geofences";

/// Retention runs on one replica at a time: each batch takes this transaction-scoped lock
/// (safe behind a transaction-mode pooler) or skips the round.
const TRY_LOCK_RETENTION: Option<&str> = Some("SELECT pg_try_advisory_xact_lock(7243318265)");

/// Whether SQL may join LATERAL (the previous fix of every event of a batch, in one statement).
const HAS_LATERAL: bool = true;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

pub struct SqlRepo {
    pool: Pool<Db>,
    shared: Shared,
    listen_url: Option<String>,
}

impl SqlRepo {
    pub async fn open(url: &str, options: &DbOptions, migrate: bool) -> Result<Self> {
        let connect = PgConnectOptions::from_str(url)?.application_name("muster");
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        if migrate {
            MIGRATOR.run(&pool).await?;
        }
        warn_without_autovacuum(&pool).await?;
        Ok(SqlRepo {
            shared: Shared::spawn(&pool, options),
            listen_url: options.listen_url.clone(),
            pool,
        })
    }
}

/// The look-ups of a check-in rely on PostgreSQL's statistics to pick the user's index over
/// the organisation's: plans cached while a table was small and never analysed since can
/// scan a whole organisation's events per check-in. Autovacuum keeps the statistics fresh.
async fn warn_without_autovacuum(pool: &Pool<Db>) -> Result<()> {
    let autovacuum: String = sqlx::query_scalar("SELECT current_setting('autovacuum')")
        .fetch_one(pool)
        .await?;
    if autovacuum != "on" {
        tracing::warn!(
            autovacuum,
            "PostgreSQL runs without autovacuum: analyse the database regularly (ANALYZE), or query plans go stale as tables grow"
        );
    }
    Ok(())
}

impl SqlRepo {
    /// A dedicated connection LISTENing on the geofence channel, forwarding org ids.
    async fn listen_fence_changes(&self) -> Result<Option<tokio::sync::mpsc::Receiver<uuid::Uuid>>> {
        let mut listener = match &self.listen_url {
            Some(url) => sqlx::postgres::PgListener::connect(url).await?,
            None => sqlx::postgres::PgListener::connect_with(&self.pool).await?,
        };
        listener.listen(FENCE_CHANNEL).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            while let Ok(notification) = listener.recv().await {
                if let Ok(org_id) = notification.payload().parse()
                    && tx.send(org_id).await.is_err()
                {
                    return;
                }
            }
        });
        Ok(Some(rx))
    }
}

include!("sql/all.rs");
