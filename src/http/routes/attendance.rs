//! `/v1/attendance/events`: record check-ins and check-outs (alone or as an offline batch)
//! and read them back, scoped and redacted. The use cases live in `crate::attendance`;
//! this module parses, authorises, calls them and encodes the answer.

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, get, post, web};
use chrono::{DateTime, FixedOffset, Utc};
use futures_util::StreamExt;
use prost::Message;
use serde::Deserialize;
use uuid::Uuid;

use super::photos::ingest_part;
use crate::access::{Caller, Family, Permission, Scope};
use crate::attendance::check_in::{PendingCheckIn, WithPhoto, check_in, check_in_batch, check_in_with_photo};
use crate::attendance::error::AttendanceError;
use crate::attendance::input::{BatchBody, EventBody};
use crate::attendance::record::{AttachedPhoto, Ports, Recorded, received_now};
use crate::attendance::redact::{EventView, present};
use crate::field::FieldError;
use crate::http::body::within_deadline;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::Query;
use crate::http::extract::{has_media_type, parse_json};
use crate::http::negotiate::{JsonOrProto, Reply};
use crate::http::page::{List, page_request};
use crate::http::problems;
use crate::http::state::AppState;
use crate::http::wire::{BatchItemResult, BatchResult, Image, ProtobufMessage};
use crate::proto::{self, v1};
use crate::storage::events::{EventFilter, EventScope, Kind, Status, StoredEvent};

/// The schema of a multipart check-in: the `event` part (JSON or protobuf), then an
/// optional `photo` part. The form is read part by part (`record_multipart`), so this type
/// only describes it.
pub struct EventForm;

impl utoipa::PartialSchema for EventForm {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .property("event", utoipa::openapi::Ref::from_schema_name("EventBody"))
            .required("event")
            .property("photo", <Image as utoipa::PartialSchema>::schema())
            .into()
    }
}

impl utoipa::ToSchema for EventForm {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        schemas.push(("EventBody".into(), <EventBody as utoipa::PartialSchema>::schema()));
        <EventBody as utoipa::ToSchema>::schemas(schemas);
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only this user's events; a user the caller may not see is 404.
    user_id: Option<Uuid>,
    /// `captured_at` at or after this RFC 3339 time.
    from: Option<String>,
    /// `captured_at` before this RFC 3339 time.
    to: Option<String>,
    kind: Option<Kind>,
    status: Option<Status>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// The ports the check-in use cases work with.
fn ports(state: &AppState) -> Ports<'_> {
    Ports {
        repo: &*state.repo,
        fences: &state.fences,
        uploads: state.uploads(),
    }
}

/// 201 for a new event, 200 for the original answer to a retry.
fn status_of(recorded: &Recorded) -> StatusCode {
    if recorded.created() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

/// Reads a multipart part whole, within `limit` bytes.
async fn read_part(field: &mut actix_multipart::Field, limit: u64) -> ApiResult<web::Bytes> {
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(|e| ApiError::malformed(format!("the multipart body is malformed: {e}")))?;
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(ApiError::too_large("the event part", limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes.freeze())
}

/// The `event` part of a multipart check-in: JSON (also when untyped or `text/plain`, as
/// form tools send text fields) or protobuf.
fn decode_event_part(content_type: Option<&str>, bytes: &[u8]) -> ApiResult<EventBody> {
    let essence = content_type
        .map(|ct| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    if essence == proto::MEDIA_TYPE {
        let message = v1::AttendanceEvent::decode(bytes)
            .map_err(|e| ApiError::malformed(format!("the event part is not a valid protobuf message: {e}")))?;
        Ok(EventBody::try_from(message)?)
    } else if essence.is_empty() || essence == "application/json" || essence == "text/plain" {
        parse_json(bytes)
    } else {
        Err(ApiError::unsupported_media_type(format!(
            "the event part must be application/json or {}",
            proto::MEDIA_TYPE
        )))
    }
}

/// A multipart check-in: an `event` part, then an optional `photo` part. The event is
/// checked for a retry before the photo is read, so a resent form stores no second photo.
async fn record_multipart(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
    payload: web::Payload,
) -> ApiResult<Recorded> {
    let received_at = received_now();
    let mut form = actix_multipart::Multipart::new(req.headers(), payload);
    let mut pending: Option<PendingCheckIn<'_>> = None;
    let mut photo = None;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| ApiError::malformed(format!("the multipart body is malformed: {e}")))?;
        match field.name() {
            Some("event") if pending.is_none() => {
                let content_type = field.content_type().map(|m| m.essence_str().to_owned());
                let bytes = within_deadline(req, read_part(&mut field, state.settings.json_body_limit_bytes)).await??;
                let input = decode_event_part(content_type.as_deref(), &bytes)?.validate(received_at)?;
                match check_in_with_photo(ports(state), caller, received_at, input).await? {
                    WithPhoto::Replayed(existing) => return Ok(Recorded::Replayed(existing)),
                    WithPhoto::New(waiting) => pending = Some(waiting),
                }
            }
            Some("photo") if photo.is_none() => {
                if pending.is_none() {
                    return Err(ApiError::field(
                        "event",
                        "the event part must come before the photo part",
                    ));
                }
                photo = Some(ingest_part(req, state, caller, field).await?);
            }
            // Other parts are not read: nothing but the event and its photo is kept.
            _ => {}
        }
    }
    let pending = pending.ok_or_else(|| ApiError::field("event", "the form has no `event` part"))?;
    let photo = photo.map(|p| AttachedPhoto { photo_id: p.photo_id });
    Ok(pending.record(photo).await?)
}

/// One event, redacted for the caller.
async fn present_one(state: &AppState, caller: &Caller, event: StoredEvent) -> ApiResult<EventView> {
    present(&*state.repo, caller, vec![event])
        .await?
        .views
        .pop()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("presented no event")))
}

