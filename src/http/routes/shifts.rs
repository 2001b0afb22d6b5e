//! `/v1/shifts`, `/v1/shift-assignments` and `/v1/holidays`: what a working day is. The
//! rules live in `crate::shifts`; this module checks the permission before reading a body
//! (so a caller without it learns nothing of the rules), parses, calls the use cases and
//! encodes the answer.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::access::{Caller, Permission};
use crate::attendance::record::received_now;
use crate::field::FieldError;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Json, Query};
use crate::http::page::{List, page_request};
use crate::http::problems;
use crate::http::state::AppState;
use crate::requests::input::parse_date;
use crate::shifts::input::{AssignmentBody, HolidayBody, ShiftBody};
use crate::shifts::manage;
use crate::shifts::view::{AssignmentView, HolidayView, ShiftView, assignment_view, holiday_view, shift_view};
use crate::storage::shifts::AssignmentFilter;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// At most this many items (default 100, at most 1000).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AssignmentParams {
    /// Only this site's assignments.
    site_id: Option<Uuid>,
    /// Only this user's own assignments (not those of their sites).
    user_id: Option<Uuid>,
    /// At most this many items (default 100, at most 1000).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HolidayParams {
    /// Holidays on this date or later, `YYYY-MM-DD`.
    #[param(format = Date)]
    from: Option<String>,
    /// Holidays on this date or earlier, `YYYY-MM-DD` (inclusive).
    #[param(format = Date)]
    to: Option<String>,
    /// At most this many items (default 100, at most 1000).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// What its error answers mean here:
/// - 400: malformed JSON
/// - 403: no `shifts.manage`
/// - 413: body over `json_body_limit_bytes`
/// - 415: a body that is not `application/json`
/// - 422: invalid input, naming each bad field: `name` empty or over 100 characters, `start` or `end` not `HH:MM`, `end` equal to `start`, `weekdays` empty or a day unknown or repeated (`weekdays[i]`), a minute count over 1440, a grace longer than the shift, `break_min` not shorter than the shift
#[utoipa::path(tag = "shifts", operation_id = "create_shift",
    request_body(content = ShiftBody, description = "Every field but `overtime_after_min` is required. `end` before `start` is a night shift ending the next day."),
    responses(
        (status = 201, body = ShiftView, description = "created as version 1; `Location` names it",
            headers(("location" = String, description = "the shift's path")),
            links(
                ("get_shift" = (operation_id = "get_shift", parameters(("id" = "$response.body#/id")))),
                ("update_shift" = (operation_id = "update_shift", parameters(("id" = "$response.body#/id")))),
                ("retire_shift" = (operation_id = "retire_shift", parameters(("id" = "$response.body#/id")))))),
        problems::Secured, problems::Body, problems::Forbidden),
    security(("bearer" = [])))]
#[post("/v1/shifts")]
pub async fn create_shift(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<ShiftBody>,
) -> ApiResult<HttpResponse> {
    caller.require(Permission::ShiftsManage)?;
    let draft = body.parse().await?.validate()?;
    let shift = manage::create_shift(&*state.repo, &caller, draft, received_now()).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/shifts/{}", shift.id)))
        .json(shift_view(shift)))
}

/// What its error answers mean here:
/// - 403: no `shifts.read`
/// - 422: a bad `limit` or `cursor`
#[utoipa::path(tag = "shifts", operation_id = "list_shifts", params(PageParams),
    responses(
        (status = 200, body = List<ShiftView>, description = "the organisation's shifts that are not retired, each with its current version, in creation order"),
        problems::Secured, problems::Invalid, problems::Forbidden),
    security(("bearer" = [])))]
#[get("/v1/shifts")]
pub async fn list_shifts(
    state: web::Data<AppState>,
    caller: Caller,
    Query(p): Query<PageParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Permission::ShiftsRead)?;
    let page = page_request(p.limit, p.cursor.as_deref())?;
    let shifts = manage::list_shifts(&*state.repo, &caller, page).await?;
    Ok(HttpResponse::Ok().json(List::from_page(shifts, shift_view)))
}

/// What its error answers mean here:
/// - 403: no `shifts.read`
/// - 404: no such shift in the caller's organisation
#[utoipa::path(tag = "shifts", operation_id = "get_shift",
    params(("id" = Uuid, Path, description = "the shift's id")),
    responses(
        (status = 200, body = ShiftView, description = "the shift with its current version; a retired one too"),
        problems::Secured, problems::Forbidden, problems::NotFound),
    security(("bearer" = [])))]
