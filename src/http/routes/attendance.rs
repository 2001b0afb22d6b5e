//! `/v1/attendance/events`: record check-ins and check-outs (alone or as an offline batch)
//! and read them back, scoped and redacted. The rules live in `crate::attendance`; this
//! module parses, authorises and orchestrates.

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, get, post, web};
use chrono::{DateTime, FixedOffset, Utc};
use futures_util::{FutureExt, StreamExt};
use prost::Message;
use serde::Deserialize;
use uuid::Uuid;

use crate::access::{Family, Permission, Scope};
use crate::attendance::input::{BatchBody, EventBody, EventInput, PhotoSource};
use crate::attendance::record::{AttachedPhoto, Lookup, Recorded, Recorder, later_fix, received_now};
use crate::attendance::redact::{EventView, present};
use crate::attendance::wire::{BatchItemResult, BatchResult};
use crate::auth::Caller;
use crate::field::FieldError;
use crate::http::error::{ApiError, ApiResult, Code};
use crate::http::extract::{has_media_type, parse_json};
use crate::http::state::AppState;
use crate::http::{JsonOrProto, List, Query, Reply, page_request, within_deadline};
use crate::proto::{self, v1};
use crate::storage::events::{EventFilter, EventScope, Fix, Kind, Status, StoredEvent};
use crate::uploads;

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

/// Checks the photo an event names by `photo_id` (the caller's own, unused, clean), once the
/// event is known to be new.
async fn claim_photo(state: &AppState, caller: &Caller, input: &EventInput) -> ApiResult<Option<AttachedPhoto>> {
    match input.photo_id {
        None => Ok(None),
        Some(photo_id) => {
            let photo = uploads::claim(state, caller, photo_id).await?;
            Ok(Some(AttachedPhoto {
                photo_id: photo.photo_id,
            }))
        }
    }
}

/// What a validated event whose photo, if any, is named by `photo_id` comes to before it
/// is judged: the stored answer for a retry, or a new event with its photo claimed.
enum Admitted {
    Replayed(StoredEvent),
    /// A new event, its photo and the user's previous fix.
    New(EventInput, PhotoSource, Option<AttachedPhoto>, Option<Fix>),
}

async fn admit(
    state: &AppState,
    caller: &Caller,
    recorder: &Recorder<'_>,
    input: EventInput,
    lookup: Lookup,
) -> ApiResult<Admitted> {
    let source = input.photo_source(false);
    let previous = match lookup {
        Lookup::Replayed(existing) => return Ok(Admitted::Replayed(*existing)),
        Lookup::New(previous) => previous,
    };
    match claim_photo(state, caller, &input).await {
        Ok(photo) => Ok(Admitted::New(input, source, photo, previous)),
        // A concurrent twin of this request may have attached the photo between the look-up
        // above and the claim: then its event is this request's answer.
        Err(refused) => match recorder.look_up(&input, source).await? {
            Lookup::Replayed(existing) => Ok(Admitted::Replayed(*existing)),
            Lookup::New(_) => Err(refused),
        },
    }
}

/// Records one validated event sent alone, given its look-up.
async fn record_one(
    state: &AppState,
    caller: &Caller,
    recorder: &Recorder<'_>,
    input: EventInput,
    lookup: Lookup,
) -> ApiResult<Recorded> {
    match admit(state, caller, recorder, input, lookup).await? {
        Admitted::Replayed(existing) => Ok(Recorded::Replayed(existing)),
        Admitted::New(input, source, photo, previous) => recorder.record(input, source, photo, true, previous).await,
    }
}

/// A recorder for one event, with that event's look-up.
async fn open_one<'a>(
    state: &'a AppState,
    caller: &'a Caller,
    received_at: DateTime<Utc>,
    input: &EventInput,
    photo: PhotoSource,
) -> ApiResult<(Recorder<'a>, Lookup)> {
    let (recorder, mut lookups) = Recorder::open(state, caller, received_at, &[(input, photo)]).await?;
    let lookup = lookups
        .pop()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("an event look-up answered nothing")))??;
    Ok((recorder, lookup))
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
        EventBody::try_from(message)
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
/// checked for a retry before the photo is read, so a resent form stores no second photo;
/// its identity is the event plus "sent with a photo part" (see `PhotoSource::Part`).
async fn record_multipart(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
    payload: web::Payload,
) -> ApiResult<(Recorded, StatusCode)> {
    let received_at = received_now();
    let mut form = actix_multipart::Multipart::new(req.headers(), payload);
    let mut event: Option<(Recorder<'_>, EventInput, Option<Fix>)> = None;
    let mut photo = None;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| ApiError::malformed(format!("the multipart body is malformed: {e}")))?;
        match field.name() {
            Some("event") if event.is_none() => {
                let content_type = field.content_type().map(|m| m.essence_str().to_owned());
                let bytes = within_deadline(req, read_part(&mut field, state.settings.json_body_limit_bytes)).await??;
                let input = decode_event_part(content_type.as_deref(), &bytes)?.validate(received_at)?;
                if input.photo_id.is_some() {
                    return Err(ApiError::field(
                        "photo_id",
                        "give either a photo_id or a photo part, not both",
                    ));
                }
                let (recorder, lookup) = open_one(state, caller, received_at, &input, PhotoSource::Part).await?;
                match lookup {
                    Lookup::Replayed(existing) => return Ok((Recorded::Replayed(*existing), StatusCode::OK)),
                    Lookup::New(previous) => event = Some((recorder, input, previous)),
                }
            }
            Some("photo") if photo.is_none() => {
                if event.is_none() {
                    return Err(ApiError::field(
                        "event",
                        "the event part must come before the photo part",
                    ));
                }
                photo = Some(uploads::ingest_part(req, state, caller, field).await?);
            }
            // Other parts are not read: nothing but the event and its photo is kept.
            _ => {}
        }
    }
    let (recorder, input, previous) = event.ok_or_else(|| ApiError::field("event", "the form has no `event` part"))?;
    let photo = photo.map(|p| AttachedPhoto { photo_id: p.photo_id });
    let recorded = recorder.record(input, PhotoSource::Part, photo, true, previous).await?;
    let status = if recorded.created() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((recorded, status))
}

