//! Operations endpoints: liveness, readiness, Prometheus metrics. None needs a token, and
//! none is rate limited (`http::middleware`), so their documents list no error sets.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::{ApiError, Code, Problem};
use crate::http::problems::PROBLEM_JSON;
use crate::http::state::AppState;
use crate::telemetry;

#[derive(Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Ok,
    Unavailable,
}

/// The process is up.
#[derive(Serialize, ToSchema)]
pub struct Liveness {
    /// Always `ok`.
    status: Health,
}

/// Everything the server needs is reachable.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// Always `ok`.
    status: Health,
    database: Health,
    photo_store: Health,
}

/// Not ready: a problem document (`code: unavailable`) that also says which dependency is down.
#[derive(Serialize, ToSchema)]
pub struct NotReady {
    #[serde(flatten)]
    problem: Problem,
    database: Health,
    photo_store: Health,
}

#[utoipa::path(tag = "operations", operation_id = "healthz",
    responses((status = 200, description = "the process is up", body = Liveness)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Liveness { status: Health::Ok })
}

#[utoipa::path(tag = "operations", operation_id = "readyz",
    responses((status = 200, description = "database and photo store reachable", body = Readiness),
        (status = 503, description = "a dependency is down", body = NotReady, content_type = "application/problem+json")))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = match state.repo.ping().await {
        Ok(()) => Health::Ok,
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            Health::Unavailable
        }
    };
    let photo_store = match state.photos.health().await {
        Ok(()) => Health::Ok,
        Err(e) => {
            tracing::warn!(error = %e, "readiness: photo store unreachable");
            Health::Unavailable
        }
    };
    if database == Health::Ok && photo_store == Health::Ok {
        return HttpResponse::Ok().json(Readiness {
            status: Health::Ok,
            database,
            photo_store,
        });
    }
    let down: Vec<&str> = [("database", database), ("photo store", photo_store)]
        .into_iter()
        .filter(|(_, health)| *health != Health::Ok)
        .map(|(name, _)| name)
        .collect();
    let problem = ApiError::new(
        Code::Unavailable,
        format!("not ready: {} unavailable", down.join(" and ")),
    )
    .problem();
    HttpResponse::ServiceUnavailable()
        .content_type(PROBLEM_JSON)
        .json(NotReady {
            problem,
            database,
            photo_store,
        })
}

#[utoipa::path(tag = "operations", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    telemetry::sample_gauges(state.repo.pool_stats());
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
