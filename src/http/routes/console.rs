//! `/console/`: the web console for org admins and managers (sign-in, geofence editor, test
//! a point, team day), a page of plain ES modules that talks to this API like any client.
//!
//! Every answer under `/console` carries the console's security headers, errors included:
//! a Content-Security-Policy that allows scripts, styles and requests from this origin only
//! and images from it and the configured tile server, no framing, no MIME sniffing. The page
//! keeps its tokens in memory; nothing here sets a cookie.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde_json::json;

use crate::config::{OFF, Settings};
use crate::http::console_assets::{Asset, assets};
use crate::http::error::ApiError;
use crate::http::state::AppState;

/// Versioned files never change under their URL.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The page and its settings are checked with the server on every load (a 304 when unchanged),
/// so a new binary's console is picked up at the next reload.
const REVALIDATE: &str = "no-cache";

/// The policy of every console answer; `img-src` gains the tile server's origin.
fn content_security_policy(settings: &Settings) -> String {
    let tiles = settings
        .console_tiles()
        .ok()
        .flatten()
        .map(|t| format!(" {}", t.origin))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'{tiles}; \
         connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    )
}

/// Adds the console's security headers to an answer.
fn secured(mut response: HttpResponse, settings: &Settings) -> HttpResponse {
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(settings)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // For browsers that predate `frame-ancestors`.
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Tile servers (OpenStreetMap's among them) ask for the site's origin as a referrer;
    // never more than the origin leaves, and the page's URLs hold no token anyway.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    headers.insert(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    );
    response
}

fn not_found(settings: &Settings) -> HttpResponse {
    secured(ApiError::not_found().error_response(), settings)
}

/// Whether the client's cached copy (`If-None-Match`) is this one.
fn still_fresh(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

fn serve(req: &HttpRequest, settings: &Settings, asset: &Asset, cache_control: &'static str) -> HttpResponse {
    let fresh = still_fresh(req, &asset.etag);
    let mut answer = HttpResponse::build(if fresh {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    });
    answer
        .insert_header((header::ETAG, asset.etag.as_str()))
        .insert_header((header::CACHE_CONTROL, cache_control));
    let response = if fresh {
        answer.finish()
    } else {
        answer.content_type(asset.content_type).body(asset.body.clone())
    };
    secured(response, settings)
}

/// `/console` → `/console/`: the page's relative URLs need the trailing slash.
async fn redirect(state: web::Data<AppState>) -> HttpResponse {
    if !state.settings.console_enabled {
        return not_found(&state.settings);
    }
    let response = HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "console/"))
        .finish();
    secured(response, &state.settings)
}

async fn index(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if !state.settings.console_enabled {
        return not_found(&state.settings);
    }
    serve(&req, &state.settings, &assets().index, REVALIDATE)
}

/// The page's settings: the map's tile source (`null` when tiles are off).
async fn config(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let settings = &state.settings;
    if !settings.console_enabled {
        return not_found(settings);
    }
    let tiles = settings.console_tiles().ok().flatten().map(|t| {
        let link = &settings.console_tile_attribution_url;
        json!({
            "url": t.url,
            "attribution": settings.console_tile_attribution,
            "attribution_url": (link != OFF).then_some(link),
            "max_zoom": settings.console_tile_max_zoom,
        })
    });
    let body = json!({ "tiles": tiles }).to_string().into_bytes();
    let asset = Asset::new("config.json", body);
    serve(&req, settings, &asset, REVALIDATE)
}

async fn file(state: web::Data<AppState>, req: HttpRequest, path: web::Path<(String, String)>) -> HttpResponse {
    let (version, path) = path.into_inner();
    let assets = assets();
    match assets.file(&path) {
        // An old page asking for files of another build gets no mixture of the two.
        Some(asset) if state.settings.console_enabled && version == assets.version => {
            serve(&req, &state.settings, asset, IMMUTABLE)
        }
        _ => not_found(&state.settings),
    }
}

async fn unknown(state: web::Data<AppState>) -> HttpResponse {
    not_found(&state.settings)
}

/// A console resource answering GET, and HEAD with the same headers and no body; any other
/// method gets the console's 404.
fn readable<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    use actix_web::guard::{Any, Get, Head};
    web::resource(path)
        .route(web::route().guard(Any(Get()).or(Head())).to(handler))
        .default_service(web::to(unknown))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(readable("/console", redirect))
        .service(readable("/console/", index))
        .service(readable("/console/config.json", config))
        .service(readable("/console/static/{version}/{path:.*}", file))
        // Anything else below /console is a 404 with the console's headers.
        .service(web::resource("/console/{rest:.*}").to(unknown));
}
