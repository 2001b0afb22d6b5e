//! Privacy rights: `POST /v1/users/{id}/erase` (`privacy.manage`).

use actix_web::{HttpResponse, post, web};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Permission;
use crate::audit::Action;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::privacy;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Erased {
    user_id: Uuid,
    /// Always `erased`: locations, device data, notes, app logs and photos are gone; the
    /// attendance skeleton (dates, kinds, statuses) stays so that reports still add up.
    status: &'static str,
}

#[utoipa::path(post, path = "/v1/users/{id}/erase", tag = "privacy",
    responses((status = 202, body = Erased), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)),
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

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(erase);
}