#[get("/v1/shifts/{id}")]
pub async fn get_shift(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let shift = manage::get_shift(&*state.repo, &caller, *id).await?;
    Ok(HttpResponse::Ok().json(shift_view(shift)))
}

/// What its error answers mean here:
/// - 400: malformed JSON
/// - 403: no `shifts.manage`
/// - 404: no such shift in the caller's organisation
/// - 409: the shift is retired
/// - 413: body over `json_body_limit_bytes`
/// - 415: a body that is not `application/json`
/// - 422: invalid input, naming each bad field, as for `create_shift`
#[utoipa::path(tag = "shifts", operation_id = "update_shift",
    params(("id" = Uuid, Path, description = "the shift's id")),
    request_body(content = ShiftBody, description = "The whole new shift (every field but `overtime_after_min` required): stored as the next version, effective now. Days that began before keep the version they were judged by."),
    responses(
        (status = 200, body = ShiftView, description = "the new version (`version` one more, `effective_at` now)"),
        problems::Secured, problems::Body, problems::Forbidden, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
#[put("/v1/shifts/{id}")]
pub async fn update_shift(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: Json<ShiftBody>,
) -> ApiResult<HttpResponse> {
    caller.require(Permission::ShiftsManage)?;
    let draft = body.parse().await?.validate()?;
    let shift = manage::update_shift(&*state.repo, &caller, *id, draft, received_now()).await?;
    Ok(HttpResponse::Ok().json(shift_view(shift)))
}

/// What its error answers mean here:
/// - 403: no `shifts.manage`
/// - 404: no such shift in the caller's organisation
/// - 409: the shift is retired already
#[utoipa::path(tag = "shifts", operation_id = "retire_shift",
    params(("id" = Uuid, Path, description = "the shift's id")),
    responses(
        (status = 200, body = ShiftView, description = "the retired shift (`retired_at` set): it takes no new assignments and leaves the list; existing assignments and judged days keep it"),
        problems::Secured, problems::Forbidden, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
#[delete("/v1/shifts/{id}")]
pub async fn retire_shift(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let shift = manage::retire_shift(&*state.repo, &caller, *id, received_now()).await?;
    Ok(HttpResponse::Ok().json(shift_view(shift)))
}

/// What its error answers mean here:
/// - 400: malformed JSON
/// - 403: no `shifts.manage`
/// - 413: body over `json_body_limit_bytes`
/// - 415: a body that is not `application/json`
/// - 422: invalid input, naming the field: `site_id` when neither or both of `site_id` and `user_id` are given, `shift_id` naming no shift of the organisation or a retired one, `site_id` or `user_id` naming no site or user of the organisation, `from` or `to` not `YYYY-MM-DD`, `to` before `from`, `from` when the dates overlap another assignment of the same site or user (its id in the message)
#[utoipa::path(tag = "shifts", operation_id = "create_shift_assignment",
    request_body(content = AssignmentBody, description = "A shift for a site or a user on `from..=to`. A user's own assignment wins over their site's on the same date."),
    responses(
        (status = 201, body = AssignmentView, description = "stored; `Location` names it",
            headers(("location" = String, description = "the assignment's path")),
            links(
                ("end_shift_assignment" = (operation_id = "end_shift_assignment", parameters(("id" = "$response.body#/id")))),
                ("get_shift" = (operation_id = "get_shift", parameters(("id" = "$response.body#/shift_id")))))),
        problems::Secured, problems::Body, problems::Forbidden),
    security(("bearer" = [])))]
#[post("/v1/shift-assignments")]
pub async fn create_assignment(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<AssignmentBody>,
) -> ApiResult<HttpResponse> {
    caller.require(Permission::ShiftsManage)?;
    let draft = body.parse().await?.validate()?;
    let assignment = manage::create_assignment(&*state.repo, &caller, draft, received_now()).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/shift-assignments/{}", assignment.id)))
        .json(assignment_view(assignment)))
}

/// What its error answers mean here:
/// - 403: no `shifts.read`
/// - 422: a bad filter, `limit` or `cursor`
#[utoipa::path(tag = "shifts", operation_id = "list_shift_assignments", params(AssignmentParams),
    responses(
        (status = 200, body = List<AssignmentView>, description = "the organisation's assignments, filtered, in creation order"),
        problems::Secured, problems::Invalid, problems::Forbidden),
    security(("bearer" = [])))]