/// One event, redacted for the caller.
async fn present_one(state: &AppState, caller: &Caller, event: StoredEvent) -> ApiResult<EventView> {
    present(state, caller, vec![event])
        .await?
        .views
        .pop()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("presented no event")))
}

#[utoipa::path(post, path = "/v1/attendance/events", tag = "attendance",
    request_body(description = "A check-in or check-out, as JSON or as the protobuf `muster.v1.AttendanceEvent`. Identity comes from the token: `user_id`, `status` and the like are unknown fields (422). As `multipart/form-data`: an `event` part (JSON or protobuf), then a `photo` part (`image/jpeg`, `image/png`, `image/webp`).",
        content((EventBody = "application/json"), (EventBody = "application/x-protobuf"), ("multipart/form-data"))),
    responses(
        (status = 201, description = "recorded (rejected events too: see `status`); protobuf `muster.v1.RecordedEvent` with `Accept: application/x-protobuf`",
            content((EventView = "application/json"), (EventView = "application/x-protobuf"))),
        (status = 200, description = "this `client_event_id` was already recorded with this body: the original answer",
            content((EventView = "application/json"), (EventView = "application/x-protobuf"))),
        (status = 400, body = crate::http::error::Problem, description = "malformed body"),
        (status = 403, body = crate::http::error::Problem),
        (status = 409, body = crate::http::error::Problem, description = "this `client_event_id` was used with another body"),
        (status = 413, body = crate::http::error::Problem),
        (status = 415, body = crate::http::error::Problem),
        (status = 422, body = crate::http::error::Problem, description = "invalid input, naming the field; nothing is recorded")),
    security(("bearer" = [])))]
