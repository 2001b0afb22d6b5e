//! Photo uploads as the server records them: ingesting an upload into the photo store and
//! the database, vetting a presigned direct upload, and claiming a photo for a check-in.
//!
//! The photo bytes and their safety are `crate::photos`'; this module ties them to users:
//! a photo belongs to its uploader, only they can attach it to an event, once.

use actix_web::{HttpRequest, web};
use chrono::Utc;
use futures_util::{Stream, StreamExt};
use std::sync::Arc;
use uuid::Uuid;

use crate::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::http::within_deadline;
use crate::photos::{
    CleanPhoto, FinalizeError, IngestError, IngestLimits, PendingPhoto, PhotoKey, finalize_upload, ingest, read_limited,
};
use crate::storage::photos::{PhotoRecord, PhotoStatus};

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

pub fn limits(state: &AppState) -> IngestLimits {
    IngestLimits {
        max_bytes: state.settings.photo_max_bytes,
        max_pixels: state.settings.photo_max_pixels,
        max_dimension: state.settings.photo_max_dimension,
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

/// Reads an upload stream within the size limit, makes it safe, stores it and records it.
/// The stored object is removed again if recording fails (the `PendingPhoto` guard).
pub async fn ingest_stream<S, E>(req: &HttpRequest, state: &AppState, caller: &Caller, stream: S) -> ApiResult<PhotoRef>
where
    S: Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let limits = limits(state);
    let raw = within_deadline(req, read_limited(stream, limits.max_bytes)).await??;
    let task_limits = limits.clone();
    let clean = web::block(move || ingest(&raw, &task_limits))
        .await
        .map_err(ApiError::internal)??;
    let pending = PendingPhoto::store(Arc::clone(&state.photos), caller.org_id, &clean).await?;
    let photo = record(Uuid::now_v7(), caller, pending.key(), &clean);
    state.repo.insert_photo(&photo).await?;
    pending.commit();
    Ok(PhotoRef::from(&photo))
}

/// The `photo` part of a multipart check-in.
pub async fn ingest_part(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
    field: actix_multipart::Field,
) -> ApiResult<PhotoRef> {
    ingest_stream(req, state, caller, field.map(|chunk| chunk.map_err(|e| e.to_string()))).await
}

/// A photo the caller uploaded, ready to attach to one of their events: vets a presigned
/// upload on first use. Anyone else's photo, a used or deleted one, is refused on `photo_id`.
pub async fn claim(state: &AppState, caller: &Caller, photo_id: Uuid) -> ApiResult<PhotoRef> {
    let refused = |why: &str| ApiError::field("photo_id", why.to_owned());
    let photo = state.repo.get_photo(caller.org_id, photo_id).await?;
    let Some(photo) = photo.filter(|p| p.user_id == caller.user_id) else {
        return Err(refused("does not name a photo you uploaded"));
    };
    if state.repo.photo_attached(caller.org_id, photo_id).await? {
        return Err(refused("is already attached to another event"));
    }
    match photo.status {
        PhotoStatus::Ready => Ok(PhotoRef::from(&photo)),
        PhotoStatus::Deleted => Err(refused("names a photo that was deleted")),
        PhotoStatus::Pending => {
            let key = PhotoKey::from_stored(photo.storage_key.clone())?;
            let not_arrived = || refused("the presigned upload has not arrived");
            let (pending, clean) = match finalize_upload(Arc::clone(&state.photos), &key, &limits(state)).await {
                Ok(done) => done,
                // Gone, perhaps because a concurrent claim finalised it and removed the upload.
                Err(FinalizeError::Missing) => {
                    return finalised_meanwhile(state, caller, photo_id)
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
            if state.repo.mark_photo_ready(&ready).await? {
                pending.commit();
                Ok(PhotoRef::from(&ready))
            } else {
                // A concurrent claim won: dropping `pending` deletes this copy, theirs stands.
                drop(pending);
                finalised_meanwhile(state, caller, photo_id)
                    .await?
                    .ok_or_else(not_arrived)
            }
        }
    }
}

/// The photo as another claim left it: its reference once ready.
async fn finalised_meanwhile(state: &AppState, caller: &Caller, photo_id: Uuid) -> ApiResult<Option<PhotoRef>> {
    let photo = state.repo.get_photo(caller.org_id, photo_id).await?;
    Ok(photo
        .filter(|p| p.status == PhotoStatus::Ready)
        .map(|p| PhotoRef::from(&p)))
}

/// Ingestion errors of a photo named by `photo_id` rather than sent in the request.
fn photo_field(e: IngestError) -> ApiError {
    match e {
        IngestError::TooLarge { .. }
        | IngestError::Unsupported { .. }
        | IngestError::TooManyPixels { .. }
        | IngestError::Corrupt(_) => ApiError::field("photo_id", e.to_string()),
        IngestError::Stream(_) => ApiError::from(e),
    }
}
