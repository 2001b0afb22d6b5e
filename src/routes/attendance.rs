//! `/v1/attendance/events`: record check-ins and check-outs (alone or as an offline batch)
//! and read them back, scoped and redacted. The rules live in `crate::attendance`; this
//! module parses, authorises and orchestrates.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::access::{Family, Permission, Scope};
use crate::attendance::event::{EventFilter, EventScope, Kind, Status, StoredEvent};
use crate::attendance::input::{BatchBody, EventBody, EventInput, PhotoSource};
use crate::attendance::record::{AttachedPhoto, Recorded, Recorder};
use crate::attendance::redact::{EventView, present};
use crate::attendance::wire::{BatchItemResult, BatchResult};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Code, FieldError};
use crate::http::{Json, List, Query, page_request};
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
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

/// Checks the photo an event names and attaches it, once the event is known to be new.
async fn attach(_state: &AppState, _caller: &Caller, source: PhotoSource) -> ApiResult<Option<AttachedPhoto>> {
    match source {
        PhotoSource::None => Ok(None),
        PhotoSource::Uploaded(_) | PhotoSource::Part => Err(ApiError::field(
            "photo_id",
            "photos cannot be attached on this server yet",
        )),
    }
}

/// Records one validated event: the stored answer for a retry, else a new event.
async fn record_one(
    state: &AppState,
    caller: &Caller,
    recorder: &Recorder<'_>,
    input: EventInput,
    online: bool,
) -> ApiResult<Recorded> {
    let source = input.photo_source(false);
    if let Some(existing) = recorder.replay(&input, source).await? {
        return Ok(Recorded::Replayed(existing));
    }
    let photo = attach(state, caller, source).await?;
    recorder.record(input, source, photo, online).await
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
    request_body(description = "A check-in or check-out. Identity comes from the token: `user_id`, `status` and the like are unknown fields (422).",
        content((EventBody = "application/json"))),
    responses(
        (status = 201, body = EventView, description = "recorded (rejected events too: see `status`)"),
        (status = 200, body = EventView, description = "this `client_event_id` was already recorded with this body: the original answer"),
        (status = 400, body = crate::error::Problem, description = "malformed body"),
        (status = 403, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem, description = "this `client_event_id` was used with another body"),
        (status = 413, body = crate::error::Problem),
        (status = 415, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem, description = "invalid input, naming the field; nothing is recorded")),
    security(("bearer" = [])))]
#[post("/v1/attendance/events")]
pub async fn record(state: web::Data<AppState>, caller: Caller, body: Json<EventBody>) -> ApiResult<HttpResponse> {
    caller.require(Permission::AttendanceRecord)?;
    let body = body.parse().await?;
    let recorder = Recorder::new(&state, &caller).await?;
    let input = body.validate(recorder.received_at())?;
    let recorded = record_one(&state, &caller, &recorder, input, true).await?;
    let status = if recorded.created() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let view = present_one(&state, &caller, recorded.into_event()).await?;
    Ok(HttpResponse::build(status).json(view))
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
    request_body(description = "A phone's offline queue, judged in `captured_at` order. More than `attendance_batch_max_events` (500) items is a 422 on `events`; a body over `attendance_batch_body_limit_bytes` is a 413.",
        content((BatchBody = "application/json"))),
    responses(
        (status = 200, body = BatchResult, description = "one result per item, in the order sent; a bad item fails alone"),
        (status = 400, body = crate::error::Problem),
        (status = 403, body = crate::error::Problem),
        (status = 413, body = crate::error::Problem, description = "body over the byte limit"),
        (status = 415, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem, description = "more items than the batch limit (field `events`), or not a batch")),
    security(("bearer" = [])))]
#[post("/v1/attendance/events:batch")]
pub async fn batch(state: web::Data<AppState>, caller: Caller, body: Json<BatchBody>) -> ApiResult<HttpResponse> {
    caller.require(Permission::AttendanceRecord)?;
    let body = body.parse().await?;
    let max = state.settings.attendance_batch_max_events;
    if body.events.len() > max {
        return Err(ApiError::field(
            "events",
            format!("must hold at most {max} events, not {}", body.events.len()),
        ));
    }
    let recorder = Recorder::new(&state, &caller).await?;
    let mut results: Vec<Option<BatchItemResult>> = Vec::with_capacity(body.events.len());
    let mut valid = Vec::new();
    for (i, item) in body.events.into_iter().enumerate() {
        match item.0.and_then(|b| b.validate(recorder.received_at())) {
            Ok(input) => {
                valid.push((i, input));
                results.push(None);
            }
            Err(e) => results.push(Some(item_error(e)?)),
        }
    }
    // Judged in captured_at order (ties in the order sent), so that each event's previous
    // event is already stored when it is judged.
    valid.sort_by_key(|(i, input)| (input.captured_at, *i));
    let mut recorded = Vec::with_capacity(valid.len());
    for (i, input) in valid {
        match record_one(&state, &caller, &recorder, input, false).await {
            Ok(r) => recorded.push((i, r)),
            Err(e) => results[i] = Some(item_error(e)?),
        }
    }
    let codes: Vec<(usize, u16)> = recorded
        .iter()
        .map(|(i, r)| (*i, if r.created() { 201 } else { 200 }))
        .collect();
    let views = present(&state, &caller, recorded.into_iter().map(|(_, r)| r.into_event()).collect())
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
    Ok(HttpResponse::Ok().json(BatchResult { results }))
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
        (status = 200, body = List<EventView>, description = "events in `captured_at` order, scoped by `attendance.read:*`; locations and photos only where `attendance.location.read:*` / `attendance.photo.read:*` reach"),
        (status = 403, body = crate::error::Problem, description = "no `attendance.read:*` permission"),
        (status = 404, body = crate::error::Problem, description = "`user_id` names a user the caller may not see"),
        (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
#[get("/v1/attendance/events")]
pub async fn list(state: web::Data<AppState>, caller: Caller, Query(p): Query<ListParams>) -> ApiResult<HttpResponse> {
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
    Ok(HttpResponse::Ok().json(List::from_page(page, |v| v)))
}

#[utoipa::path(get, path = "/v1/attendance/events/{id}", tag = "attendance",
    responses(
        (status = 200, body = EventView),
        (status = 403, body = crate::error::Problem, description = "no `attendance.read:*` permission"),
        (status = 404, body = crate::error::Problem, description = "no such event, or not the caller's to see")),
    security(("bearer" = [])))]
#[get("/v1/attendance/events/{id}")]
pub async fn get(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
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
    Ok(HttpResponse::Ok().json(present_one(&state, &caller, event).await?))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // The `:batch` route goes first so `{id}`-style patterns never swallow it.
    cfg.service(batch).service(record).service(list).service(get);
}