/// Records a check-in or check-out (`attendance.record`). Every attempt is stored, rejected
/// ones too: a rejection is `status: rejected`, not an error. The same `client_event_id`
/// with another body is 409; invalid input is 422 naming the field, and nothing is
/// recorded. A photo over `MUSTER_PHOTO_MAX_BYTES` is 413, one of another type 415.
#[utoipa::path(tag = "attendance", operation_id = "record_event",
    request_body(description = "A check-in or check-out, as JSON or as the protobuf `muster.v1.AttendanceEvent`. Identity comes from the token: `user_id`, `status` and the like are unknown fields (422). As `multipart/form-data`: an `event` part (JSON or protobuf), then a `photo` part (`image/jpeg`, `image/png`, `image/webp`).",
        content((EventBody = "application/json"), (ProtobufMessage = "application/x-protobuf"), (EventForm = "multipart/form-data"))),
    responses(
        (status = 201, description = "recorded (rejected events too: see `status`); protobuf `muster.v1.RecordedEvent` with `Accept: application/x-protobuf`",
            content((EventView = "application/json"), (ProtobufMessage = "application/x-protobuf")),
            links(
                ("get_event" = (operation_id = "get_event", parameters(("id" = "$response.body#/id")))),
                ("get_event_photo" = (operation_id = "get_event_photo", parameters(("id" = "$response.body#/id")))))),
        (status = 200, description = "this `client_event_id` was already recorded with this body: the original answer",
            content((EventView = "application/json"), (ProtobufMessage = "application/x-protobuf"))),
        problems::Secured, problems::Body, problems::Forbidden, problems::Conflict),
    security(("bearer" = [])))]
#[post("/v1/attendance/events")]
pub async fn record(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    payload: web::Payload,
) -> ApiResult<Reply<EventView, v1::RecordedEvent>> {
    caller.require(Permission::AttendanceRecord)?;
    let recorded = if has_media_type(&req, "multipart/form-data") {
        record_multipart(&req, &state, &caller, payload).await?
    } else {
        let body = JsonOrProto::<EventBody, v1::AttendanceEvent>::from_request(&req, &mut payload.into_inner())
            .await?
            .parse(state.settings.json_body_limit_bytes)
            .await?;
        let received_at = received_now();
        let input = body.validate(received_at)?;
        check_in(ports(&state), &caller, received_at, input).await?
    };
    let status = status_of(&recorded);
    let view = present_one(&state, &caller, recorded.into_event()).await?;
    Ok(Reply::new(status, view))
}

/// A batch item's failure as its result: the problem it would have answered alone.
fn failed_item(e: AttendanceError) -> BatchItemResult {
    let problem = ApiError::from(e).problem();
    BatchItemResult {
        status_code: problem.status,
        event: None,
        error: Some(problem),
    }
}

/// Records a phone's offline queue (`attendance.record`), judged in `captured_at` order;
/// each item is idempotent like a single check-in and a bad item fails alone, in its
/// result. More than `MUSTER_ATTENDANCE_BATCH_MAX_EVENTS` (500) items is 422 on `events`;
/// a body over `MUSTER_ATTENDANCE_BATCH_BODY_LIMIT_BYTES` is 413.
#[utoipa::path(tag = "attendance", operation_id = "record_event_batch",
    request_body(description = "A phone's offline queue, as JSON or as the protobuf `muster.v1.AttendanceEventBatch`.",
        content((BatchBody = "application/json"), (ProtobufMessage = "application/x-protobuf"))),
    responses(
        (status = 200, description = "one result per item, in the order sent. Protobuf `muster.v1.BatchResult` with `Accept: application/x-protobuf`",
            content((BatchResult = "application/json"), (ProtobufMessage = "application/x-protobuf"))),
        problems::Secured, problems::Body, problems::Forbidden),
    security(("bearer" = [])))]
