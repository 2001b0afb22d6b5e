//! App-log batches as stored: who sent them from where, the device, the app's config and
//! the entries, read back joined.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::Result;
use super::page::{Page, PageRequest};
use super::users::UserScope;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// The device that sent a batch, as it describes itself. `id` and `name` are personal data
/// (`applogs.pii.read`); the rest is not.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Device {
    pub id: Option<String>,
    pub name: Option<String>,
    pub model: Option<String>,
    pub os: Option<String>,
    pub os_version: Option<String>,
    pub app_version: Option<String>,
}

/// Who sent a batch and from where: added by the server, never taken from the body.
#[derive(Clone, Debug)]
pub struct Origin {
    pub org_id: Uuid,
    pub user_id: Uuid,
    pub ip: Option<String>,
    pub received_at: DateTime<Utc>,
}

/// A validated batch, ready to store in one transaction.
#[derive(Clone, Debug)]
pub struct NewBatch {
    pub id: Uuid,
    pub origin: Origin,
    pub device: Device,
    pub app_config: Value,
    pub entries: Vec<NewEntry>,
}

#[derive(Clone, Debug)]
pub struct NewEntry {
    pub id: Uuid,
    pub ts: DateTime<Utc>,
    pub level: Level,
    pub event: String,
    pub message: String,
    pub attrs: Value,
}

/// What a list may show: the caller's scope, narrowed by the query.
#[derive(Clone, Debug)]
pub struct AppLogFilter {
    pub scope: UserScope,
    /// Only this user's entries (within `scope`).
    pub user_id: Option<Uuid>,
    /// Entry time (`ts`), inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Entry time (`ts`), exclusive.
    pub to: Option<DateTime<Utc>>,
    pub level: Option<Level>,
}

/// One app-log entry as stored, and as `GET /v1/app-logs` shows it after [`present`].
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AppLog {
    pub id: Uuid,
    pub user_id: Uuid,
    pub received_at: DateTime<Utc>,
    pub ts: DateTime<Utc>,
    pub level: Level,
    pub event: String,
    pub message: String,
    #[schema(value_type = Object)]
    pub attrs: Value,
    /// `id` and `name` are `null` without `applogs.pii.read`.
    pub device: Device,
    #[schema(value_type = Object)]
    pub app_config: Value,
    /// The client address; `null` without `applogs.pii.read`.
    pub ip: Option<String>,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        [Level::Debug, Level::Info, Level::Warn, Level::Error]
            .into_iter()
            .find(|l| l.as_str() == s)
    }
}

#[async_trait]
pub trait AppLogStore: Send + Sync {
    /// Stores a batch and all its entries in one transaction: all or nothing.
    async fn insert_app_log_batch(&self, batch: &NewBatch) -> Result<()>;
    /// Entries in id (arrival) order, joined with their batch's device, config and address.
    async fn list_app_logs(&self, org_id: Uuid, filter: &AppLogFilter, page: PageRequest) -> Result<Page<AppLog>>;
}
