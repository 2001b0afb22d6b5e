//! Photo uploads as the server records them: ingesting an upload into the photo store and
//! the database, vetting a presigned direct upload, and claiming a photo for a check-in.
//!
//! The photo bytes and their safety are `crate::photos`'; this module ties them to users:
//! a photo belongs to its uploader, only they can attach it to an event, once. Reading the
//! body (its deadline, multipart) is the HTTP layer's; this module starts from the bytes.

use bytes::Bytes;
use chrono::Utc;
use std::sync::Arc;
use uuid::Uuid;

use crate::access::Caller;
use crate::photos::{
    CleanPhoto, FinalizeError, IngestError, IngestLimits, PendingPhoto, PhotoKey, PhotoStore, StoreError,
    finalize_upload, ingest,
};
use crate::storage::photos::{PhotoRecord, PhotoStatus};
use crate::storage::{Repo, StorageError};

/// Why an upload or a claim failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The photo sent in this request is not one the server accepts.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The photo named by `photo_id` cannot be attached: the message says why.
    #[error("photo_id {0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The blocking task that cleans a photo panicked or was cancelled.
    #[error("photo ingest did not finish: {0}")]
    Aborted(#[from] tokio::task::JoinError),
}

/// What uploads and claims work with: the database, the photo store and the limits.
#[derive(Clone, Copy)]
pub struct Uploads<'a> {
    pub repo: &'a dyn Repo,
    pub store: &'a Arc<dyn PhotoStore>,
    pub limits: &'a IngestLimits,
}

/// What an upload answers with, and what an event keeps.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PhotoRef {
    pub photo_id: Uuid,
    pub sha256: String,
    pub bytes: i64,
    pub content_type: String,
}

impl From<&PhotoRecord> for PhotoRef {
    fn from(record: &PhotoRecord) -> Self {
        PhotoRef {
            photo_id: record.id,
            sha256: record.sha256.clone().unwrap_or_default(),
            bytes: record.bytes.unwrap_or_default(),
            content_type: record.content_type.clone().unwrap_or_default(),
        }
    }
}

fn record(id: Uuid, caller: &Caller, key: &PhotoKey, photo: &CleanPhoto) -> PhotoRecord {
    PhotoRecord {
        id,
        org_id: caller.org_id,
        user_id: caller.user_id,
        storage_key: key.as_str().to_owned(),
        status: PhotoStatus::Ready,
        sha256: Some(photo.sha256.clone()),
        bytes: i64::try_from(photo.bytes.len()).ok(),
        content_type: Some(photo.content_type.to_owned()),
        created_at: Utc::now(),
    }
}

impl Uploads<'_> {
    /// Makes an upload safe, stores it and records it. The stored object is removed again
    /// if recording fails (the `PendingPhoto` guard).
    pub async fn upload(&self, caller: &Caller, raw: Bytes) -> Result<PhotoRef, UploadError> {
        let limits = self.limits.clone();
        // Decoding and re-encoding is CPU work: off the async workers.
        let clean = tokio::task::spawn_blocking(move || ingest(&raw, &limits)).await??;
        let pending = PendingPhoto::store(Arc::clone(self.store), caller.org_id, &clean).await?;
        let photo = record(Uuid::now_v7(), caller, pending.key(), &clean);
        self.repo.insert_photo(&photo).await?;
        pending.commit();
        Ok(PhotoRef::from(&photo))
    }

    /// A photo the caller uploaded, ready to attach to one of their events or requests: vets a presigned
    /// upload on first use. Anyone else's photo, a used or deleted one, is refused on `photo_id`.
    pub async fn claim(&self, caller: &Caller, photo_id: Uuid) -> Result<PhotoRef, UploadError> {
        let refused = |why: &str| UploadError::Refused(why.to_owned());
        let photo = self.repo.get_photo(caller.org_id, photo_id).await?;
        let Some(photo) = photo.filter(|p| p.user_id == caller.user_id) else {
            return Err(refused("does not name a photo you uploaded"));
        };
        if self.repo.photo_attached(caller.org_id, photo_id).await? {
            return Err(refused("is already attached to another event or request"));
        }
        match photo.status {
            PhotoStatus::Ready => Ok(PhotoRef::from(&photo)),
            PhotoStatus::Deleted => Err(refused("names a photo that was deleted")),
            PhotoStatus::Pending => {
                let key = PhotoKey::from_stored(photo.storage_key.clone())?;
                let not_arrived = || refused("the presigned upload has not arrived");
                let (pending, clean) = match finalize_upload(Arc::clone(self.store), &key, self.limits).await {
                    Ok(done) => done,
                    // Gone, perhaps because a concurrent claim finalised it and removed the upload.
                    Err(FinalizeError::Missing) => {
                        return self
                            .finalised_meanwhile(caller, photo_id)
                            .await?
                            .ok_or_else(not_arrived);
                    }
                    Err(FinalizeError::Store(e)) => return Err(e.into()),
                    Err(FinalizeError::Ingest(e)) => return Err(photo_field(e)),
                };
                let ready = PhotoRecord {
                    created_at: photo.created_at,
                    ..record(photo.id, caller, pending.key(), &clean)
                };
                if self.repo.mark_photo_ready(&ready).await? {
                    pending.commit();
                    Ok(PhotoRef::from(&ready))
                } else {
                    // A concurrent claim won: dropping `pending` deletes this copy, theirs stands.
                    drop(pending);
                    self.finalised_meanwhile(caller, photo_id)
                        .await?
                        .ok_or_else(not_arrived)
                }
            }
        }
    }

    /// The photo as another claim left it: its reference once ready.
    async fn finalised_meanwhile(&self, caller: &Caller, photo_id: Uuid) -> Result<Option<PhotoRef>, UploadError> {
        let photo = self.repo.get_photo(caller.org_id, photo_id).await?;
        Ok(photo
            .filter(|p| p.status == PhotoStatus::Ready)
            .map(|p| PhotoRef::from(&p)))
    }
}

/// Ingestion errors of a photo named by `photo_id` rather than sent in the request: a fault
/// of that photo, not of this request's body.
fn photo_field(e: IngestError) -> UploadError {
    match e {
        IngestError::TooLarge { .. }
        | IngestError::Unsupported { .. }
        | IngestError::TooManyPixels { .. }
        | IngestError::Corrupt(_) => UploadError::Refused(e.to_string()),
        IngestError::Stream(_) => UploadError::Ingest(e),
    }
}
