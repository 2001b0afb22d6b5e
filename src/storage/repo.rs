//! `Repo`: every store joined in one object, chosen at start-up from the database URL, and
//! the settings of its connection pool.

use async_trait::async_trait;
use uuid::Uuid;

use super::applogs::AppLogStore;
use super::audit::AuditStore;
use super::auto_check_out::AutoCheckOutStore;
use super::error::Result;
use super::events::EventStore;
use super::orgs::OrgStore;
use super::photos::PhotoRecordStore;
use super::privacy::PrivacyStore;
use super::reports::ReportStore;
use super::requests::RequestStore;
use super::shifts::ShiftStore;
use super::sites::SiteStore;
use super::tokens::TokenStore;
use super::users::UserStore;

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
    + RequestStore
    + AutoCheckOutStore
    + ShiftStore
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
