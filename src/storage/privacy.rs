//! Erasure and retention: removing a user's personal data, and expiring what the policy's
//! retention no longer allows, in bounded batches.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit::AuditEntry;
use super::error::Result;
use super::page::{Page, PageRequest};

/// What an event keeps besides what its answers show: the device it came from and the note.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EventDetails {
    pub event_id: Uuid,
    pub device: Option<serde_json::Value>,
    pub note: Option<String>,
}

/// Erasure and retention. The `expire_*` methods work in bounded batches; they and
/// `unreferenced_photo_keys` answer `None` when another replica holds the retention lock.
#[async_trait]
pub trait PrivacyStore: Send + Sync {
    /// Removes a user's locations, device data, notes, attendance requests' reasons and
    /// comments and app logs and marks their photos for deletion, in one transaction;
    /// `false` if there is no such user.
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
