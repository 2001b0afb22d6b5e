//! `/v1/geofences`: draw, import, version, retire, test and simulate geofences.

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Caller;
use crate::access::Permission;
use crate::attendance::location_reasons;
use crate::audit::Action;
use crate::field::FieldError;
use crate::geofence::{Fence, FenceIndex, FenceShape, LatLon, parse_geometry};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Json, Query};
use crate::http::page::{List, page_request};
use crate::http::problems;
use crate::http::state::AppState;
use crate::storage::events::Decision;
use crate::storage::sites::{FenceChange, FenceVersion, FenceWriteError, NewFence, StoredFence};

const MAX_NAME: usize = 200;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFence {
    site_id: Uuid,
    name: String,
    /// GeoJSON `Polygon` or `MultiPolygon` (holes allowed), or
    /// `{"type": "Circle", "center": [lon, lat], "radius_m": 150}`.
    #[schema(value_type = Object)]
    geometry: serde_json::Value,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceFence {
    name: Option<String>,
    #[schema(value_type = Option<Object>)]
    geometry: Option<serde_json::Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestLocation {
    lat: f64,
    lon: f64,
    accuracy_m: Option<f64>,
    /// Judge against this user's sites (naming another user needs `geofences.manage`).
    user_id: Option<Uuid>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Simulate {
    #[schema(value_type = Object)]
    geometry: serde_json::Value,
    from: DateTime<FixedOffset>,
    to: DateTime<FixedOffset>,
}

#[derive(Serialize, ToSchema)]
pub struct SimulationResult {
    /// Past events of the fence's site (with a location) judged in the window.
    events_considered: usize,
    /// How many of them would get another verdict under the new geometry.
    changed: usize,
    changed_event_ids: Vec<Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct FenceVersions {
    items: Vec<FenceVersion>,
}

#[derive(Serialize, ToSchema)]
pub struct ImportResult {
    items: Vec<StoredFence>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    site_id: Option<Uuid>,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    site_id: Uuid,
}

fn field_errors(prefix: &str, errors: Vec<FieldError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| FieldError::new(format!("{prefix}{}", e.field), e.message))
        .collect()
}

fn check_name(errors: &mut Vec<FieldError>, field: &str, name: &str) {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            format!("must be 1 to {MAX_NAME} printable characters"),
        ));
    }
}

/// Validates a geometry; `prefix` places its errors (`features[2].`).
fn shape(
    state: &AppState,
    prefix: &str,
    geometry: &serde_json::Value,
    errors: &mut Vec<FieldError>,
) -> Option<FenceShape> {
    match parse_geometry(geometry, &state.settings.geometry_limits()) {
        Ok(shape) => Some(shape),
        Err(e) => {
            errors.extend(field_errors(prefix, e));
            None
        }
    }
}

fn write_refused(e: FenceWriteError, field: impl Fn(usize) -> String) -> ApiError {
    match e {
        FenceWriteError::UnknownSite { index } => {
            ApiError::field(field(index), "does not name a site of this organisation")
        }
    }
}

/// Draws a geofence on a site (`geofences.manage`). An invalid geometry is 422 with a
/// precise `errors[]` (`geometry.coordinates[0][3]`: self-intersection, unclosed ring, ...);
/// a site of another organisation is 422 on `site_id`.
#[utoipa::path(tag = "geofences", operation_id = "create_geofence", request_body = CreateFence,
    responses((status = 201, body = StoredFence, links(
            ("get_geofence" = (operation_id = "get_geofence", parameters(("id" = "$response.body#/id")))),
            ("list_geofence_versions" = (operation_id = "list_geofence_versions", parameters(("id" = "$response.body#/id")))),
            ("replace_geofence" = (operation_id = "replace_geofence", parameters(("id" = "$response.body#/id")))),
            ("simulate_geofence" = (operation_id = "simulate_geofence", parameters(("id" = "$response.body#/id")))),
            ("retire_geofence" = (operation_id = "retire_geofence", parameters(("id" = "$response.body#/id")))))),
        problems::Secured, problems::Body, problems::Forbidden),
    security(("bearer" = [])))]
