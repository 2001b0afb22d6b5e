//! Photo records: which stored object belongs to whom, and whether it is ready, pending
//! (a direct upload not yet vetted) or deleted.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhotoStatus {
    /// A presigned upload not yet vetted.
    Pending,
    Ready,
    /// Removed from the store (erasure, retention).
    Deleted,
}

impl PhotoStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PhotoStatus::Pending => "pending",
            PhotoStatus::Ready => "ready",
            PhotoStatus::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<PhotoStatus> {
        [PhotoStatus::Pending, PhotoStatus::Ready, PhotoStatus::Deleted]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// A photo's database record.
#[derive(Clone, Debug)]
pub struct PhotoRecord {
    pub id: Uuid,
    pub org_id: Uuid,
    pub user_id: Uuid,
    pub storage_key: String,
    pub status: PhotoStatus,
    pub sha256: Option<String>,
    pub bytes: Option<i64>,
    pub content_type: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait PhotoRecordStore: Send + Sync {
    async fn insert_photo(&self, photo: &PhotoRecord) -> Result<()>;
    async fn get_photo(&self, org_id: Uuid, photo_id: Uuid) -> Result<Option<PhotoRecord>>;
    /// Records a vetted direct upload under its new key, if it is still pending; false when
    /// a concurrent claim finalised it first (its key stands).
    async fn mark_photo_ready(&self, photo: &PhotoRecord) -> Result<bool>;
    /// Whether an event or an attendance request carries the photo.
    async fn photo_attached(&self, org_id: Uuid, photo_id: Uuid) -> Result<bool>;
    /// A user's photos that still exist, oldest first (for their export).
    async fn user_photos(&self, org_id: Uuid, user_id: Uuid) -> Result<Vec<PhotoRecord>>;
    /// The photo of an event with the event's user (the photo's subject).
    async fn event_photo(&self, org_id: Uuid, event_id: Uuid) -> Result<Option<(Uuid, PhotoRecord)>>;
}