#[post("/v1/attendance/events:batch")]
pub async fn batch(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonOrProto<BatchBody, v1::AttendanceEventBatch>,
) -> ApiResult<Reply<BatchResult, v1::BatchResult>> {
    caller.require(Permission::AttendanceRecord)?;
    let body = body.parse(state.settings.attendance_batch_body_limit_bytes).await?;
    let max = state.settings.attendance_batch_max_events;
    if body.events.len() > max {
        return Err(ApiError::field(
            "events",
            format!("must hold at most {max} events, not {}", body.events.len()),
        ));
    }
    let received_at = received_now();
    let items = body
        .events
        .into_iter()
        .map(|item| item.0.and_then(|b| b.validate(received_at)))
        .collect();
    let outcomes = check_in_batch(ports(&state), &caller, received_at, items).await?;
    // The recorded events are redacted together: one relation query and one audit write.
    let mut views = present(
        &*state.repo,
        &caller,
        outcomes
            .iter()
            .filter_map(|o| o.as_ref().ok().map(|r| r.event().clone()))
            .collect(),
    )
    .await?
    .views
    .into_iter();
    let results = outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Ok(recorded) => Ok(BatchItemResult {
                status_code: status_of(&recorded).as_u16(),
                event: Some(
                    views
                        .next()
                        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("presented fewer events")))?,
                ),
                error: None,
            }),
            Err(e) => Ok(failed_item(e)),
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Reply::ok(BatchResult { results }))
}

/// An RFC 3339 query time. A `+` offset arrives as a space when the client did not
/// percent-encode it, which is read as the `+` it was.
fn query_time(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, FieldError> {
    let Some(value) = value else { return Ok(None) };
    DateTime::<FixedOffset>::parse_from_rfc3339(value)
        .or_else(|e| DateTime::parse_from_rfc3339(&value.replace(' ', "+")).map_err(|_| e))
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| FieldError::new(field, "must be an RFC 3339 time with offset"))
}

/// Attendance events the caller may see (`attendance.read:*`), redacted by
/// `attendance.location.read:*` / `attendance.photo.read:*`. A `user_id` the caller may not
/// see is 404.
#[utoipa::path(tag = "attendance", operation_id = "list_events", params(ListParams),
    responses(
        (status = 200, description = "events in `captured_at` order. Protobuf `muster.v1.RecordedEventPage` with `Accept: application/x-protobuf`",
            content((List<EventView> = "application/json"), (ProtobufMessage = "application/x-protobuf"))),
        problems::Secured, problems::Invalid, problems::Forbidden, problems::NotFound),
    security(("bearer" = [])))]
#[get("/v1/attendance/events")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> ApiResult<Reply<List<EventView>, v1::RecordedEventPage>> {
    let scope = caller.scope(Family::Attendance)?;
    let mut errors = Vec::new();
    let from = query_time("from", p.from.as_deref()).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let to = query_time("to", p.to.as_deref()).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    if let (Some(from), Some(to)) = (from, to)
        && to <= from
    {
        errors.push(FieldError::new("to", "must be after from"));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let page = page_request(p.limit, p.cursor.as_deref())?;
    let scope = match (p.user_id, scope) {
        // A named user outside the caller's reach is 404, as `GET /v1/users/{id}` is: the
        // answer must not tell "no such user" from "not yours to see".
        (Some(user_id), _) => {
            let subject = state
                .repo
                .get_user(caller.org_id, user_id)
                .await?
                .ok_or_else(ApiError::not_found)?;
            if !crate::visibility::sees(&*state.repo, &caller, Family::Attendance, &subject).await? {
                return Err(ApiError::not_found());
            }
            EventScope::User(user_id)
        }
        (None, Scope::Org) => EventScope::Org,
        (None, Scope::Myself) => EventScope::User(caller.user_id),
        (None, Scope::Direct | Scope::Team) => EventScope::TeamOf(caller.user_id),
    };
    let filter = EventFilter {
        scope,
        from,
        to,
        kind: p.kind,
        status: p.status,
    };
    let events = state.repo.list_events(caller.org_id, &filter, page).await?;
    let items = present(&*state.repo, &caller, events.items).await?.views;
    let page = crate::storage::Page {
        items,
        next: events.next,
    };
    Ok(Reply::ok(List::from_page(page, |v| v)))
}

/// One attendance event, redacted for the caller; one they may not see is 404.
#[utoipa::path(tag = "attendance", operation_id = "get_event",
    responses(
        (status = 200, description = "protobuf `muster.v1.RecordedEvent` with `Accept: application/x-protobuf`",
            content((EventView = "application/json"), (ProtobufMessage = "application/x-protobuf"))),
        problems::Secured, problems::Forbidden, problems::NotFound),
    security(("bearer" = [])))]
#[get("/v1/attendance/events/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<Reply<EventView, v1::RecordedEvent>> {
    caller.scope(Family::Attendance)?;
    let event = state
        .repo
        .get_event(caller.org_id, *id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let subject = state
        .repo
        .get_user(caller.org_id, event.user_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if !crate::visibility::sees(&*state.repo, &caller, Family::Attendance, &subject).await? {
        return Err(ApiError::not_found());
    }
    Ok(Reply::ok(present_one(&state, &caller, event).await?))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // The `:batch` route goes first so `{id}`-style patterns never swallow it.
    cfg.service(batch).service(record).service(list).service(get);
}
