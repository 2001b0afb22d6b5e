//! HTTP routes, one module per API area: each parses and authorises, then calls the domain.

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
pub mod sites;
pub mod users;

use actix_web::{HttpResponse, get, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Registers every API route (not `/metrics`, which `startup` places).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(ops::healthz).service(ops::readyz).service(openapi_document);
    cfg.configure(auth::configure)
        .configure(me::configure)
        .configure(org::configure)
        .configure(users::configure)
        .configure(audit::configure)
        .configure(sites::configure)
        .configure(geofences::configure)
        .configure(attendance::configure)
        .configure(photos::configure)
        .configure(privacy::configure)
        .configure(reports::configure)
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
    ),
    components(schemas(crate::http::error::Problem, crate::http::error::Code, crate::field::FieldError)),
    components(schemas(crate::applogs::Upload, crate::applogs::UploadEntry, crate::storage::applogs::Device, crate::storage::applogs::Level,
        crate::applogs::Accepted, crate::storage::applogs::AppLog)),
    modifiers(&BearerAuth),
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

#[utoipa::path(get, path = "/openapi.json", tag = "operations", operation_id = "openapi",
    responses((status = 200, description = "this API as OpenAPI 3.1")))]
#[get("/openapi.json")]
pub async fn openapi_document() -> HttpResponse {
    HttpResponse::Ok().json(openapi())
}
