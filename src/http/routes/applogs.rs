//! `/v1/app-logs`: the app uploads its logs (JSON or protobuf); those with `applogs.read:*`
//! read them, scoped, with PII only for `applogs.pii.read` and every disclosure of someone
//! else's PII audited.

use actix_web::http::StatusCode;
use actix_web::{get, post, web};
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::access::Caller;
use crate::access::{Family, Permission, Scope};
use crate::applogs::{self, Accepted, Limits, Upload};
use crate::audit::Disclosures;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::Query;
use crate::http::negotiate::{JsonOrProto, Reply};
use crate::http::page::{List, page_request};
use crate::http::problems;
use crate::http::state::AppState;
use crate::http::wire::ProtobufMessage;
use crate::proto::v1;
use crate::storage::Page;
use crate::storage::applogs::{AppLog, AppLogFilter, Level, Origin};
use crate::storage::users::UserScope;

/// Stores a batch of app-log entries from one device (`applogs.write`). Nothing of a batch
/// is stored unless all of it is valid:
/// - 400: undecodable JSON or protobuf, including nesting beyond the parsers' own limits
///   (128 JSON levels, roughly 30 in protobuf Structs), far past `MUSTER_APPLOG_MAX_DEPTH`;
/// - 413: a body over `MUSTER_APPLOG_BODY_LIMIT_BYTES` (1 MiB);
/// - 422: each invalid field named (`entries[3].message`); also more than
///   `MUSTER_APPLOG_MAX_ENTRIES` (1,000) entries, named `entries`;
/// - 429: over `MUSTER_APPLOG_BATCHES_PER_MINUTE` for this user (`Retry-After`).
#[utoipa::path(tag = "app-logs", operation_id = "upload_app_logs",
    request_body(description = "A batch of entries from one device, as JSON or as the protobuf `muster.v1.AppLogBatch`.",
        content((Upload = "application/json"), (ProtobufMessage = "application/x-protobuf"))),
    responses(
        (status = 202, description = "stored; protobuf `muster.v1.AppLogAccepted` with `Accept: application/x-protobuf`",
            content((Accepted = "application/json"), (ProtobufMessage = "application/x-protobuf"))),
        problems::Secured, problems::Body, problems::Forbidden),
    security(("bearer" = [])))]
#[post("/v1/app-logs")]
pub async fn upload(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonOrProto<Upload, v1::AppLogBatch>,
) -> ApiResult<Reply<Accepted, v1::AppLogAccepted>> {
    caller.require(Permission::ApplogsWrite)?;
    // Before the body is read: a client over its rate costs the server nothing more.
    state
        .applog_uploads
        .check(&caller.user_id)
        .map_err(ApiError::rate_limited)?;
    let upload = body.parse(state.settings.applog_body_limit_bytes).await?;
    let origin = Origin {
        org_id: caller.org_id,
        user_id: caller.user_id,
        ip: caller.ip.clone(),
        received_at: Utc::now(),
    };
    let batch = applogs::new_batch(upload, origin, &Limits::from_settings(&state.settings))?;
    state.repo.insert_app_log_batch(&batch).await?;
    let accepted = u32::try_from(batch.entries.len()).unwrap_or(u32::MAX);
    // Counts only: entry text is the client's data and never reaches the server log.
    tracing::debug!(entries = accepted, "app-log batch stored");
    Ok(Reply::new(StatusCode::ACCEPTED, Accepted { accepted }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only this user's entries. A user outside the caller's scope (or unknown, or of another
    /// organisation) gives an empty list, like a user without logs: the answer never tells
    /// whether someone exists.
    user_id: Option<Uuid>,
    /// Entry time (`ts`) from, inclusive.
    from: Option<DateTime<FixedOffset>>,
    /// Entry time (`ts`) to, exclusive.
    to: Option<DateTime<FixedOffset>>,
    /// Only entries of exactly this level.
    #[param(value_type = Option<Level>)]
    level: Option<Level>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// The entries `caller` may list, narrowed by the query; `None` when the query asks for
/// someone outside a self-only scope, so that nothing can match.
fn visible(caller: &Caller, scope: Scope, p: &ListParams) -> Option<AppLogFilter> {
    let (scope, user_id) = match scope {
        Scope::Org => (UserScope::Org, p.user_id),
        Scope::Team => (UserScope::TeamOf(caller.user_id), p.user_id),
        // App logs have no `direct` grant; were one added, it is read as the narrower `self`.
        Scope::Direct | Scope::Myself => {
            if p.user_id.is_some_and(|u| u != caller.user_id) {
                return None;
            }
            (UserScope::Org, Some(caller.user_id))
        }
    };
    Some(AppLogFilter {
        scope,
        user_id,
        from: p.from.map(|t| t.with_timezone(&Utc)),
        to: p.to.map(|t| t.with_timezone(&Utc)),
        level: p.level,
    })
}

/// App-log entries the caller may read (`applogs.read:*`), in arrival order; `ip`,
/// `device.id` and `device.name` are null without `applogs.pii.read`.
#[utoipa::path(tag = "app-logs", operation_id = "list_app_logs", params(ListParams),
    responses(
        (status = 200, description = "a page of entries. Protobuf `muster.v1.AppLogPage` with `Accept: application/x-protobuf`.",
            content((List<AppLog> = "application/json"), (ProtobufMessage = "application/x-protobuf"))),
        problems::Secured, problems::Invalid, problems::Forbidden),
    security(("bearer" = [])))]
#[get("/v1/app-logs")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> ApiResult<Reply<List<AppLog>, v1::AppLogPage>> {
    let scope = caller.scope(Family::AppLogs)?;
    let page = page_request(p.limit, p.cursor.as_deref())?;
    let Some(filter) = visible(&caller, scope, &p) else {
        return Ok(Reply::ok(List::from_page(
            Page {
                items: Vec::new(),
                next: None,
            },
            |a: AppLog| a,
        )));
    };
    let Page { items, next } = state.repo.list_app_logs(caller.org_id, &filter, page).await?;
    let mut disclosures = Disclosures::new(caller.audit());
    let items = applogs::present(items, caller.has(Permission::ApplogsPiiRead), &mut disclosures);
    disclosures.write(&*state.repo).await?;
    Ok(Reply::ok(List::from_page(Page { items, next }, |a| a)))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(upload).service(list);
}
