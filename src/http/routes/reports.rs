//! `GET /v1/reports/attendance`: one row per user per local day, as JSON or CSV, streamed.

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::Caller;
use crate::access::{Family, Permission, Scope};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::Query;
use crate::http::problems;
use crate::http::state::AppState;
use crate::reports::{DateRange, Format, RangeError, ReportRow, ReportRun, ReportSpec};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportScope {
    /// The caller and everyone whose manager chain contains them.
    Team,
    /// Every user of the organisation (`reports.read:org`).
    Org,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// First local date, `YYYY-MM-DD`.
    #[param(value_type = String, format = Date)]
    from: NaiveDate,
    /// Last local date, inclusive; at most 366 days after `from` counting both.
    #[param(value_type = String, format = Date)]
    to: NaiveDate,
    /// Default: the widest the caller's `reports.read:*` grants.
    #[param(inline)]
    scope: Option<ReportScope>,
    /// Default `json`.
    #[param(inline)]
    format: Option<Format>,
}

/// The JSON form of the report.
#[derive(Serialize, ToSchema)]
pub struct AttendanceReport {
    items: Vec<ReportRow>,
}

/// Attendance report: one row per user per local day, streamed.
///
/// Each user's days are dates in the time zone of their first site (in `site_ids` order),
/// else the organisation's. Without shifts a day runs from local midnight (inclusive) to the
/// next, so it has 23 or 25 hours across a DST change and an event at exactly 00:00 belongs
/// to the day it starts; with shifts the boundary between two days lies halfway between one
/// day's scheduled end and the next day's start, so a night shift belongs to the day it
/// starts. Accepted and flagged events count; rejected ones are only tallied.
/// `first_in` is the earliest counted check-in, `last_out` the latest counted check-out
/// (local time with offset). `worked_minutes` sums check-in → next check-out pairs within
/// the day (repeated check-ins while a pair is open and check-outs without one are
/// ignored), as real elapsed time in whole minutes, less the part of a working shift's
/// unpaid break not taken between pairs. `status`, the first that applies: `holiday`,
/// `weekly_off` (a weekday outside the shift's), `absent` (no counted check-in), `incomplete`
/// (a pair still open), `out_of_fence` (every check-in flagged or rejected as
/// `outside_geofence`), `half_day` (under the shift's `half_day_below_min`), `late` (first
/// check-in past the scheduled start plus `late_grace_min`), `early_leave` (last check-out
/// before the scheduled end less `early_grace_min`), `present`. A day is judged by the shift
/// version in force when it began (`shift_id`, `shift_version`); `overtime_minutes` counts
/// worked minutes beyond the shift's `overtime_after_min` (every worked minute on its
/// holidays and weekly offs). With no shift nothing is late, early or overtime and every
/// non-holiday is working. The `first_in_*` location fields are filled only
/// where the caller may see that user's location (`attendance.location.read:*`), and each
/// other user whose location is shown is recorded once per request as
/// `location.disclosed`. `scope=team` covers the caller and everyone below them,
/// `scope=org` the organisation (`reports.read:org`); active users, and disabled users
/// with events in the range. Rows are ordered by user id, then date; CSV columns added
/// after the first release (`corrected`, then the shift columns) come last.
#[utoipa::path(tag = "reports", operation_id = "attendance_report", params(ReportParams),
    responses(
        (status = 200, description = "The report; JSON `{items: [...]}` or CSV with a header row", content(
            (AttendanceReport = "application/json"),
            (String = "text/csv"),
        )),
        problems::Secured, problems::Invalid, problems::Forbidden,
    ),
    security(("bearer" = [])))]
#[get("/v1/reports/attendance")]
pub async fn attendance(state: web::Data<AppState>, caller: Caller, req: HttpRequest) -> ApiResult<HttpResponse> {
    // Authorise before looking at the parameters: a caller without the permission learns
    // nothing about what the endpoint expects.
    let widest = caller.scope(Family::Reports)?;
    let Query(params) = Query::<ReportParams>::extract(&req).await?;
    let scope = params.scope.unwrap_or(match widest {
        Scope::Org => ReportScope::Org,
        _ => ReportScope::Team,
    });
    if scope == ReportScope::Org {
        caller.require(Permission::ReportsReadOrg)?;
    }
    let range = DateRange::new(params.from, params.to).map_err(|e| match e {
        RangeError::Reversed | RangeError::TooLong => ApiError::field("to", e.to_string()),
    })?;
    let org = state
        .repo
        .get_org(caller.org_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let format = params.format.unwrap_or_default();
    let spec = ReportSpec {
        range,
        team_of: (scope == ReportScope::Team).then_some(caller.user_id),
        org_timezone: org.timezone.parse().unwrap_or(chrono_tz::UTC),
        format,
    };
    let mut run = ReportRun::start(state.repo.clone(), caller, spec).await?;
    // The first page runs before the status line is sent, so that a database that is down
    // answers 503 rather than a truncated 200.
    let first = run.next_chunk().await?.unwrap_or_default();
    let body = futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) });
    let mut response = HttpResponse::Ok();
    response.content_type(format.content_type());
    if format == Format::Csv {
        response.insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"attendance-{}-{}.csv\"",
                range.from(),
                range.to()
            ),
        ));
    }
    Ok(response.streaming(futures_util::StreamExt::chain(body, run.into_stream())))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(attendance);
}