#[get("/v1/shift-assignments")]
pub async fn list_assignments(
    state: web::Data<AppState>,
    caller: Caller,
    Query(p): Query<AssignmentParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Permission::ShiftsRead)?;
    let page = page_request(p.limit, p.cursor.as_deref())?;
    let filter = AssignmentFilter {
        site_id: p.site_id,
        user_id: p.user_id,
    };
    let assignments = manage::list_assignments(&*state.repo, &caller, filter, page).await?;
    Ok(HttpResponse::Ok().json(List::from_page(assignments, assignment_view)))
}

/// Ends an assignment as of the organisation's today: one that begins today or later is
/// deleted; one that began earlier now ends yesterday, so the days it governed keep it.
///
/// What its error answers mean here:
/// - 403: no `shifts.manage`
/// - 404: no such assignment in the caller's organisation
#[utoipa::path(tag = "shifts", operation_id = "end_shift_assignment",
    params(("id" = Uuid, Path, description = "the assignment's id")),
    responses(
        (status = 204, description = "ended (or deleted, had it not begun)"),
        problems::Secured, problems::Forbidden, problems::NotFound),
    security(("bearer" = [])))]
#[delete("/v1/shift-assignments/{id}")]
pub async fn end_assignment(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    manage::end_assignment(&*state.repo, &caller, *id, received_now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// What its error answers mean here:
/// - 400: malformed JSON
/// - 403: no `shifts.manage`
/// - 409: the organisation (for `site_id: null`) or that site has a holiday on `date` already (field `date`)
/// - 413: body over `json_body_limit_bytes`
/// - 415: a body that is not `application/json`
/// - 422: invalid input, naming the field: `date` not `YYYY-MM-DD`, `name` empty or over 100 characters, `site_id` naming no site of the organisation
#[utoipa::path(tag = "shifts", operation_id = "create_holiday",
    request_body(content = HolidayBody, description = "A day off for the whole organisation, or for one site with `site_id`."),
    responses(
        (status = 201, body = HolidayView, description = "stored; `Location` names it",
            headers(("location" = String, description = "the holiday's path")),
            links(("delete_holiday" = (operation_id = "delete_holiday", parameters(("id" = "$response.body#/id")))))),
        problems::Secured, problems::Body, problems::Forbidden, problems::Conflict),
    security(("bearer" = [])))]
#[post("/v1/holidays")]
pub async fn create_holiday(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<HolidayBody>,
) -> ApiResult<HttpResponse> {
    caller.require(Permission::ShiftsManage)?;
    let draft = body.parse().await?.validate()?;
    let holiday = manage::create_holiday(&*state.repo, &caller, draft, received_now()).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/holidays/{}", holiday.id)))
        .json(holiday_view(holiday)))
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
/// - 403: no `shifts.read`
/// - 422: a bad `from`, `to` (also before `from`), `limit` or `cursor`
#[utoipa::path(tag = "shifts", operation_id = "list_holidays", params(HolidayParams),
    responses(
        (status = 200, body = List<HolidayView>, description = "the organisation's and its sites' holidays on the dates, by date"),
        problems::Secured, problems::Invalid, problems::Forbidden),
    security(("bearer" = [])))]
#[get("/v1/holidays")]
pub async fn list_holidays(
    state: web::Data<AppState>,
    caller: Caller,
    Query(p): Query<HolidayParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Permission::ShiftsRead)?;
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
    let holidays = manage::list_holidays(&*state.repo, &caller, from, to, page).await?;
    Ok(HttpResponse::Ok().json(List::from_page(holidays, holiday_view)))
}

/// What its error answers mean here:
/// - 403: no `shifts.manage`
/// - 404: no such holiday in the caller's organisation
#[utoipa::path(tag = "shifts", operation_id = "delete_holiday",
    params(("id" = Uuid, Path, description = "the holiday's id")),
    responses(
        (status = 204, description = "deleted"),
        problems::Secured, problems::Forbidden, problems::NotFound),
    security(("bearer" = [])))]
#[delete("/v1/holidays/{id}")]
pub async fn delete_holiday(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    manage::delete_holiday(&*state.repo, &caller, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_shift)
        .service(list_shifts)
        .service(get_shift)
        .service(update_shift)
        .service(retire_shift)
        .service(create_assignment)
        .service(list_assignments)
        .service(end_assignment)
        .service(create_holiday)
        .service(list_holidays)
        .service(delete_holiday);
}