#[post("/v1/attendance/events")]
pub async fn record(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    payload: web::Payload,
) -> ApiResult<Reply<EventView, v1::RecordedEvent>> {
    caller.require(Permission::AttendanceRecord)?;
    let (recorded, status) = if has_media_type(&req, "multipart/form-data") {
        record_multipart(&req, &state, &caller, payload).await?
    } else {
        let body = JsonOrProto::<EventBody, v1::AttendanceEvent>::from_request(&req, &mut payload.into_inner())
            .await?
            .parse(state.settings.json_body_limit_bytes)
            .await?;
        let received_at = received_now();
        let input = body.validate(received_at)?;
        let (recorder, lookup) = open_one(&state, &caller, received_at, &input, input.photo_source(false)).await?;
        let recorded = record_one(&state, &caller, &recorder, input, lookup).await?;
        let status = if recorded.created() {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        (recorded, status)
    };
    let view = present_one(&state, &caller, recorded.into_event()).await?;
    Ok(Reply::new(status, view))
}

/// A failure that belongs to one batch item (the rest go on); anything else fails the batch.
fn item_error(e: ApiError) -> ApiResult<BatchItemResult> {
    match e.code() {
        Code::ValidationFailed | Code::Conflict => {
            let problem = e.problem();
            Ok(BatchItemResult {
                status_code: problem.status,
                event: None,
                error: Some(problem),
            })
        }
        _ => Err(e),
    }
}

#[utoipa::path(post, path = "/v1/attendance/events:batch", tag = "attendance",
    request_body(description = "A phone's offline queue (JSON, or the protobuf `muster.v1.AttendanceEventBatch`), judged in `captured_at` order. More than `attendance_batch_max_events` (500) items is a 422 on `events`; a body over `attendance_batch_body_limit_bytes` is a 413.",
        content((BatchBody = "application/json"), (BatchBody = "application/x-protobuf"))),
    responses(
        (status = 200, description = "one result per item, in the order sent; a bad item fails alone. Protobuf `muster.v1.BatchResult` with `Accept: application/x-protobuf`",
            content((BatchResult = "application/json"), (BatchResult = "application/x-protobuf"))),
        (status = 400, body = crate::http::error::Problem),
        (status = 403, body = crate::http::error::Problem),
        (status = 413, body = crate::http::error::Problem, description = "body over the byte limit"),
        (status = 415, body = crate::http::error::Problem),
        (status = 422, body = crate::http::error::Problem, description = "more items than the batch limit (field `events`), or not a batch")),
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
    let mut results: Vec<Option<BatchItemResult>> = Vec::with_capacity(body.events.len());
    let mut valid = Vec::new();
    for (i, item) in body.events.into_iter().enumerate() {
        match item.0.and_then(|b| b.validate(received_at)) {
            Ok(input) => {
                valid.push((i, input));
                results.push(None);
            }
            Err(e) => results.push(Some(item_error(e)?)),
        }
    }
    // Judged in captured_at order (ties in the order sent): each event's previous event is
    // the later of the stored one and the batch's own event judged just before it.
    valid.sort_by_key(|(i, input)| (input.captured_at, *i));
    let mut recorded = Vec::with_capacity(valid.len());
    let mut judged = Vec::with_capacity(valid.len());
    let mut last_judged = None;
    let events: Vec<_> = valid
        .iter()
        .map(|(_, input)| (input, input.photo_source(false)))
        .collect();
    let (recorder, lookups) = Recorder::open(&state, &caller, received_at, &events).await?;
    for ((i, input), lookup) in valid.into_iter().zip(lookups) {
        let admitted = match lookup {
            Ok(lookup) => admit(&state, &caller, &recorder, input, lookup).await,
            Err(e) => Err(e),
        };
        match admitted {
            Ok(Admitted::Replayed(existing)) => recorded.push((i, Recorded::Replayed(existing))),
            Ok(Admitted::New(input, source, photo, stored_previous)) => {
                let previous = later_fix(stored_previous, last_judged);
                let event = recorder.judge(input, source, photo, false, previous);
                last_judged = Some(event.fix);
                judged.push((i, event));
            }
            Err(e) => results[i] = Some(item_error(e)?),
        }
    }
    // Stored all at once, so the whole batch shares a commit or two instead of one each.
    let stores = judged
        .into_iter()
        .map(|(i, event)| recorder.store(event).map(move |outcome| (i, outcome)));
    for (i, outcome) in futures_util::future::join_all(stores).await {
        match outcome {
            Ok(r) => recorded.push((i, r)),
            Err(e) => results[i] = Some(item_error(e)?),
        }
    }
    let codes: Vec<(usize, u16)> = recorded
        .iter()
        .map(|(i, r)| (*i, if r.created() { 201 } else { 200 }))
        .collect();
    let views = present(
        &state,
        &caller,
        recorded.into_iter().map(|(_, r)| r.into_event()).collect(),
    )
    .await?
    .views;
    for ((i, status_code), view) in codes.into_iter().zip(views) {
        results[i] = Some(BatchItemResult {
            status_code,
            event: Some(view),
            error: None,
        });
    }
    let results = results
        .into_iter()
        .map(|r| r.ok_or_else(|| ApiError::internal(anyhow::anyhow!("batch item without a result"))))
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

#[utoipa::path(get, path = "/v1/attendance/events", tag = "attendance", params(ListParams),
    responses(
        (status = 200, description = "events in `captured_at` order, scoped by `attendance.read:*`; locations and photos only where `attendance.location.read:*` / `attendance.photo.read:*` reach. Protobuf `muster.v1.RecordedEventPage` with `Accept: application/x-protobuf`",
            content((List<EventView> = "application/json"), (List<EventView> = "application/x-protobuf"))),
        (status = 403, body = crate::http::error::Problem, description = "no `attendance.read:*` permission"),
        (status = 404, body = crate::http::error::Problem, description = "`user_id` names a user the caller may not see"),
        (status = 422, body = crate::http::error::Problem)),
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
            if !caller.sees(&state, Family::Attendance, &subject).await? {
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
    let items = present(&state, &caller, events.items).await?.views;
    let page = crate::storage::Page {
        items,
        next: events.next,
    };
    Ok(Reply::ok(List::from_page(page, |v| v)))
}

#[utoipa::path(get, path = "/v1/attendance/events/{id}", tag = "attendance",
    responses(
        (status = 200, description = "protobuf `muster.v1.RecordedEvent` with `Accept: application/x-protobuf`",
            content((EventView = "application/json"), (EventView = "application/x-protobuf"))),
        (status = 403, body = crate::http::error::Problem, description = "no `attendance.read:*` permission"),
        (status = 404, body = crate::http::error::Problem, description = "no such event, or not the caller's to see")),
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
    if !caller.sees(&state, Family::Attendance, &subject).await? {
        return Err(ApiError::not_found());
    }
    Ok(Reply::ok(present_one(&state, &caller, event).await?))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // The `:batch` route goes first so `{id}`-style patterns never swallow it.
    cfg.service(batch).service(record).service(list).service(get);
}