#[post("/v1/geofences")]
pub async fn create(state: web::Data<AppState>, caller: Caller, body: Json<CreateFence>) -> ApiResult<HttpResponse> {
    caller.require(Permission::GeofencesManage)?;
    let body = body.parse().await?;
    let mut errors = Vec::new();
    check_name(&mut errors, "name", &body.name);
    let shape = shape(&state, "", &body.geometry, &mut errors);
    let Some(shape) = shape.filter(|_| errors.is_empty()) else {
        return Err(ApiError::invalid(errors));
    };
    let fence = NewFence {
        id: Uuid::now_v7(),
        site_id: body.site_id,
        name: body.name.trim().to_owned(),
        geometry: shape.to_geojson(),
        area_m2: shape.area_m2(),
    };
    let audit = [caller
        .audit()
        .entry(Action::GeofenceCreated, None, Some(fence.id.to_string()))];
    let mut created = state
        .repo
        .create_fences(caller.org_id, &[fence], &audit)
        .await?
        .map_err(|e| write_refused(e, |_| "site_id".into()))?;
    state.fences.invalidate(caller.org_id);
    let fence = created
        .pop()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("created fence missing")))?;
    Ok(HttpResponse::Created().json(fence))
}

/// Imports a GeoJSON `FeatureCollection` as fences of one site (`geofences.manage`), all or
/// nothing; errors name the feature (`features[2].geometry...`). More than
/// `MUSTER_GEOFENCE_IMPORT_MAX_FEATURES` features is 422 on `features`.
#[utoipa::path(tag = "geofences", operation_id = "import_geofences", params(ImportParams),
    request_body(content = Object, description = "a GeoJSON FeatureCollection; each feature's `properties.name` names its fence"),
    responses((status = 201, body = ImportResult), problems::Secured, problems::Body, problems::Forbidden),
    security(("bearer" = [])))]
#[post("/v1/geofences:import")]
pub async fn import(
    state: web::Data<AppState>,
    caller: Caller,
    Query(p): Query<ImportParams>,
    body: Json<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    caller.require(Permission::GeofencesManage)?;
    let body = body.parse().await?;
    if body.get("type").and_then(|t| t.as_str()) != Some("FeatureCollection") {
        return Err(ApiError::field("type", "must be \"FeatureCollection\""));
    }
    let features = body
        .get("features")
        .and_then(|f| f.as_array())
        .ok_or_else(|| ApiError::field("features", "must be an array of features"))?;
    let max = state.settings.geofence_import_max_features;
    if features.is_empty() || features.len() > max {
        return Err(ApiError::field("features", format!("must hold 1 to {max} features")));
    }
    let mut errors = Vec::new();
    let mut fences = Vec::with_capacity(features.len());
    for (i, feature) in features.iter().enumerate() {
        let at = format!("features[{i}].");
        if feature.get("type").and_then(|t| t.as_str()) != Some("Feature") {
            errors.push(FieldError::new(format!("{at}type"), "must be \"Feature\""));
            continue;
        }
        let name = feature
            .pointer("/properties/name")
            .and_then(|n| n.as_str())
            .unwrap_or("");
        check_name(&mut errors, &format!("{at}properties.name"), name);
        let geometry = feature.get("geometry").cloned().unwrap_or(serde_json::Value::Null);
        if let Some(shape) = shape(&state, &at, &geometry, &mut errors) {
            fences.push(NewFence {
                id: Uuid::now_v7(),
                site_id: p.site_id,
                name: name.trim().to_owned(),
                geometry: shape.to_geojson(),
                area_m2: shape.area_m2(),
            });
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let audit: Vec<_> = fences
        .iter()
        .map(|f| {
            caller
                .audit()
                .entry(Action::GeofenceCreated, None, Some(f.id.to_string()))
        })
        .collect();
    let items = state
        .repo
        .create_fences(caller.org_id, &fences, &audit)
        .await?
        .map_err(|e| write_refused(e, |_| "site_id".into()))?;
    state.fences.invalidate(caller.org_id);
    Ok(HttpResponse::Created().json(ImportResult { items }))
}

/// The organisation's geofences, retired ones too (`geofences.read`).
#[utoipa::path(tag = "geofences", operation_id = "list_geofences", params(ListParams),
    responses((status = 200, body = List<StoredFence>), problems::Secured, problems::Invalid, problems::Forbidden),
    security(("bearer" = [])))]
#[get("/v1/geofences")]
pub async fn list(state: web::Data<AppState>, caller: Caller, Query(p): Query<ListParams>) -> ApiResult<HttpResponse> {
    caller.require(Permission::GeofencesRead)?;
    let page = state
        .repo
        .list_fences(caller.org_id, p.site_id, page_request(p.limit, p.cursor.as_deref())?)
        .await?;
    Ok(HttpResponse::Ok().json(List::from_page(page, |f| f)))
}

