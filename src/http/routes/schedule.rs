//! `GET /v1/users/{id}/schedule`: a user's resolved working days, weekly offs and holidays.

use actix_web::{HttpResponse, get, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::Query;
use crate::http::problems;
use crate::http::state::AppState;
use crate::reports::DateRange;
use crate::shifts::user_schedule::{ScheduleItem, user_schedule};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ScheduleParams {
    /// First local date, `YYYY-MM-DD`.
    #[param(value_type = String, format = Date)]
    from: NaiveDate,
    /// Last local date, inclusive; at most 366 days after `from` counting both.
    #[param(value_type = String, format = Date)]
    to: NaiveDate,
}

#[derive(Serialize, ToSchema)]
pub struct Schedule {
    items: Vec<ScheduleItem>,
}

/// A user's schedule, one item per date of `from..=to`, for oneself or a user the caller may
/// see (`users.read:*`; anyone else is 404).
///
/// Dates are local to the user's first site (by site id), else the organisation's zone. A
/// date's shift is the user's own assignment covering it, else their first site's; its
/// version is the one in force when that local day began, so a shift changed today applies
/// from tomorrow. `kind` is `holiday` on a holiday of the organisation or of that site (with
/// or without a shift), `weekly_off` on a shift's non-working weekday, else `working`: with no
/// shift every other date is working. `start` and `end` are a working day's scheduled
/// instants (a night shift ends on the next date); a start that a daylight-saving change
/// skips moves to the change, one it repeats is the earlier instant.
///
/// - 422: `to` before `from`, or more than 366 days
#[utoipa::path(tag = "shifts", operation_id = "get_user_schedule", params(ScheduleParams),
    responses((status = 200, body = Schedule), problems::Secured, problems::Invalid, problems::NotFound),
    security(("bearer" = [])))]
#[get("/v1/users/{id}/schedule")]
pub async fn user(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    Query(params): Query<ScheduleParams>,
) -> ApiResult<HttpResponse> {
    let range = DateRange::new(params.from, params.to).map_err(|e| ApiError::field("to", e.to_string()))?;
    let items = user_schedule(&*state.repo, &caller, *id, range)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(Schedule { items }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(user);
}
