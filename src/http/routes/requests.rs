//! `/v1/attendance/requests`: file a missed check-in, check-out or correction, read them
//! back, and decide them. The rules live in `crate::requests`; this module authorises what
//! needs no data (the permissions), parses, calls the use cases and encodes the answer.

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::photos::serve_photo;
use crate::access::{Caller, Family, Permission};
use crate::attendance::record::received_now;
use crate::field::FieldError;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Json, Query};
use crate::http::page::{List, page_request};
use crate::http::problems;
use crate::http::state::AppState;
use crate::http::wire::Image;
use crate::requests::decide::{Choice, cancel, decide};
use crate::requests::file::{Ports, file};
use crate::requests::input::{RequestBody, parse_date};
use crate::requests::read::{self, ListQuery};
use crate::requests::view::{RequestView, present};
use crate::storage::requests::{RequestStatus, StoredRequest};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only this user's requests: oneself, or someone whose requests the caller may decide
    /// (anyone else is 404).
    user_id: Option<Uuid>,
    status: Option<RequestStatus>,
    /// Requests about this local day or later, `YYYY-MM-DD`.
    #[param(format = Date)]
    from: Option<String>,
    /// Requests about this local day or earlier, `YYYY-MM-DD` (inclusive).
    #[param(format = Date)]
    to: Option<String>,
    /// At most this many items (default 100, at most 1000).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// `POST /v1/attendance/requests/{id}:approve` and `:reject`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// 1 to 1000 characters; required to reject, optional to approve. The requester sees it.
    comment: Option<String>,
}

async fn present_one(state: &AppState, caller: &Caller, request: StoredRequest) -> ApiResult<RequestView> {
    present(&*state.repo, caller, vec![request])
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("presented no request")))
}

fn path_of(id: Uuid) -> String {
    format!("/v1/attendance/requests/{id}")
}

/// What its error answers mean here:
/// - 400: malformed JSON
/// - 403: no `attendance.requests.create`
/// - 409: a pending request of this `kind` for this `date` exists already (field `kind`), or
///   an approved correction of `event_id` does (field `event_id`): an event is corrected once
/// - 413: body over `json_body_limit_bytes`
/// - 415: a body that is not `application/json`
/// - 422: invalid input, naming the field: `date` after today or more than the policy's `request_max_age_days` ago, `time` in the future, `event_id` missing for a correction or naming no flagged or rejected event of the caller's on `date`, `reason` empty or over 1000 characters, `photo_id` not an unattached upload of the caller's
#[utoipa::path(post, path = "/v1/attendance/requests", tag = "attendance requests", operation_id = "create_attendance_request",
    request_body(content = RequestBody, description = "A request for the caller's own attendance. `date` and `time` are local to the caller's first site (by site id), else the organisation's time zone; a time a daylight-saving change skips is 422, one it repeats means the earlier instant. `photo_id` is claimed like a check-in's: the caller's own upload, attached to nothing else."),
    responses(
        (status = 201, body = RequestView, description = "filed, `pending`; `Location` names it",
            headers(("location" = String, description = "the request's path")),
            links(
                ("get_attendance_request" = (operation_id = "get_attendance_request", parameters(("id" = "$response.body#/id")))),
                ("get_attendance_request_photo" = (operation_id = "get_attendance_request_photo", parameters(("id" = "$response.body#/id")))),
                ("approve_attendance_request" = (operation_id = "approve_attendance_request", parameters(("id" = "$response.body#/id")))),
                ("reject_attendance_request" = (operation_id = "reject_attendance_request", parameters(("id" = "$response.body#/id")))),
                ("cancel_attendance_request" = (operation_id = "cancel_attendance_request", parameters(("id" = "$response.body#/id")))))),
        problems::Secured, problems::Body, problems::Forbidden, problems::Conflict),
    security(("bearer" = [])))]
