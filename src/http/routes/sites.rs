//! `/v1/sites`: places where people work, each with a time zone.

use actix_web::{HttpResponse, get, patch, post, web};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Caller;
use crate::access::Permission;
use crate::audit::Action;
use crate::field::FieldError;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Json, Query};
use crate::http::page::{List, page_request};
use crate::http::problems;
use crate::http::state::AppState;
use crate::org::is_valid_timezone;
use crate::storage::sites::{NewSite, Site, SitePatch};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSite {
    name: String,
    /// IANA time zone name.
    timezone: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeSite {
    name: Option<String>,
    timezone: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    limit: Option<u32>,
    cursor: Option<String>,
}

fn check(name: Option<&str>, timezone: Option<&str>) -> ApiResult<()> {
    let mut errors = Vec::new();
    if name.is_some_and(|n| n.trim().is_empty() || n.chars().count() > 200 || n.chars().any(char::is_control)) {
        errors.push(FieldError::new("name", "must be 1 to 200 printable characters"));
    }
    if timezone.is_some_and(|tz| !is_valid_timezone(tz)) {
        errors.push(FieldError::new("timezone", "is not an IANA time zone name"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(errors))
    }
}

/// Creates a site (`geofences.manage`).
#[utoipa::path(tag = "geofences", operation_id = "create_site", request_body = CreateSite,
    responses(
        (status = 201, body = Site, links(
            ("get_site" = (operation_id = "get_site", parameters(("id" = "$response.body#/id")))),
            ("change_site" = (operation_id = "change_site", parameters(("id" = "$response.body#/id")))))),
        problems::Secured, problems::Body, problems::Forbidden),
    security(("bearer" = [])))]
#[post("/v1/sites")]
pub async fn create(state: web::Data<AppState>, caller: Caller, body: Json<CreateSite>) -> ApiResult<HttpResponse> {
    caller.require(Permission::GeofencesManage)?;
    let body = body.parse().await?;
    check(Some(&body.name), Some(&body.timezone))?;
    let site = NewSite {
        id: Uuid::now_v7(),
        name: body.name.trim().to_owned(),
        timezone: body.timezone,
    };
    let audit = caller
        .audit()
        .entry(Action::SiteCreated, None, Some(site.id.to_string()));
    Ok(HttpResponse::Created().json(state.repo.create_site(caller.org_id, &site, &audit).await?))
}

/// The organisation's sites (`geofences.read`).
#[utoipa::path(tag = "geofences", operation_id = "list_sites", params(ListParams),
    responses((status = 200, body = List<Site>), problems::Secured, problems::Invalid, problems::Forbidden),
    security(("bearer" = [])))]
#[get("/v1/sites")]
pub async fn list(state: web::Data<AppState>, caller: Caller, Query(p): Query<ListParams>) -> ApiResult<HttpResponse> {
    caller.require(Permission::GeofencesRead)?;
    let page = state
        .repo
        .list_sites(caller.org_id, page_request(p.limit, p.cursor.as_deref())?)
        .await?;
    Ok(HttpResponse::Ok().json(List::from_page(page, |s| s)))
}

/// A site (`geofences.read`).
#[utoipa::path(tag = "geofences", operation_id = "get_site",
    responses((status = 200, body = Site), problems::Secured, problems::Forbidden, problems::NotFound),
    security(("bearer" = [])))]
#[get("/v1/sites/{id}")]
pub async fn get(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    caller.require(Permission::GeofencesRead)?;
    let site = state
        .repo
        .get_site(caller.org_id, *id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(site))
}

/// Renames a site or changes its time zone (`geofences.manage`).
#[utoipa::path(tag = "geofences", operation_id = "change_site", request_body = ChangeSite,
    responses((status = 200, body = Site), problems::Secured, problems::Body, problems::Forbidden, problems::NotFound),
    security(("bearer" = [])))]
#[patch("/v1/sites/{id}")]
pub async fn change(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: Json<ChangeSite>,
) -> ApiResult<HttpResponse> {
    caller.require(Permission::GeofencesManage)?;
    let body = body.parse().await?;
    check(body.name.as_deref(), body.timezone.as_deref())?;
    let patch = SitePatch {
        name: body.name.map(|n| n.trim().to_owned()),
        timezone: body.timezone,
    };
    let audit = caller.audit().entry(Action::SiteUpdated, None, Some(id.to_string()));
    let site = state
        .repo
        .update_site(caller.org_id, *id, &patch, &audit)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(site))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create).service(list).service(get).service(change);
}
