//! The SQLite backend: the embedded, zero-setup default for one server.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite as Db};
use std::str::FromStr;
use std::time::Duration;

use super::error::Result;
use super::repo::DbOptions;

const BACKEND: &str = "sqlite";
/// Take the write lock up front: a deferred transaction that later upgrades to a writer
/// fails with SQLITE_BUSY at once, whatever the busy timeout, when another writer won.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
/// `BEGIN IMMEDIATE` already serialises writers; the read keeps one code path for both.
const LOCK_ORG: &str = "SELECT id FROM orgs WHERE id = $1";

/// One process owns a SQLite database, so in-process invalidation is all there is.
const NOTIFY_FENCES: Option<&str> = None;

/// One process owns a SQLite database; `BEGIN IMMEDIATE` serialises the batches.
const TRY_LOCK_RETENTION: Option<&str> = None;

/// Whether SQL may join LATERAL; SQLite cannot, so a scalar sub-select finds each id instead.
const HAS_LATERAL: bool = false;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

pub struct SqlRepo {
    pool: Pool<Db>,
    shared: Shared,
}

impl SqlRepo {
    pub async fn open(url: &str, options: &DbOptions, migrate: bool) -> Result<Self> {
        let connect = SqliteConnectOptions::from_str(url)?;
        if let Some(dir) = connect.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
        }
        let connect = connect
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL never corrupts the database; FULL also keeps the last commits
            // across a power loss, which an acknowledged check-in needs.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        if migrate {
            MIGRATOR.run(&pool).await?;
        }
        Ok(SqlRepo {
            shared: Shared::spawn(&pool, options),
            pool,
        })
    }
}

impl SqlRepo {
    async fn listen_fence_changes(&self) -> Result<Option<tokio::sync::mpsc::Receiver<uuid::Uuid>>> {
        Ok(None)
    }
}

include!("sql/all.rs");
