//! The rate-limit middleware: every request but the probes' passes [`RateLimits`] before it
//! reaches a route; over a limit the answer is 429 with `Retry-After`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};

use super::bearer::bearer;
use super::error::ApiError;
use super::state::AppState;

/// Paths that are never limited: probes and scrapers must not be refused because someone
/// else is flooding.
pub const EXEMPT: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if !EXEMPT.contains(&req.path())
        && let Some(state) = req.app_data::<web::Data<AppState>>()
        && let Err((limit, retry_after_s)) =
            state
                .rate_limits
                .check(state.trusted_proxies.client_ip(req.request()), || {
                    bearer(req.request())
                        .and_then(|token| state.keys.verify(&token))
                        .map(|claims| claims.sub)
                })
    {
        metrics::counter!("muster_rate_limited_total", "limit" => limit).increment(1);
        let answer = ApiError::rate_limited(retry_after_s).error_response();
        return Ok(req.into_response(answer).map_into_right_body());
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}
