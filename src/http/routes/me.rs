//! `GET /v1/me`: the caller and what they may do.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::problems;
use crate::http::state::AppState;
use crate::storage::users::User;

#[derive(Serialize, ToSchema)]
pub struct Me {
    #[serde(flatten)]
    user: User,
    /// Effective permissions: the union of the caller's roles' grants, as of this request.
    permissions: Vec<&'static str>,
}

#[utoipa::path(tag = "users", operation_id = "get_me", responses((status = 200, body = Me), problems::Secured),
    security(("bearer" = [])))]
#[get("/v1/me")]
pub async fn me(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    let user = state
        .repo
        .get_user(caller.org_id, caller.user_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(Me {
        user,
        permissions: caller.permissions.names(),
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(me);
}
