//! Photo uploads (`POST /v1/photos`, `POST /v1/photos:presign`) and the photo of an event
//! (`GET /v1/attendance/events/{id}/photo`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Caller;
use crate::access::{Family, Permission};
use crate::attendance::redact::Visibility;
use crate::audit::{Action, Disclosures};
use crate::field::FieldError;
use crate::http::body::within_deadline;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::has_media_type;
use crate::http::problems;
use crate::http::state::AppState;
use crate::http::wire::Image;
use crate::photos::PhotoKey;
use crate::photos::read_limited;
use crate::storage::photos::{PhotoRecord, PhotoStatus};
use crate::uploads::PhotoRef;
use futures_util::Stream;

/// The image types a phone may send.
const IMAGE_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresignRequest {
    /// `image/jpeg`, `image/png` or `image/webp`: the upload must carry exactly this type.
    content_type: String,
    /// The exact size of the upload in bytes (S3 signs it).
    bytes: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Presigned {
    photo_id: Uuid,
    /// PUT the image here before `expires_at`, with the `headers` below.
    upload_url: String,
    expires_at: DateTime<Utc>,
    /// Headers the PUT must carry exactly (they are part of the signature).
    headers: BTreeMap<String, String>,
}

/// The schema of a multipart upload: one `photo` part (other parts are not read).
pub struct PhotoForm;

impl utoipa::PartialSchema for PhotoForm {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .property("photo", <Image as utoipa::PartialSchema>::schema())
            .required("photo")
            .into()
    }
}

impl ToSchema for PhotoForm {}

/// Reads an upload stream within the size limit and the body deadline, then stores and
/// records it.
pub(crate) async fn ingest_stream<S, E>(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
    stream: S,
) -> ApiResult<PhotoRef>
where
    S: Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let raw = within_deadline(req, read_limited(stream, state.photo_limits.max_bytes)).await??;
    Ok(state.uploads().upload(caller, raw).await?)
}

/// The `photo` part of a multipart form (an upload, or a check-in with its photo).
pub(crate) async fn ingest_part(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
    field: actix_multipart::Field,
) -> ApiResult<PhotoRef> {
    ingest_stream(req, state, caller, field.map(|chunk| chunk.map_err(|e| e.to_string()))).await
}

/// Uploads a photo for a later check-in's `photo_id` (`attendance.record`); it is stored
/// with its metadata stripped. Over `MUSTER_PHOTO_MAX_BYTES` is 413; another image type
/// is 415; an image that does not decode, or declares more than `MUSTER_PHOTO_MAX_PIXELS`,
/// is 422 on `photo`.
#[utoipa::path(tag = "photos", operation_id = "upload_photo",
    request_body(description = "the raw image, or `multipart/form-data` with a `photo` part",
        content((Image = "image/jpeg"), (Image = "image/png"), (Image = "image/webp"), (Image = "application/octet-stream"),
            (PhotoForm = "multipart/form-data"))),
    responses((status = 201, body = PhotoRef), problems::Secured, problems::Body, problems::Forbidden),
    security(("bearer" = [])))]
#[post("/v1/photos")]
pub async fn upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    caller.require(Permission::AttendanceRecord)?;
    let photo = if has_media_type(&req, "multipart/form-data") {
        let mut form = actix_multipart::Multipart::new(req.headers(), payload);
        let mut photo = None;
        while let Some(field) = form.next().await {
            let field = field.map_err(|e| ApiError::malformed(format!("the multipart body is malformed: {e}")))?;
            if field.name() == Some("photo") && photo.is_none() {
                photo = Some(ingest_part(&req, &state, &caller, field).await?);
            }
            // Other parts are not read: nothing but the photo is kept.
        }
        photo.ok_or_else(|| ApiError::field("photo", "the form has no `photo` part"))?
    } else if IMAGE_TYPES.iter().any(|t| has_media_type(&req, t)) || has_media_type(&req, "application/octet-stream") {
        ingest_stream(&req, &state, &caller, payload).await?
    } else {
        return Err(ApiError::unsupported_media_type(
            "send image/jpeg, image/png, image/webp or multipart/form-data",
        ));
    };
    Ok(HttpResponse::Created().json(photo))
}

/// A presigned URL to PUT a photo straight to S3 (`attendance.record`); the server checks
/// the object when an event names it. 404 when the photo store is not S3.
#[utoipa::path(tag = "photos", operation_id = "presign_photo", request_body = PresignRequest,
    responses((status = 201, body = Presigned), problems::Secured, problems::Body, problems::Forbidden, problems::NotFound),
    security(("bearer" = [])))]