#[post("/v1/attendance/requests")]
pub async fn create(state: web::Data<AppState>, caller: Caller, body: Json<RequestBody>) -> ApiResult<HttpResponse> {
    caller.require(Permission::RequestsCreate)?;
    let draft = body.parse().await?.validate()?;
    let ports = Ports {
        repo: &*state.repo,
        uploads: state.uploads(),
    };
    let filed = file(ports, &caller, draft, received_now()).await?;
    let view = present_one(&state, &caller, filed).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, path_of(view.id)))
        .json(view))
}

fn query_date(errors: &mut Vec<FieldError>, field: &str, value: Option<&str>) -> Option<chrono::NaiveDate> {
    let value = value?;
    let date = parse_date(value);
    if date.is_none() {
        errors.push(FieldError::new(field, "must be a date as YYYY-MM-DD"));
    }
    date
}

/// What its error answers mean here:
/// - 404: `user_id` names a user whose requests the caller may not see
/// - 422: a bad filter, naming it (`to` before `from` too)
#[utoipa::path(get, path = "/v1/attendance/requests", tag = "attendance requests", operation_id = "list_attendance_requests", params(ListParams),
    responses(
        (status = 200, body = List<RequestView>, description = "the caller's own requests and those they may decide (their `attendance.requests.approve:*` scope: direct reports, team or organisation), in the order they were filed"),
        problems::Secured, problems::Invalid, problems::NotFound),
    security(("bearer" = [])))]
#[get("/v1/attendance/requests")]
pub async fn list(state: web::Data<AppState>, caller: Caller, Query(p): Query<ListParams>) -> ApiResult<HttpResponse> {
    let mut errors = Vec::new();
    let from = query_date(&mut errors, "from", p.from.as_deref());
    let to = query_date(&mut errors, "to", p.to.as_deref());
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        errors.push(FieldError::new("to", "must not be before from"));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let page = page_request(p.limit, p.cursor.as_deref())?;
    let query = ListQuery {
        user_id: p.user_id,
        status: p.status,
        from,
        to,
    };
    let requests = read::list(&*state.repo, &caller, query, page).await?;
    let page = crate::storage::Page {
        items: present(&*state.repo, &caller, requests.items).await?,
        next: requests.next,
    };
    Ok(HttpResponse::Ok().json(List::from_page(page, |v| v)))
}

/// What its error answers mean here:
/// - 404: no such request, or neither the caller's nor one they may decide
#[utoipa::path(get, path = "/v1/attendance/requests/{id}", tag = "attendance requests", operation_id = "get_attendance_request",
    params(("id" = Uuid, Path, description = "the request's id")),
    responses(
        (status = 200, body = RequestView, description = "with its decision (`decided_by`, `decided_at`, `comment`, `result_event_id`) once decided"),
        problems::Secured, problems::NotFound),
    security(("bearer" = [])))]
#[get("/v1/attendance/requests/{id}")]
pub async fn get_one(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let (request, _) = read::get(&*state.repo, &caller, *id).await?;
    Ok(HttpResponse::Ok().json(present_one(&state, &caller, request).await?))
}

/// What its error answers mean here:
/// - 404: no such request or photo, or not the caller's to see: it needs the request to be visible and the `attendance.photo.read:*` and `attendance.location.read:*` scopes over the requester, as an event's photo does. Each answer showing someone else's photo writes a `photo.disclosed` audit entry
#[utoipa::path(get, path = "/v1/attendance/requests/{id}/photo", tag = "attendance requests", operation_id = "get_attendance_request_photo",
    params(("id" = Uuid, Path, description = "the request's id")),
    responses(
        (status = 200, description = "the image (local photo store)",
            content((Image = "image/jpeg"), (Image = "image/png"), (Image = "image/webp"))),
        (status = 307, description = "redirect to a signed URL valid at most `MUSTER_PHOTO_URL_TTL_S` (S3 photo store)",
            headers(("Location" = String, description = "the signed URL"))),
        problems::Secured, problems::NotFound),
    security(("bearer" = [])))]
#[get("/v1/attendance/requests/{id}/photo")]
pub async fn photo(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let (requester, photo) = read::photo(&*state.repo, &caller, *id).await?;
    serve_photo(&state, &caller, requester.id, &photo, id.to_string()).await
}

