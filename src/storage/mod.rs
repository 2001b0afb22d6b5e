//! Persistence behind one interface, with PostgreSQL and SQLite implementations.
//!
//! Each store trait lives in a module named after what it keeps, with the records it speaks:
//! storage's own row types, so that no domain module is imported here and the layers point
//! one way (`http` → domain → `storage`). No sqlx type or transaction crosses the traits. A
//! unit of work that must be atomic is one method, and an audited change takes its audit
//! entry so that the change and its record commit together. Expected refusals (a taken email, a
//! manager cycle) are values in a nested `Result`; the outer error is a database failure.
//!
//! Both backends run the same SQL: `sql/*.rs` is compiled once per backend by `include!`
//! from `postgres.rs` and `sqlite.rs`, each of which supplies its `Db` type and the few
//! statements that differ (how a write transaction begins, how an org is locked).

pub mod applogs;
pub mod audit;
mod batcher;
pub mod events;
pub mod orgs;
pub mod photos;
mod postgres;
pub mod privacy;
pub mod reports;
pub mod sites;
mod sqlite;
mod time;
pub mod tokens;
pub mod users;

use async_trait::async_trait;
use std::sync::Arc;
use uuid::Uuid;

use applogs::AppLogStore;
use audit::AuditStore;
use events::EventStore;
use orgs::OrgStore;
use photos::PhotoRecordStore;
use privacy::PrivacyStore;
use reports::ReportStore;
use sites::SiteStore;
use tokens::TokenStore;
use users::UserStore;

pub use time::Timestamp;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    /// A group-committed write that was not confirmed: the writer stopped, or the commit it
    /// shared failed. As after a lost connection, a retry with the same `client_event_id`
    /// finds out.
    #[error("the write was not confirmed: {0}")]
    Unconfirmed(String),
    /// A read shared with concurrent requests (see `batcher`) failed: each of them gets the
    /// cause.
    #[error("{0}")]
    Shared(Arc<StorageError>),
    /// The task that runs one kind of shared statement is gone (a panic, or shutdown).
    #[error("the database {0} stopped")]
    Stopped(&'static str),
}

impl StorageError {
    /// Whether the database (or the way to it) is down, so that a retry may succeed: the
    /// request is answered 503, not 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StorageError::Unavailable(_) | StorageError::Unconfirmed(_) | StorageError::Stopped(_) => true,
            StorageError::Shared(cause) => cause.is_unavailable(),
            _ => false,
        }
    }
}

impl From<sqlx::Error> for StorageError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => StorageError::Unavailable(e),
            other => StorageError::Database(other),
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// A page request: at most `limit` items strictly after the cursor `after`.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<Uuid>,
}

/// One page; `next` is the cursor of the following page, if there is one.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Uuid>,
}

/// Everything the server stores.
#[async_trait]
pub trait Repo:
    OrgStore
    + UserStore
    + TokenStore
    + AuditStore
    + SiteStore
    + EventStore
    + PhotoRecordStore
    + PrivacyStore
    + ReportStore
    + AppLogStore
    + Send
    + Sync
    + 'static
{
    /// `"postgres"` or `"sqlite"`.
    fn backend(&self) -> &'static str;
    /// A round trip to the database, for `/readyz`.
    async fn ping(&self) -> Result<()>;
    /// Organisations whose geofences another server changed, as they change (PostgreSQL
    /// LISTEN/NOTIFY). `None` where one process owns the database (SQLite).
    async fn fence_changes(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Uuid>>>;
    /// The connection pool right now, for `/metrics`.
    fn pool_stats(&self) -> PoolStats;
    /// Closes the pool once the server has stopped: waits for connections still in use,
    /// then closes every connection cleanly (PostgreSQL sessions end at once instead of
    /// lingering until a TCP timeout; SQLite checkpoints its write-ahead log).
    async fn close(&self);
}

/// The state of a connection pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open now, idle or in use.
    pub size: u32,
    pub idle: u32,
    pub in_use: u32,
    /// The most the pool may open (`MUSTER_DATABASE_MAX_CONNECTIONS`).
    pub max: u32,
}

/// Pool and connection settings.
#[derive(Clone, Debug)]
pub struct DbOptions {
    pub max_connections: u32,
    pub acquire_timeout: std::time::Duration,
    /// Most attendance events written by one commit.
    pub event_batch_max: usize,
    /// Most requests served by one shared read (see `batcher`).
    pub read_batch_max: usize,
    /// Where PostgreSQL's LISTEN connection goes when not where the pool goes (a
    /// transaction-mode pooler does not deliver notifications).
    pub listen_url: Option<String>,
}

/// Opens the database named by `url`, creating a SQLite file (and its directory) if
/// missing, and applies the backend's migrations when `migrate` is set.
pub async fn open(url: &str, options: &DbOptions, migrate: bool) -> Result<Arc<dyn Repo>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::SqlRepo::open(url, options, migrate).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqlRepo::open(url, options, migrate).await?))
    } else {
        Err(StorageError::UnsupportedUrl)
    }
}
