//! The `Caller` extractor: the authenticated user of a request, with the permissions the
//! database grants them *now*.
//!
//! The token proves identity only. Status, organisation, manager and permissions are read
//! fresh on every request, so disabling a user, changing a role or ending a session applies
//! to the very next request. Every failure is the same 401: the client learns nothing about
//! why a token was refused.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use super::bearer::bearer;
use crate::access::Caller;
use crate::http::error::ApiError;
use crate::http::observe::RequestId;
use crate::http::state::AppState;
use crate::storage::users::UserStatus;

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        let request_id = RequestId::of(req);
        let ip = state
            .as_ref()
            .and_then(|s| s.trusted_proxies.client_ip(req))
            .map(|ip| ip.to_string());
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))?;
            let refused = || ApiError::unauthorized("a valid bearer token is required");
            let claims = token
                .as_deref()
                .and_then(|t| state.keys.verify(t))
                .ok_or_else(refused)?;
            let principal = state
                .repo
                .principal(claims.sub, claims.sid)
                .await?
                .ok_or_else(refused)?;
            if principal.status != UserStatus::Active || principal.org_id != claims.org {
                return Err(refused());
            }
            Ok(Caller {
                user_id: principal.user_id,
                org_id: principal.org_id,
                manager_id: principal.manager_id,
                permissions: principal.permissions,
                session: claims.sid,
                request_id,
                ip,
            })
        })
    }
}
