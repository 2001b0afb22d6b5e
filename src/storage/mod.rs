//! Persistence behind one interface, with PostgreSQL and SQLite implementations.
//!
//! The traits speak domain types only; no sqlx type or transaction crosses them. A unit of
//! work that must be atomic is one method, and an audited change takes its audit entry so
//! that the change and its record commit together. Expected refusals (a taken email, a
//! manager cycle) are values in a nested `Result`; the outer error is a database failure.
//!
//! Both backends run the same SQL: `sql/*.rs` is compiled once per backend by `include!`
//! from `postgres.rs` and `sqlite.rs`, each of which supplies its `Db` type and the few
//! statements that differ (how a write transaction begins, how an org is locked).

mod batcher;
mod postgres;
mod sqlite;
mod time;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

use crate::access::{PermissionSet, Relation, Role};
use crate::applogs::{AppLog, AppLogFilter, NewBatch};
use crate::attendance::EventLocation;
use crate::attendance::event::{EventContext, EventFilter, InsertOutcome, NewEvent, StoredEvent};
use crate::audit::{AuditEntry, AuditFilter};
use crate::org::{NewOrg, Org, OrgPatch, Policy};
use crate::privacy::EventDetails;
use crate::reports::{ReportEvent, ReportSubject};
use crate::sites::{FenceChange, FenceVersion, FenceWriteError, NewFence, NewSite, Site, SitePatch, StoredFence};
use crate::uploads::PhotoRecord;
use crate::users::{NewUser, User, UserPatch, UserStatus, UserWriteError};

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

/// The caller as the database knows them right now: read on every request so that a
/// disabled user, a role change or a new manager takes effect at once.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub manager_id: Option<Uuid>,
    pub status: UserStatus,
    pub permissions: PermissionSet,
}

/// What login needs to know about an address.
#[derive(Clone, Debug)]
pub struct LoginRecord {
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub status: UserStatus,
    pub password_hash: Option<String>,
}

/// Which users a list may show.
#[derive(Clone, Copy, Debug)]
pub enum UserScope {
    Org,
    /// Everyone whose manager chain contains this user.
    TeamOf(Uuid),
}

/// The outcome of presenting a refresh token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    Rotated {
        user_id: Uuid,
        org_id: Uuid,
        family_id: Uuid,
    },
    /// A token that was already used: the whole family is now revoked.
    Reused,
    /// Unknown, expired, or of a revoked family.
    Invalid,
}