/// Approves or rejects, after the permission check and before the body's values.
async fn decide_with(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    choice: Choice,
    body: Json<DecisionBody>,
) -> ApiResult<HttpResponse> {
    caller.scope(Family::RequestApproval)?;
    let body = body.parse_or_default().await?;
    let decided = decide(&*state.repo, caller, id, choice, body.comment, received_now()).await?;
    Ok(HttpResponse::Ok().json(present_one(state, caller, decided).await?))
}

/// What its error answers mean here:
/// - 403: no `attendance.requests.approve:*` permission, or the caller's own request
/// - 404: no such request, or its requester is beyond the caller's approval scope
/// - 409: decided already (perhaps by a concurrent approver): decisions are final (field
///   `status`); or a correction of the same event was approved first (field `event_id`)
/// - 413: body over `json_body_limit_bytes`
/// - 415: a body that is not `application/json`
/// - 422: `comment` empty or over 1000 characters
#[utoipa::path(post, path = "/v1/attendance/requests/{id}:approve", tag = "attendance requests", operation_id = "approve_attendance_request",
    params(("id" = Uuid, Path, description = "the request's id")),
    request_body(content = Option<DecisionBody>, description = "optional: an empty body approves without a comment"),
    responses(
        (status = 200, body = RequestView, description = "approved; `result_event_id` names the event written with it (`source: \"request\"`, `request_id`, the proposed time as `captured_at`, `status: \"accepted\"`, no location, so verdict `no_geofence` and no reasons). The original events stay as they were; in reports the event a correction names no longer counts, the written one counts in its place"),
        problems::Secured, problems::Body, problems::Forbidden, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
#[post("/v1/attendance/requests/{id:[^/:]+}:approve")]
pub async fn approve(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: Json<DecisionBody>,
) -> ApiResult<HttpResponse> {
    decide_with(&state, &caller, *id, Choice::Approve, body).await
}

/// What its error answers mean here:
/// - 403: no `attendance.requests.approve:*` permission, or the caller's own request
/// - 404: no such request, or its requester is beyond the caller's approval scope
/// - 409: decided already: decisions are final
/// - 413: body over `json_body_limit_bytes`
/// - 415: a body that is not `application/json`
/// - 422: `comment` missing, empty or over 1000 characters
#[utoipa::path(post, path = "/v1/attendance/requests/{id}:reject", tag = "attendance requests", operation_id = "reject_attendance_request",
    params(("id" = Uuid, Path, description = "the request's id")),
    request_body(content = DecisionBody, description = "`comment` is required: the requester is told why"),
    responses(
        (status = 200, body = RequestView, description = "rejected; nothing else changes"),
        problems::Secured, problems::Body, problems::Forbidden, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
#[post("/v1/attendance/requests/{id:[^/:]+}:reject")]
pub async fn reject(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: Json<DecisionBody>,
) -> ApiResult<HttpResponse> {
    decide_with(&state, &caller, *id, Choice::Reject, body).await
}

/// What its error answers mean here:
/// - 403: someone else's request the caller may decide: only the requester cancels
/// - 404: no such request, or not the caller's to see
/// - 409: decided already: decisions are final
#[utoipa::path(post, path = "/v1/attendance/requests/{id}:cancel", tag = "attendance requests", operation_id = "cancel_attendance_request",
    params(("id" = Uuid, Path, description = "the request's id")),
    responses(
        (status = 200, body = RequestView, description = "cancelled by its requester; `decided_by` is the requester. Any body is ignored"),
        problems::Secured, problems::Forbidden, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
#[post("/v1/attendance/requests/{id:[^/:]+}:cancel")]
pub async fn cancel_one(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let cancelled = cancel(&*state.repo, &caller, *id, received_now()).await?;
    Ok(HttpResponse::Ok().json(present_one(&state, &caller, cancelled).await?))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // The `:action` routes go first so `{id}` never swallows them.
    cfg.service(approve)
        .service(reject)
        .service(cancel_one)
        .service(create)
        .service(list)
        .service(photo)
        .service(get_one);
}
