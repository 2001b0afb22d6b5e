//! `/v1/org`, `/v1/policy`, `/v1/roles`: the organisation, its policy and its role grants.

use actix_web::{HttpResponse, get, patch, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::Caller;
use crate::access::{Permission, PermissionSet, Role};
use crate::audit::Action;
use crate::field::FieldError;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::Json;
use crate::http::problems;
use crate::http::state::AppState;
use crate::org::is_valid_timezone;
use crate::storage::orgs::{Org, OrgPatch, Policy};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeOrg {
    name: Option<String>,
    /// IANA time zone name.
    timezone: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleGrants {
    permissions: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RoleView {
    name: Role,
    permissions: Vec<&'static str>,
}

#[derive(Serialize, ToSchema)]
pub struct RoleList {
    items: Vec<RoleView>,
}

#[utoipa::path(tag = "org", operation_id = "get_org", responses((status = 200, body = Org), problems::Secured),
    security(("bearer" = [])))]
#[get("/v1/org")]
pub async fn get_org(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    let org = state
        .repo
        .get_org(caller.org_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(org))
}

/// Renames the organisation or changes its time zone (`policy.manage`).
#[utoipa::path(tag = "org", operation_id = "change_org", request_body = ChangeOrg,
    responses((status = 200, body = Org), problems::Secured, problems::Body, problems::Forbidden),
    security(("bearer" = [])))]
#[patch("/v1/org")]
pub async fn change_org(state: web::Data<AppState>, caller: Caller, body: Json<ChangeOrg>) -> ApiResult<HttpResponse> {
    caller.require(Permission::PolicyManage)?;
    let body = body.parse().await?;
    let mut errors = Vec::new();
    if body
        .name
        .as_deref()
        .is_some_and(|n| n.trim().is_empty() || n.chars().count() > 200)
    {
        errors.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    if body.timezone.as_deref().is_some_and(|tz| !is_valid_timezone(tz)) {
        errors.push(FieldError::new("timezone", "is not an IANA time zone name"));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let patch = OrgPatch {
        name: body.name.map(|n| n.trim().to_owned()),
        timezone: body.timezone,
    };
    let audit = caller
        .audit()
        .entry(Action::OrgChanged, None, Some(caller.org_id.to_string()));
    let org = state
        .repo
        .update_org(caller.org_id, &patch, &audit)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(org))
}

#[utoipa::path(tag = "org", operation_id = "get_policy", responses((status = 200, body = Policy), problems::Secured),
    security(("bearer" = [])))]
#[get("/v1/policy")]
pub async fn get_policy(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.repo.get_policy(caller.org_id).await?))
}

fn check_policy(p: &Policy) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if !positive(p.max_accuracy_m) {
        errors.push(FieldError::new("max_accuracy_m", "must be a positive number of metres"));
    }
    if !positive(p.max_speed_kmh) {
        errors.push(FieldError::new("max_speed_kmh", "must be a positive speed"));
    }
    if p.offline_max_age_h == 0 {
        errors.push(FieldError::new("offline_max_age_h", "must be at least 1"));
    }
    for (field, days) in [
        ("retention.location_days", p.retention.location_days),
        ("retention.photo_days", p.retention.photo_days),
        ("retention.applog_days", p.retention.applog_days),
    ] {
        if days == 0 {
            errors.push(FieldError::new(field, "must be at least 1 day"));
        }
    }
    if p.request_max_age_days > Policy::MAX_REQUEST_AGE_DAYS {
        errors.push(FieldError::new(
            "request_max_age_days",
            format!("must be at most {} days", Policy::MAX_REQUEST_AGE_DAYS),
        ));
    }
    if let Some(h) = p.auto_check_out_after_h
        && !(1..=Policy::MAX_AUTO_CHECK_OUT_AFTER_H).contains(&h)
    {
        errors.push(FieldError::new(
            "auto_check_out_after_h",
            format!(
                "must be 1 to {} hours, or null for never",
                Policy::MAX_AUTO_CHECK_OUT_AFTER_H
            ),
        ));
    }
    errors
}

/// Replaces the policy (`policy.manage`); every field is required.
#[utoipa::path(tag = "org", operation_id = "put_policy", request_body = Policy,
    responses((status = 200, body = Policy), problems::Secured, problems::Body, problems::Forbidden),
    security(("bearer" = [])))]
#[put("/v1/policy")]
pub async fn put_policy(state: web::Data<AppState>, caller: Caller, policy: Json<Policy>) -> ApiResult<HttpResponse> {
    caller.require(Permission::PolicyManage)?;
    let policy = policy.parse().await?;
    let errors = check_policy(&policy);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let mut audit = caller
        .audit()
        .entry(Action::PolicyChanged, None, Some(caller.org_id.to_string()));
    audit.detail = serde_json::to_value(&policy).map_err(ApiError::internal)?;
    state.repo.put_policy(caller.org_id, &policy, &audit).await?;
    Ok(HttpResponse::Ok().json(policy))
}

#[utoipa::path(tag = "org", operation_id = "list_roles", responses((status = 200, body = RoleList), problems::Secured),
    security(("bearer" = [])))]
#[get("/v1/roles")]
pub async fn list_roles(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    let grants = state.repo.role_grants(caller.org_id).await?;
    let items = grants
        .into_iter()
        .map(|(name, set)| RoleView {
            name,
            permissions: set.names(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(RoleList { items }))
}

/// Replaces what a role grants (`roles.manage`). A role that is not one of the five is 404;
/// an unknown permission name is 422 naming `permissions[i]`.
#[utoipa::path(tag = "org", operation_id = "put_role", request_body = RoleGrants,
    params(("role" = Role, Path, description = "one of the five roles")),
    responses((status = 200, body = RoleView), problems::Secured, problems::Body, problems::Forbidden, problems::NotFound),
    security(("bearer" = [])))]
#[put("/v1/roles/{role}")]
pub async fn put_role(
    state: web::Data<AppState>,
    caller: Caller,
    role: web::Path<String>,
    body: Json<RoleGrants>,
) -> ApiResult<HttpResponse> {
    caller.require(Permission::RolesManage)?;
    let role = Role::parse(&role).ok_or_else(ApiError::not_found)?;
    let body = body.parse().await?;
    let mut grants = PermissionSet::empty();
    let mut errors = Vec::new();
    for (i, name) in body.permissions.iter().enumerate() {
        match Permission::parse(name) {
            Some(p) => grants.insert(p),
            None => errors.push(FieldError::new(
                format!("permissions[{i}]"),
                format!("unknown permission {name:?}"),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let mut audit = caller
        .audit()
        .entry(Action::RoleChanged, None, Some(role.as_str().to_owned()));
    audit.detail = serde_json::json!({ "role": role, "permissions": grants.names() });
    state.repo.set_role_grants(caller.org_id, role, grants, &audit).await?;
    Ok(HttpResponse::Ok().json(RoleView {
        name: role,
        permissions: grants.names(),
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_org)
        .service(change_org)
        .service(get_policy)
        .service(put_policy)
        .service(list_roles)
        .service(put_role);
}