#[async_trait]
pub trait OrgStore: Send + Sync {
    async fn count_orgs(&self) -> Result<i64>;
    /// Creates the organisation with default roles and policy, and its first admin.
    async fn create_org(
        &self,
        org: &NewOrg,
        admin: &NewUser,
        audit: &[AuditEntry],
    ) -> Result<Result<(Org, User), UserWriteError>>;
    async fn get_org(&self, org_id: Uuid) -> Result<Option<Org>>;
    async fn update_org(&self, org_id: Uuid, patch: &OrgPatch, audit: &AuditEntry) -> Result<Option<Org>>;
    async fn get_policy(&self, org_id: Uuid) -> Result<Policy>;
    async fn put_policy(&self, org_id: Uuid, policy: &Policy, audit: &AuditEntry) -> Result<()>;
    async fn role_grants(&self, org_id: Uuid) -> Result<Vec<(Role, PermissionSet)>>;
    async fn set_role_grants(&self, org_id: Uuid, role: Role, grants: PermissionSet, audit: &AuditEntry) -> Result<()>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// The active state and effective permissions of a user, if the user and the session
    /// (refresh family) still exist and the session is the user's and not revoked. Read
    /// afresh for every request; concurrent requests share the statement.
    async fn principal(&self, user_id: Uuid, session: Uuid) -> Result<Option<Principal>>;
    async fn login_record(&self, email_key: &str) -> Result<Option<LoginRecord>>;
    async fn create_user(
        &self,
        org_id: Uuid,
        user: &NewUser,
        audit: &AuditEntry,
    ) -> Result<Result<User, UserWriteError>>;
    async fn get_user(&self, org_id: Uuid, user_id: Uuid) -> Result<Option<User>>;
    async fn list_users(&self, org_id: Uuid, scope: UserScope, page: PageRequest) -> Result<Page<User>>;
    /// Applies a change atomically: manager cycles and the last org_admin are checked
    /// under a lock of the organisation, so two concurrent changes cannot both pass.
    async fn update_user(
        &self,
        org_id: Uuid,
        user_id: Uuid,
        patch: &UserPatch,
        audit: &[AuditEntry],
    ) -> Result<Result<User, UserWriteError>>;
    /// Is `viewer` on `subject`'s manager chain? (`team` scope)
    async fn is_in_team(&self, org_id: Uuid, viewer: Uuid, subject: Uuid) -> Result<bool>;
    /// How each of `subjects` relates to `viewer`, in one query: the batch form of
    /// `is_in_team` for lists and reports. Subjects that are not users of `org_id` are
    /// absent from the map.
    async fn relations(&self, org_id: Uuid, viewer: Uuid, subjects: &[Uuid]) -> Result<HashMap<Uuid, Relation>>;
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn start_refresh_family(
        &self,
        org_id: Uuid,
        user_id: Uuid,
        family_id: Uuid,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()>;
    async fn rotate_refresh(
        &self,
        token_hash: &str,
        new_hash: &str,
        new_expires_at: DateTime<Utc>,
    ) -> Result<RefreshOutcome>;
    async fn revoke_family(&self, family_id: Uuid) -> Result<()>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()>;
    async fn list_audit(&self, org_id: Uuid, filter: &AuditFilter, page: PageRequest) -> Result<Page<AuditEntry>>;
}

#[async_trait]
pub trait SiteStore: Send + Sync {
    async fn create_site(&self, org_id: Uuid, site: &NewSite, audit: &AuditEntry) -> Result<Site>;
    async fn get_site(&self, org_id: Uuid, site_id: Uuid) -> Result<Option<Site>>;
    async fn list_sites(&self, org_id: Uuid, page: PageRequest) -> Result<Page<Site>>;
    async fn update_site(
        &self,
        org_id: Uuid,
        site_id: Uuid,
        patch: &SitePatch,
        audit: &AuditEntry,
    ) -> Result<Option<Site>>;
    /// Creates all the fences or none (`:import` is all or nothing).
    async fn create_fences(
        &self,
        org_id: Uuid,
        fences: &[NewFence],
        audit: &[AuditEntry],
    ) -> Result<Result<Vec<StoredFence>, FenceWriteError>>;
    /// Replaces name and/or geometry, bumping the version; `None` if there is no such fence.
    async fn replace_fence(
        &self,
        org_id: Uuid,
        fence_id: Uuid,
        change: &FenceChange,
        audit: &AuditEntry,
    ) -> Result<Option<StoredFence>>;
    /// Retires a fence (`active: false`, a new version); history stays.
    async fn retire_fence(&self, org_id: Uuid, fence_id: Uuid, audit: &AuditEntry) -> Result<Option<StoredFence>>;
    async fn get_fence(&self, org_id: Uuid, fence_id: Uuid) -> Result<Option<StoredFence>>;
    async fn list_fences(&self, org_id: Uuid, site_id: Option<Uuid>, page: PageRequest) -> Result<Page<StoredFence>>;
    async fn fence_versions(&self, org_id: Uuid, fence_id: Uuid) -> Result<Vec<FenceVersion>>;
    /// Every active fence of the organisation, for its decision index.
    async fn active_fences(&self, org_id: Uuid) -> Result<Vec<StoredFence>>;
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Events judged against `site_id` with `captured_at` in `[from, to)` that still have a
    /// location, oldest first, at most `limit`.
    async fn site_locations(
        &self,
        org_id: Uuid,
        site_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<EventLocation>>;
    /// Stores the event unless the user already has one with its `client_event_id`: the
    /// unique key decides (never a read before the write), so concurrent retries store one
    /// row and every loser gets the winner's event. Concurrent calls share a commit (group
    /// commit); each returns only once its event is committed.
    async fn insert_event(&self, event: NewEvent) -> Result<InsertOutcome>;
    /// What judging a user's check-in needs, in one round trip: the org's policy and the
    /// user's sites (ascending).
    async fn policy_and_sites(&self, org_id: Uuid, user_id: Uuid) -> Result<(Policy, Vec<Uuid>)>;
    async fn get_event(&self, org_id: Uuid, event_id: Uuid) -> Result<Option<StoredEvent>>;
    /// For each `(client_event_id, at)`, in order, in one round trip: the user's event
    /// stored under that `client_event_id`, and their latest located event captured at or
    /// before `at`.
    async fn event_contexts(
        &self,
        org_id: Uuid,
        user_id: Uuid,
        items: &[(Uuid, DateTime<Utc>)],
    ) -> Result<Vec<EventContext>>;
    /// Events in `captured_at` order (then id), filtered and scoped.
    async fn list_events(&self, org_id: Uuid, filter: &EventFilter, page: PageRequest) -> Result<Page<StoredEvent>>;
}

/// Where a page of report events ends: the next page starts strictly after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventKey {
    pub user_id: Uuid,
    pub captured_at: DateTime<Utc>,
    pub id: Uuid,
}

/// What `GET /v1/reports/attendance` reads, page by page.
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// The ids of `viewer` and everyone whose manager chain contains them, ascending.
    async fn team_ids(&self, org_id: Uuid, viewer: Uuid) -> Result<Vec<Uuid>>;
    /// Users to report on, ascending by id, at most `limit`: those named by `ids` or, without
    /// it, the organisation's users after `after`. Active users, and disabled ones only if
    /// they have an event in `[from, to)`.
    async fn report_subjects(
        &self,
        org_id: Uuid,
        ids: Option<&[Uuid]>,
        after: Option<Uuid>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ReportSubject>>;
    /// Events of `users` captured in `[from, to)`, ordered by user, time and id, strictly
    /// after `after`, at most `limit`.
    async fn report_events(
        &self,
        org_id: Uuid,
        users: &[Uuid],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<EventKey>,
        limit: u32,
    ) -> Result<Vec<ReportEvent>>;
}

#[async_trait]
pub trait PhotoRecordStore: Send + Sync {
    async fn insert_photo(&self, photo: &PhotoRecord) -> Result<()>;
    async fn get_photo(&self, org_id: Uuid, photo_id: Uuid) -> Result<Option<PhotoRecord>>;
    /// Records a vetted direct upload under its new key, if it is still pending; false when
    /// a concurrent claim finalised it first (its key stands).
    async fn mark_photo_ready(&self, photo: &PhotoRecord) -> Result<bool>;
    async fn photo_attached(&self, org_id: Uuid, photo_id: Uuid) -> Result<bool>;
    /// A user's photos that still exist, oldest first (for their export).
    async fn user_photos(&self, org_id: Uuid, user_id: Uuid) -> Result<Vec<PhotoRecord>>;
    /// The photo of an event with the event's user (the photo's subject).
    async fn event_photo(&self, org_id: Uuid, event_id: Uuid) -> Result<Option<(Uuid, PhotoRecord)>>;
}

/// Erasure and retention. The `expire_*` methods work in bounded batches; they and
/// `unreferenced_photo_keys` answer `None` when another replica holds the retention lock.
#[async_trait]
pub trait PrivacyStore: Send + Sync {
    /// Removes a user's locations, device data, notes and app logs and marks their photos
    /// for deletion, in one transaction; `false` if there is no such user.
    async fn erase_user_data(&self, org_id: Uuid, user_id: Uuid, audit: &AuditEntry) -> Result<bool>;
    /// Photos marked deleted whose stored object is not yet confirmed gone: `(id, key)`.
    /// The device data and note kept with each of a user's events (never in event answers,
    /// but theirs to export), by event id.
    async fn event_details(&self, org_id: Uuid, user_id: Uuid, page: PageRequest) -> Result<Page<EventDetails>>;
    async fn photos_to_delete(&self, org_id: Uuid, user_id: Option<Uuid>, limit: u32) -> Result<Vec<(Uuid, String)>>;
    /// Confirms a photo's object is gone from the store.
    async fn photo_deleted(&self, org_id: Uuid, photo_id: Uuid) -> Result<()>;
    async fn org_ids(&self) -> Result<Vec<Uuid>>;
    async fn expire_locations(&self, org_id: Uuid, before: DateTime<Utc>, limit: u32) -> Result<Option<u64>>;
    async fn expire_photos(&self, org_id: Uuid, before: DateTime<Utc>, limit: u32) -> Result<Option<u64>>;
    async fn expire_app_logs(&self, org_id: Uuid, before: DateTime<Utc>, limit: u32) -> Result<Option<u64>>;
    /// The photo store keys among `keys` that no pending or ready photo names: orphans,
    /// if their objects are old enough (see `privacy::orphans`). One query for the lot.
    async fn unreferenced_photo_keys(&self, keys: &[String]) -> Result<Option<Vec<String>>>;
}

#[async_trait]
pub trait AppLogStore: Send + Sync {
    /// Stores a batch and all its entries in one transaction: all or nothing.
    async fn insert_app_log_batch(&self, batch: &NewBatch) -> Result<()>;
    /// Entries in id (arrival) order, joined with their batch's device, config and address.
    async fn list_app_logs(&self, org_id: Uuid, filter: &AppLogFilter, page: PageRequest) -> Result<Page<AppLog>>;
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