/// A geofence's current version (`geofences.read`).
#[utoipa::path(tag = "geofences", operation_id = "get_geofence",
    responses((status = 200, body = StoredFence), problems::Secured, problems::Forbidden, problems::NotFound),
    security(("bearer" = [])))]
#[get("/v1/geofences/{id}")]
pub async fn get(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    caller.require(Permission::GeofencesRead)?;
    Ok(HttpResponse::Ok().json(
        state
            .repo
            .get_fence(caller.org_id, *id)
            .await?
            .ok_or_else(ApiError::not_found)?,
    ))
}

/// Every version of a geofence, oldest first (`geofences.read`).
#[utoipa::path(tag = "geofences", operation_id = "list_geofence_versions",
    responses((status = 200, body = FenceVersions), problems::Secured, problems::Forbidden, problems::NotFound),
    security(("bearer" = [])))]
#[get("/v1/geofences/{id}/versions")]
pub async fn versions(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    caller.require(Permission::GeofencesRead)?;
    let items = state.repo.fence_versions(caller.org_id, *id).await?;
    if items.is_empty() {
        return Err(ApiError::not_found());
    }
    Ok(HttpResponse::Ok().json(FenceVersions { items }))
}

/// Replaces a geofence's name and/or geometry and bumps its `version` (`geofences.manage`);
/// earlier versions stay readable. Neither given is 422 on `body`.
#[utoipa::path(tag = "geofences", operation_id = "replace_geofence", request_body = ReplaceFence,
    responses((status = 200, body = StoredFence), problems::Secured, problems::Body, problems::Forbidden, problems::NotFound),
    security(("bearer" = [])))]
#[put("/v1/geofences/{id}")]
pub async fn replace(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: Json<ReplaceFence>,
) -> ApiResult<HttpResponse> {
    caller.require(Permission::GeofencesManage)?;
    let body = body.parse().await?;
    let mut errors = Vec::new();
    if let Some(name) = &body.name {
        check_name(&mut errors, "name", name);
    }
    let shape = body.geometry.as_ref().and_then(|g| shape(&state, "", g, &mut errors));
    if body.name.is_none() && body.geometry.is_none() {
        errors.push(FieldError::new("body", "give a new name, a new geometry, or both"));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let change = FenceChange {
        name: body.name.map(|n| n.trim().to_owned()),
        geometry: shape.map(|s| (s.to_geojson(), s.area_m2())),
    };
    let audit = caller
        .audit()
        .entry(Action::GeofenceUpdated, None, Some(id.to_string()));
    let fence = state
        .repo
        .replace_fence(caller.org_id, *id, &change, &audit)
        .await?
        .ok_or_else(ApiError::not_found)?;
    state.fences.invalidate(caller.org_id);
    Ok(HttpResponse::Ok().json(fence))
}

/// Retires a geofence (`geofences.manage`); its history stays.
#[utoipa::path(tag = "geofences", operation_id = "retire_geofence",
    responses((status = 200, body = StoredFence, description = "the retired fence (`active: false`)"),
        problems::Secured, problems::Forbidden, problems::NotFound),
    security(("bearer" = [])))]
#[delete("/v1/geofences/{id}")]
pub async fn retire(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    caller.require(Permission::GeofencesManage)?;
    let audit = caller
        .audit()
        .entry(Action::GeofenceRetired, None, Some(id.to_string()));
    let fence = state
        .repo
        .retire_fence(caller.org_id, *id, &audit)
        .await?
        .ok_or_else(ApiError::not_found)?;
    state.fences.invalidate(caller.org_id);
    Ok(HttpResponse::Ok().json(fence))
}

/// Judges a location without recording anything (`geofences.read`): against `user_id`'s
/// sites' fences (another user needs `geofences.manage`; an unknown one is 404), or against
/// every active fence of the organisation.
#[utoipa::path(tag = "geofences", operation_id = "test_location", request_body = TestLocation,
    responses((status = 200, body = Decision), problems::Secured, problems::Body, problems::Forbidden, problems::NotFound),
    security(("bearer" = [])))]