#[post("/v1/photos:presign")]
pub async fn presign(
    state: web::Data<AppState>,
    caller: Caller,
    body: crate::http::extract::Json<PresignRequest>,
) -> ApiResult<HttpResponse> {
    caller.require(Permission::AttendanceRecord)?;
    let body = body.parse().await?;
    let mut errors = Vec::new();
    if !IMAGE_TYPES.contains(&body.content_type.as_str()) {
        errors.push(FieldError::new(
            "content_type",
            "must be image/jpeg, image/png or image/webp",
        ));
    }
    let max = state.settings.photo_max_bytes;
    if body.bytes == 0 || body.bytes > max {
        errors.push(FieldError::new("bytes", format!("must be 1 to {max}")));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let key = PhotoKey::new(caller.org_id);
    let ttl = Duration::from_secs(state.settings.photo_presign_ttl_s);
    let Some(put) = state
        .photos
        .presign_put(&key, &body.content_type, body.bytes, ttl)
        .await?
    else {
        return Err(ApiError::new(
            crate::http::error::Code::NotFound,
            "presigned uploads need the S3 photo store; POST /v1/photos instead",
        ));
    };
    let record = PhotoRecord {
        id: Uuid::now_v7(),
        org_id: caller.org_id,
        user_id: caller.user_id,
        storage_key: key.as_str().to_owned(),
        status: PhotoStatus::Pending,
        sha256: None,
        bytes: None,
        content_type: None,
        created_at: Utc::now(),
    };
    state.repo.insert_photo(&record).await?;
    let headers = put.headers.iter().cloned().collect();
    Ok(HttpResponse::Created().json(Presigned {
        photo_id: record.id,
        upload_url: put.url,
        expires_at: put.expires_at,
        headers,
    }))
}

/// The photo of an event. 404 where the caller may not see it (that needs both the photo
/// and the location permission for its owner) and where there is none. Each answer is
/// audited as a disclosure.
#[utoipa::path(tag = "photos", operation_id = "get_event_photo",
    responses((status = 200, description = "the image (local photo store)",
            content((Image = "image/jpeg"), (Image = "image/png"), (Image = "image/webp"))),
        (status = 307, description = "redirect to a signed URL valid at most `MUSTER_PHOTO_URL_TTL_S` (S3 photo store)",
            headers(("Location" = String, description = "the signed URL"))),
        problems::Secured, problems::NotFound),
    security(("bearer" = [])))]
#[get("/v1/attendance/events/{id}/photo")]
pub async fn event_photo(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let (subject_id, photo) = state
        .repo
        .event_photo(caller.org_id, *id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let subject = state
        .repo
        .get_user(caller.org_id, subject_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    // Whoever may not see the event's photo may not learn it has one.
    let visibility = Visibility {
        location: crate::visibility::sees(&*state.repo, &caller, Family::Location, &subject).await?,
        photo: crate::visibility::sees(&*state.repo, &caller, Family::Photo, &subject).await?,
    };
    if !(crate::visibility::sees(&*state.repo, &caller, Family::Attendance, &subject).await?
        && visibility.photo_shown())
    {
        return Err(ApiError::not_found());
    }
    serve_photo(&state, &caller, subject.id, &photo, id.to_string()).await
}

/// Answers with a photo the caller may have (the image, or a redirect to a short-lived
/// signed URL) and records its disclosure: one `photo.disclosed` entry naming `object_id`
/// (the event or request it belongs to), none when it is the caller's own.
pub(crate) async fn serve_photo(
    state: &AppState,
    caller: &Caller,
    subject_id: Uuid,
    photo: &PhotoRecord,
    object_id: String,
) -> ApiResult<HttpResponse> {
    if photo.status != PhotoStatus::Ready {
        return Err(ApiError::not_found());
    }
    let key = PhotoKey::from_stored(photo.storage_key.clone())?;
    let ttl = Duration::from_secs(state.settings.photo_url_ttl_s);
    let answer = match state.photos.signed_get_url(&key, ttl).await? {
        Some(url) => HttpResponse::TemporaryRedirect()
            .insert_header((header::LOCATION, url))
            .finish(),
        None => {
            let stored = state.photos.get(&key).await?.ok_or_else(ApiError::not_found)?;
            HttpResponse::Ok().content_type(stored.content_type).body(stored.bytes)
        }
    };
    let mut disclosures = Disclosures::new(caller.audit());
    disclosures.record(Action::PhotoDisclosed, subject_id, Some(object_id));
    disclosures.write(&*state.repo).await?;
    Ok(with_safe_headers(answer))
}

/// A photo is shown to browsers too: never sniffed, never cached, never scripted.
fn with_safe_headers(mut response: HttpResponse) -> HttpResponse {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    response
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(presign).service(upload).service(event_photo);
}
