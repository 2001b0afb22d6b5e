//! Keeping the store and the database in step: `PendingPhoto` removes a stored photo
//! again unless the database step after the store write commits it (pict-rs' ingest
//! session), and `finalize_upload` turns a phone's direct (presigned) upload into a
//! clean, server-made object.

use std::sync::Arc;

use uuid::Uuid;

use super::ingest::{CleanPhoto, IngestError, IngestLimits, ingest};
use super::store::{PhotoKey, PhotoStore, StoreError};

/// A photo in the store that no database row points to yet.
///
/// Dropping it without [`commit`](PendingPhoto::commit) deletes the object in a task
/// spawned on the current tokio runtime, so an error (or a cancelled request) between
/// the store write and the database commit leaves no orphan. Outside a runtime, or if
/// that delete fails, the key is logged at `warn` for a later sweep.
pub struct PendingPhoto {
    store: Arc<dyn PhotoStore>,
    key: PhotoKey,
    armed: bool,
}

impl PendingPhoto {
    /// Guards an object already written under `key`.
    pub fn new(store: Arc<dyn PhotoStore>, key: PhotoKey) -> PendingPhoto {
        PendingPhoto {
            store,
            key,
            armed: true,
        }
    }

    /// Stores a cleaned photo under a fresh key of `org_id` and guards it.
    pub async fn store(
        store: Arc<dyn PhotoStore>,
        org_id: Uuid,
        photo: &CleanPhoto,
    ) -> Result<PendingPhoto, StoreError> {
        // Armed before the write: a put that fails late (a timeout after S3 already
        // kept the bytes) is cleaned up too.
        let pending = PendingPhoto::new(store, PhotoKey::new(org_id));
        pending
            .store
            .put(&pending.key, photo.bytes.clone(), photo.content_type)
            .await?;
        Ok(pending)
    }

    pub fn key(&self) -> &PhotoKey {
        &self.key
    }

    /// The database now refers to the photo: keep it.
    pub fn commit(mut self) -> PhotoKey {
        self.armed = false;
        self.key.clone()
    }

    /// Deletes the photo now and waits for it, for callers that want the error.
    pub async fn discard(mut self) -> Result<(), StoreError> {
        self.armed = false;
        self.store.delete(&self.key).await
    }
}

impl std::fmt::Debug for PendingPhoto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingPhoto")
            .field("store", &self.store.kind())
            .field("key", &self.key)
            .field("armed", &self.armed)
            .finish()
    }
}

impl Drop for PendingPhoto {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let key = self.key.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let store = Arc::clone(&self.store);
                runtime.spawn(async move {
                    match store.delete(&key).await {
                        Ok(()) => tracing::debug!(key = %key, "uncommitted photo removed"),
                        Err(e) => tracing::warn!(
                            key = %key,
                            error = &e as &dyn std::error::Error,
                            "uncommitted photo could not be removed; it is an orphan"
                        ),
                    }
                });
            }
            Err(_) => tracing::warn!(
                key = %key,
                "uncommitted photo dropped outside a tokio runtime; it is an orphan"
            ),
        }
    }
}

/// Why a direct upload could not be finalised.
#[derive(Debug, thiserror::Error)]
pub enum FinalizeError {
    /// Nothing was uploaded under the key (the phone never finished its PUT).
    #[error("no photo was uploaded")]
    Missing,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

/// Vets a photo the phone PUT straight to the store through a presigned URL.
///
/// Those bytes never passed [`ingest`], so they are fetched, ingested (on a blocking
/// thread) and written cleaned under a *new* key of the same organisation; the raw
/// upload is deleted. A new key, because the presigned URL stays usable until it
/// expires: a second PUT to the upload key must not replace an already vetted photo.
/// A rejected upload is deleted as well. The returned guard must be committed once
/// the database refers to its key.
pub async fn finalize_upload(
    store: Arc<dyn PhotoStore>,
    upload_key: &PhotoKey,
    limits: &IngestLimits,
) -> Result<(PendingPhoto, CleanPhoto), FinalizeError> {
    // HEAD first: an oversize object is refused without downloading it.
    let size = store.head(upload_key).await?.ok_or(FinalizeError::Missing)?;
    if size > limits.max_bytes {
        store.delete(upload_key).await?;
        return Err(IngestError::TooLarge {
            limit: limits.max_bytes,
        }
        .into());
    }
    let raw = store.get(upload_key).await?.ok_or(FinalizeError::Missing)?.bytes;
    let task_limits = limits.clone();
    let cleaned = tokio::task::spawn_blocking(move || ingest(&raw, &task_limits))
        .await
        .unwrap_or_else(|_| Err(IngestError::Corrupt("image processing failed".into())));
    let photo = match cleaned {
        Ok(photo) => photo,
        Err(e) => {
            store.delete(upload_key).await?;
            return Err(e.into());
        }
    };
    let pending = PendingPhoto::store(Arc::clone(&store), upload_key.org_id(), &photo).await?;
    store.delete(upload_key).await?;
    Ok((pending, photo))
}