#[post("/v1/geofences:test")]
pub async fn test(state: web::Data<AppState>, caller: Caller, body: Json<TestLocation>) -> ApiResult<HttpResponse> {
    caller.require(Permission::GeofencesRead)?;
    let body = body.parse().await?;
    if body.user_id.is_some_and(|u| u != caller.user_id) {
        caller.require(Permission::GeofencesManage)?;
    }
    let mut errors = LatLon::new(body.lat, body.lon)
        .err()
        .map(|e| field_errors("", e))
        .unwrap_or_default();
    if body.accuracy_m.is_some_and(|a| !a.is_finite() || a < 0.0) {
        errors.push(FieldError::new("accuracy_m", "must be a non-negative number of metres"));
    }
    let point = LatLon::new(body.lat, body.lon)
        .ok()
        .filter(|_| errors.is_empty())
        .ok_or_else(|| ApiError::invalid(errors))?;
    let sites = match body.user_id {
        Some(user_id) => Some(
            state
                .repo
                .get_user(caller.org_id, user_id)
                .await?
                .ok_or_else(ApiError::not_found)?
                .site_ids,
        ),
        None => None,
    };
    let policy = state.repo.get_policy(caller.org_id).await?;
    let index = state.fences.index(caller.org_id).await?;
    let fence = index.decide(
        point,
        body.accuracy_m.unwrap_or(0.0),
        policy.accuracy_rule,
        sites.as_deref(),
    );
    let reasons = location_reasons(&fence, body.accuracy_m, &policy);
    Ok(HttpResponse::Ok().json(Decision::new(fence, reasons)))
}

/// How many past events of the fence's site between `from` and `to` would change verdict
/// under a new geometry (`geofences.manage`). A window with more than
/// `MUSTER_SIMULATE_MAX_EVENTS` events is 422 on `from`.
#[utoipa::path(tag = "geofences", operation_id = "simulate_geofence", request_body = Simulate,
    responses((status = 200, body = SimulationResult), problems::Secured, problems::Body, problems::Forbidden, problems::NotFound),
    security(("bearer" = [])))]
#[post("/v1/geofences/{id:[^/:]+}:simulate")]
pub async fn simulate(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: Json<Simulate>,
) -> ApiResult<HttpResponse> {
    caller.require(Permission::GeofencesManage)?;
    let body = body.parse().await?;
    let mut errors = Vec::new();
    let new_shape = shape(&state, "", &body.geometry, &mut errors);
    if body.to <= body.from {
        errors.push(FieldError::new("to", "must be after from"));
    }
    let Some(new_shape) = new_shape.filter(|_| errors.is_empty()) else {
        return Err(ApiError::invalid(errors));
    };
    let target = state
        .repo
        .get_fence(caller.org_id, *id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let max = state.settings.simulate_max_events;
    let events = state
        .repo
        .site_locations(
            caller.org_id,
            target.site_id,
            body.from.with_timezone(&Utc),
            body.to.with_timezone(&Utc),
            max + 1,
        )
        .await?;
    if events.len() > max as usize {
        return Err(ApiError::field(
            "from",
            format!("the window holds more than {max} events; narrow it"),
        ));
    }
    // Both sides are judged now, against the site's active fences, so only the geometry
    // differs between them.
    let current = state.fences.index(caller.org_id).await?;
    let site = [target.site_id];
    let mut proposed: Vec<Fence> = current.fences().iter().filter(|f| f.id != target.id).cloned().collect();
    proposed.push(Fence {
        id: target.id,
        version: target.version + 1,
        name: target.name.clone(),
        site_id: target.site_id,
        shape: new_shape,
    });
    let proposed = FenceIndex::new(proposed);
    let rule = state.repo.get_policy(caller.org_id).await?.accuracy_rule;
    let changed_event_ids: Vec<Uuid> = events
        .iter()
        .filter(|e| {
            current.decide(e.point, e.accuracy_m, rule, Some(&site)).verdict
                != proposed.decide(e.point, e.accuracy_m, rule, Some(&site)).verdict
        })
        .map(|e| e.event_id)
        .collect();
    Ok(HttpResponse::Ok().json(SimulationResult {
        events_considered: events.len(),
        changed: changed_event_ids.len(),
        changed_event_ids,
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // The `:action` routes go first so `{id}` never swallows them.
    cfg.service(import)
        .service(test)
        .service(simulate)
        .service(create)
        .service(list)
        .service(versions)
        .service(get)
        .service(replace)
        .service(retire);
}
