//! HTTP routes, one module per API area: each parses and authorises, then calls the domain.
//!
//! # Documenting a route
//! The OpenAPI document (`GET /openapi.json`) is generated from the handlers, so a route is
//! documented where it is written. `tests/api/contract.rs` fails on a route that breaks
//! these rules; `.ci/contract` then fuzzes the served document against the server.
//!
//! ```ignore
//! /// Creates a site. (The doc comment is the operation's description: say here what a
//! /// status means for this operation, e.g. which field a 422 names.)
//! #[utoipa::path(tag = "geofences", operation_id = "create_site", request_body = CreateSite,
//!     responses(
//!         (status = 201, body = Site, links(("get_site" = (operation_id = "get_site",
//!             parameters(("id" = "$response.body#/id")))))),
//!         problems::Secured, problems::Body, problems::Forbidden),
//!     security(("bearer" = [])))]
//! #[post("/v1/sites")]
//! pub async fn create(state: web::Data<AppState>, caller: Caller, body: Json<CreateSite>) -> ApiResult<HttpResponse> {
//! ```
//!
//! - No `path` or method in `utoipa::path`: both come from the actix attribute below it,
//!   and every `web::Path` argument becomes a path parameter of its type.
//! - A unique, explicit `operation_id` (`verb_noun`): client generators name functions
//!   after it, and links point at it.
//! - Query parameters: a `#[derive(Deserialize, IntoParams)]` struct with
//!   `#[into_params(parameter_in = Query)]`, listed in `params(...)`.
//! - Bodies: the `ToSchema` type the handler parses; a route that also speaks protobuf
//!   lists `(T = "application/json"), (Protobuf = "application/x-protobuf")` (`wire::Protobuf`).
//! - Success answers as tuples; error answers only as the sets of `http::problems`
//!   (`Secured` with `security(("bearer" = []))` whenever the handler takes a `Caller`;
//!   `Body` when it reads a body; `Invalid` for a query or other 422; `Forbidden`,
//!   `NotFound`, `Conflict` where they apply). Never an error tuple of your own.
//! - A 201 that creates something links to the operations on it (`links(...)`), which
//!   the stateful phase of the contract test follows.
//! - Add the handler to `ApiDoc`'s `paths(...)` below.

pub mod applogs;
pub mod attendance;
pub mod audit;
pub mod auth;
pub mod console;
pub mod geofences;
pub mod me;
pub mod ops;
pub mod org;
pub mod photos;
pub mod privacy;
pub mod reports;
pub mod requests;
pub mod schedule;
pub mod shifts;
pub mod sites;
pub mod users;

use actix_web::{HttpResponse, get, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::openapi::ReasonPhrases;
use crate::http::problems::{self, ProblemComponents};

/// Registers every API route (not `/metrics`, which `startup` places).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(ops::healthz).service(ops::readyz).service(openapi_document);
    // actix tries routes in registration order, and every route with a path parameter is a
    // regex match: check-ins, the hottest requests by far, come first so that they are
    // routed without trying the forty-odd patterns of the rest (3 % of a check-in's CPU in
    // `perf`). No pattern of theirs overlaps another module's.
    cfg.configure(attendance::configure)
        .configure(auth::configure)
        .configure(me::configure)
        .configure(org::configure)
        .configure(users::configure)
        .configure(audit::configure)
        .configure(sites::configure)
        .configure(geofences::configure)
        .configure(requests::configure)
        .configure(shifts::configure)
        .configure(photos::configure)
        .configure(privacy::configure)
        .configure(reports::configure)
        .configure(schedule::configure)
        .configure(applogs::configure)
        .configure(console::configure);
}

#[derive(OpenApi)]
#[openapi(
    info(title = "muster", description = "HRMS attendance backend: geofenced check-ins, private locations and photos."),
    paths(
        ops::healthz, ops::readyz, ops::metrics, openapi_document,
        auth::login, auth::refresh_tokens, auth::logout,
        me::me,
        org::get_org, org::change_org, org::get_policy, org::put_policy, org::list_roles, org::put_role,
        users::create, users::list, users::get, users::change, users::disable,
        audit::list, audit::my_disclosures,
        sites::create, sites::list, sites::get, sites::change,
        geofences::create, geofences::import, geofences::list, geofences::get, geofences::versions, geofences::replace,
        geofences::retire, geofences::test, geofences::simulate,
        attendance::record, attendance::batch, attendance::list, attendance::get,
        photos::upload, photos::presign, photos::event_photo,
        privacy::erase, privacy::export_me, privacy::export_user,
        applogs::upload, applogs::list,
        reports::attendance,
        requests::create, requests::list, requests::get_one, requests::photo, requests::approve, requests::reject,
        requests::cancel_one,
        shifts::create_shift, shifts::list_shifts, shifts::get_shift, shifts::update_shift, shifts::retire_shift,
        shifts::create_assignment, shifts::list_assignments, shifts::end_assignment,
        shifts::create_holiday, shifts::list_holidays, shifts::delete_holiday,
        schedule::user,
    ),
    components(schemas(crate::http::error::Problem, crate::http::error::Code, crate::field::FieldError)),
    components(schemas(crate::applogs::Upload, crate::applogs::UploadEntry, crate::storage::applogs::Device, crate::storage::applogs::Level,
        crate::applogs::Accepted, crate::storage::applogs::AppLog)),
    modifiers(&BearerAuth, &ProblemComponents, &ReasonPhrases),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI 3.1 document of this server.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[utoipa::path(tag = "operations", operation_id = "openapi",
    responses((status = 200, description = "this API as OpenAPI 3.1", body = Object), problems::RateLimited))]
#[get("/openapi.json")]
pub async fn openapi_document() -> HttpResponse {
    HttpResponse::Ok().json(openapi())
}
