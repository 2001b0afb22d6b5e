//! Operations endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document.

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::http::state::AppState;
use crate::telemetry;

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "the process is up")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "database and photo store reachable"), (status = 503, description = "a dependency is down")))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = match state.repo.ping().await {
        Ok(()) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            "unavailable"
        }
    };
    let photo_store = match state.photos.health().await {
        Ok(()) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, "readiness: photo store unreachable");
            "unavailable"
        }
    };
    let ready = database == "ok" && photo_store == "ok";
    let body = json!({
        "status": if ready { "ok" } else { "unavailable" },
        "database": database,
        "photo_store": photo_store,
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    telemetry::sample_gauges(state.repo.pool_stats());
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
