//! Privacy rights: export (`GET /v1/me/export`, `GET /v1/users/{id}/export`) and erasure
//! (`POST /v1/users/{id}/erase`); the last two need `privacy.manage`.

use actix_web::{HttpResponse, get, post, web};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Caller;
use crate::access::Permission;
use crate::audit::{Action, Disclosures};
use crate::http::error::{ApiError, ApiResult};
use crate::http::problems;
use crate::http::state::AppState;
use crate::privacy;

#[derive(Serialize, ToSchema)]
pub struct Erased {
    user_id: Uuid,
    /// Always `erased`: locations, device data, notes, app logs and photos are gone; the
    /// attendance skeleton (dates, kinds, statuses) stays so that reports still add up.
    status: &'static str,
}

/// Erases a user's personal data (`privacy.manage`): photos, locations, device data, notes
/// and app logs; the attendance skeleton stays.
#[utoipa::path(tag = "privacy", operation_id = "erase_user",
    responses((status = 202, body = Erased), problems::Secured, problems::Forbidden, problems::NotFound),
    security(("bearer" = [])))]
#[post("/v1/users/{id}/erase")]
pub async fn erase(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    caller.require(Permission::PrivacyManage)?;
    let audit = caller
        .audit()
        .entry(Action::DataErased, Some(*id), Some(id.to_string()));
    let found = privacy::erase(
        state.repo.as_ref(),
        state.photos.as_ref(),
        caller.org_id,
        *id,
        &audit,
        state.settings.retention_batch_size,
    )
    .await?;
    if !found {
        return Err(ApiError::not_found());
    }
    Ok(HttpResponse::Accepted().json(Erased {
        user_id: *id,
        status: "erased",
    }))
}

/// Starts the streamed export of `subject`, audited before the first byte leaves.
async fn export(state: web::Data<AppState>, caller: &Caller, subject_id: Uuid) -> ApiResult<HttpResponse> {
    let subject = state
        .repo
        .get_user(caller.org_id, subject_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let mut audit = vec![
        caller
            .audit()
            .entry(Action::DataExported, Some(subject.id), Some(subject.id.to_string())),
    ];
    // Someone else's export shows their locations and app-log PII in full: the subject
    // finds that among their disclosures too (`GET /v1/me/disclosures`), not only in the
    // trail. Photo links are not the photos, which are audited where they are served.
    let mut disclosures = Disclosures::new(caller.audit());
    let object = Some(format!("export:{}", subject.id));
    disclosures.record(Action::LocationDisclosed, subject.id, object.clone());
    disclosures.record(Action::AppLogPiiDisclosed, subject.id, object);
    audit.extend(disclosures.take_entries());
    state.repo.append_audit(&audit).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "private, no-store"))
        .streaming(privacy::export::stream(state.repo.clone(), subject)))
}

#[utoipa::path(tag = "privacy", operation_id = "export_me",
    responses((status = 200, description = "everything held about the caller: `{exported_at, profile, events, photos, app_logs, disclosures}`, streamed",
        body = Object), problems::Secured),
    security(("bearer" = [])))]
#[get("/v1/me/export")]
pub async fn export_me(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    let me = caller.user_id;
    export(state, &caller, me).await
}

#[utoipa::path(tag = "privacy", operation_id = "export_user",
    responses((status = 200, description = "the same document as `/v1/me/export`, for another user", body = Object),
        problems::Secured, problems::Forbidden, problems::NotFound),
    security(("bearer" = [])))]
#[get("/v1/users/{id}/export")]
pub async fn export_user(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    caller.require(Permission::PrivacyManage)?;
    export(state, &caller, *id).await
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(erase).service(export_me).service(export_user);
}
