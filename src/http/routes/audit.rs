//! `GET /v1/audit` (`audit.read`) and `GET /v1/me/disclosures` (the subject's own view of
//! who saw their location, photo or app-log PII).

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::access::Caller;
use crate::access::Permission;
use crate::audit::Action;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::Query;
use crate::http::page::{List, page_request};
use crate::http::problems;
use crate::http::state::AppState;
use crate::storage::audit::{AuditEntry, AuditFilter};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    actor_id: Option<Uuid>,
    subject_id: Option<Uuid>,
    /// An action name such as `location.disclosed`.
    action: Option<String>,
    from: Option<DateTime<FixedOffset>>,
    to: Option<DateTime<FixedOffset>>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// The audit trail of the organisation (`audit.read`), newest first. An unknown `action`
/// is 422.
#[utoipa::path(tag = "audit", operation_id = "list_audit", params(AuditParams),
    responses((status = 200, body = List<AuditEntry>), problems::Secured, problems::Invalid, problems::Forbidden),
    security(("bearer" = [])))]
#[get("/v1/audit")]
pub async fn list(state: web::Data<AppState>, caller: Caller, Query(p): Query<AuditParams>) -> ApiResult<HttpResponse> {
    caller.require(Permission::AuditRead)?;
    let actions = match p.action {
        Some(a) if Action::parse(&a).is_none() => {
            return Err(ApiError::field("action", format!("unknown action {a:?}")));
        }
        Some(a) => vec![a],
        None => Vec::new(),
    };
    let filter = AuditFilter {
        actor_id: p.actor_id,
        subject_id: p.subject_id,
        actions,
        from: p.from.map(|t| t.with_timezone(&Utc)),
        to: p.to.map(|t| t.with_timezone(&Utc)),
    };
    let page = state
        .repo
        .list_audit(caller.org_id, &filter, page_request(p.limit, p.cursor.as_deref())?)
        .await?;
    Ok(HttpResponse::Ok().json(List::from_page(page, |e| e)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DisclosureParams {
    from: Option<DateTime<FixedOffset>>,
    to: Option<DateTime<FixedOffset>>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// Who saw the caller's location, photo or app-log PII, and when (without their address).
#[utoipa::path(tag = "audit", operation_id = "list_my_disclosures", params(DisclosureParams),
    responses((status = 200, body = List<AuditEntry>), problems::Secured, problems::Invalid), security(("bearer" = [])))]
#[get("/v1/me/disclosures")]
pub async fn my_disclosures(
    state: web::Data<AppState>,
    caller: Caller,
    Query(p): Query<DisclosureParams>,
) -> ApiResult<HttpResponse> {
    let filter = AuditFilter {
        actor_id: None,
        subject_id: Some(caller.user_id),
        actions: Action::ALL
            .iter()
            .filter(|a| a.is_disclosure())
            .map(|a| a.as_str().to_owned())
            .collect(),
        from: p.from.map(|t| t.with_timezone(&Utc)),
        to: p.to.map(|t| t.with_timezone(&Utc)),
    };
    let page = state
        .repo
        .list_audit(caller.org_id, &filter, page_request(p.limit, p.cursor.as_deref())?)
        .await?;
    // The subject learns who looked and when, not the looker's address.
    Ok(HttpResponse::Ok().json(List::from_page(page, |e| AuditEntry { ip: None, ..e })))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(my_disclosures);
}
