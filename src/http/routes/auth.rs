//! `/v1/auth/*`: login, refresh-token rotation, logout.

use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Caller;
use crate::audit::{Action, AuditContext};
use crate::auth::refresh;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::Json;
use crate::http::observe::RequestId;
use crate::http::problems;
use crate::http::state::AppState;
use crate::storage::tokens::RefreshOutcome;
use crate::storage::users::{UserStatus, email_key};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    email: String,
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Refresh {
    refresh_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct Tokens {
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
    refresh_token: String,
}

/// Starts or continues a session: a fresh access token and refresh token.
async fn issue(
    state: &AppState,
    user_id: Uuid,
    org_id: Uuid,
    family: Uuid,
    refresh_token: String,
) -> ApiResult<Tokens> {
    let access_token = state.keys.issue(user_id, org_id, family).map_err(ApiError::internal)?;
    Ok(Tokens {
        access_token,
        token_type: "Bearer",
        expires_in: state.keys.ttl_s(),
        refresh_token,
    })
}

fn refresh_expiry(state: &AppState) -> chrono::DateTime<Utc> {
    Utc::now() + Duration::seconds(i64::try_from(state.settings.refresh_token_ttl_s).unwrap_or(i64::MAX / 4))
}

/// Starts a session. A wrong email and a wrong password are the same 401, in the same time.
/// Failed logins are rate limited per account and per client address (429 with
/// `Retry-After`); successful ones do not count.
#[utoipa::path(tag = "auth", operation_id = "login", request_body = Login,
    responses((status = 200, body = Tokens), problems::Public, problems::Unauthorized, problems::Body))]
#[post("/v1/auth/login")]
pub async fn login(req: HttpRequest, state: web::Data<AppState>, body: Json<Login>) -> ApiResult<HttpResponse> {
    let body = body.parse().await?;
    let account = email_key(&body.email);
    let ip = state
        .trusted_proxies
        .client_ip(&req)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    // Refuse before checking the password: a throttled guess learns nothing.
    for limit in [
        state.login_failures_by_account.check(&account),
        state.login_failures_by_ip.check(&ip),
    ] {
        limit.map_err(ApiError::rate_limited)?;
    }
    let record = state.repo.login_record(&account).await?;
    let stored = record.as_ref().and_then(|r| r.password_hash.clone());
    let password = body.password;
    let verified = state.hasher.verify(password, stored).await?;
    let context = |org_id| AuditContext {
        org_id,
        actor_id: None,
        request_id: RequestId::of(&req),
        ip: Some(ip.clone()),
    };
    let user = match record {
        Some(r) if verified && r.status == UserStatus::Active => r,
        known => {
            state.login_failures_by_account.record_failure(&account);
            state.login_failures_by_ip.record_failure(&ip);
            if let Some(r) = known {
                let mut entry = context(r.org_id).entry(Action::LoginFailed, Some(r.user_id), None);
                entry.ip = Some(ip.clone());
                state.repo.append_audit(&[entry]).await?;
            }
            return Err(ApiError::unauthorized("invalid email or password"));
        }
    };
    let family = Uuid::now_v7();
    let token = refresh::new_token();
    state
        .repo
        .start_refresh_family(
            user.org_id,
            user.user_id,
            family,
            &refresh::hash(&token),
            refresh_expiry(&state),
        )
        .await?;
    let mut entry = context(user.org_id).entry(Action::LoginSucceeded, Some(user.user_id), Some(family.to_string()));
    entry.actor_id = Some(user.user_id);
    entry.ip = Some(ip.clone());
    state.repo.append_audit(&[entry]).await?;
    Ok(HttpResponse::Ok().json(issue(&state, user.user_id, user.org_id, family, token).await?))
}

/// Rotates a refresh token into a new pair. A used, expired or revoked token is 401, and a
/// used one presented again revokes its whole family.
#[utoipa::path(tag = "auth", operation_id = "refresh", request_body = Refresh,
    responses((status = 200, body = Tokens), problems::Public, problems::Unauthorized, problems::Body))]
#[post("/v1/auth/refresh")]
pub async fn refresh_tokens(state: web::Data<AppState>, body: Json<Refresh>) -> ApiResult<HttpResponse> {
    let body = body.parse().await?;
    let refused = || ApiError::unauthorized("the refresh token is invalid, expired or revoked");
    let token = refresh::new_token();
    let outcome = state
        .repo
        .rotate_refresh(
            &refresh::hash(&body.refresh_token),
            &refresh::hash(&token),
            refresh_expiry(&state),
        )
        .await?;
    let RefreshOutcome::Rotated {
        user_id,
        org_id,
        family_id,
    } = outcome
    else {
        if outcome == RefreshOutcome::Reused {
            tracing::warn!("a used refresh token was presented again; its family is revoked");
        }
        return Err(refused());
    };
    // A disabled user keeps no session, whatever tokens they hold.
    let principal = state
        .repo
        .principal(user_id, family_id)
        .await?
        .filter(|p| p.status == UserStatus::Active);
    if principal.is_none() {
        state.repo.revoke_family(family_id).await?;
        return Err(refused());
    }
    Ok(HttpResponse::Ok().json(issue(&state, user_id, org_id, family_id, token).await?))
}

/// Ends the session of the bearer token: its refresh family and its access tokens.
#[utoipa::path(tag = "auth", operation_id = "logout",
    responses((status = 204, description = "the session has ended"), problems::Secured), security(("bearer" = [])))]
#[post("/v1/auth/logout")]
pub async fn logout(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    // Ends the session: its refresh tokens and, because every request checks the session,
    // its access tokens too.
    state.repo.revoke_family(caller.session).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(login).service(refresh_tokens).service(logout);
}
