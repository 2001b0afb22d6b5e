//! `/v1/users`: create, list (scoped), get, change, disable.
//!
//! Escalation rules, all decided in `check_role_change` and `check_may_manage`:
//! `users.manage` gives or takes `employee` and `manager`; `hr`, `org_admin` and `auditor`
//! need `roles.manage`; nobody changes their own roles or status; and a user who holds a
//! role the caller could not grant can only be changed by someone with `roles.manage`
//! (otherwise HR could reset an org admin's password and become one).

use actix_web::{HttpResponse, get, patch, post, web};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Caller;
use crate::access::{Family, Permission, Role, Scope};
use crate::audit::Action;
use crate::auth::password::{self, Hasher};
use crate::field::FieldError;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Json, Query};
use crate::http::page::{List, page_request};
use crate::http::problems;
use crate::http::state::AppState;
use crate::storage::users::UserScope;
use crate::storage::users::{NewUser, User, UserPatch, UserStatus};

const MAX_NAME: usize = 200;
const MAX_CODE: usize = 64;
const MAX_EMAIL: usize = 254;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    email: String,
    name: String,
    employee_code: String,
    manager_id: Option<Uuid>,
    roles: Vec<Role>,
    #[serde(default)]
    site_ids: Vec<Uuid>,
    /// At least 12 characters. Without one the user cannot log in until one is set.
    password: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ChangeUser {
    email: Option<String>,
    name: Option<String>,
    employee_code: Option<String>,
    /// `null` removes the manager.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    manager_id: Option<Option<Uuid>>,
    roles: Option<Vec<Role>>,
    site_ids: Option<Vec<Uuid>>,
    status: Option<UserStatus>,
    password: Option<String>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    limit: Option<u32>,
    cursor: Option<String>,
}

fn check_text(errors: &mut Vec<FieldError>, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if value.chars().count() > max {
        errors.push(FieldError::new(field, format!("must be at most {max} characters")));
    } else if value.chars().any(char::is_control) {
        errors.push(FieldError::new(field, "must not contain control characters"));
    }
}

fn check_email(errors: &mut Vec<FieldError>, email: &str) {
    let well_formed = email.len() <= MAX_EMAIL
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.contains('@'));
    if !well_formed {
        errors.push(FieldError::new("email", "is not an email address"));
    }
}

fn check_password(errors: &mut Vec<FieldError>, password: Option<&str>) {
    if let Some(Err(why)) = password.map(password::check_strength) {
        errors.push(FieldError::new("password", why));
    }
}

async fn hash_password(hasher: &Hasher, password: Option<String>) -> ApiResult<Option<String>> {
    let Some(password) = password else { return Ok(None) };
    Ok(Some(hasher.hash(password).await?))
}

/// Giving or taking `hr`, `org_admin` or `auditor` needs `roles.manage`.
fn check_role_change(caller: &Caller, before: &[Role], after: &[Role]) -> ApiResult<()> {
    let changed = before
        .iter()
        .filter(|r| !after.contains(r))
        .chain(after.iter().filter(|r| !before.contains(r)));
    for role in changed {
        if !role.is_basic() && !caller.has(Permission::RolesManage) {
            return Err(ApiError::forbidden(format!(
                "giving or taking the role {role} requires roles.manage"
            )));
        }
    }
    Ok(())
}

/// Changing a user who holds a role the caller could not grant needs `roles.manage`.
fn check_may_manage(caller: &Caller, target: &User) -> ApiResult<()> {
    caller.require(Permission::UsersManage)?;
    if target.roles.iter().any(|r| !r.is_basic()) && !caller.has(Permission::RolesManage) {
        return Err(ApiError::forbidden(
            "changing a user with the hr, org_admin or auditor role requires roles.manage",
        ));
    }
    Ok(())
}

/// Fetches a user the caller may see; everyone else's (and other orgs') users are 404.
async fn visible_user(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<User> {
    let user = state
        .repo
        .get_user(caller.org_id, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if user.id == caller.user_id || crate::visibility::sees(&*state.repo, caller, Family::Users, &user).await? {
        Ok(user)
    } else {
        Err(ApiError::not_found())
    }
}

/// Creates a user (`users.manage`; giving `hr`, `org_admin` or `auditor` also needs
/// `roles.manage`, else 403). An email or employee code already taken is 409; an unknown
/// manager or site, or a manager chain that would form a cycle, is 422.
#[utoipa::path(tag = "users", operation_id = "create_user", request_body = CreateUser,
    responses(
        (status = 201, body = User, links(
            ("get_user" = (operation_id = "get_user", parameters(("id" = "$response.body#/id")))),
            ("change_user" = (operation_id = "change_user", parameters(("id" = "$response.body#/id")))),
            ("disable_user" = (operation_id = "disable_user", parameters(("id" = "$response.body#/id")))),
            ("export_user" = (operation_id = "export_user", parameters(("id" = "$response.body#/id")))),
            ("erase_user" = (operation_id = "erase_user", parameters(("id" = "$response.body#/id")))),
            ("get_user_schedule" = (operation_id = "get_user_schedule", parameters(("id" = "$response.body#/id")))))),
        problems::Secured, problems::Body, problems::Forbidden, problems::Conflict),
    security(("bearer" = [])))]
#[post("/v1/users")]
pub async fn create(state: web::Data<AppState>, caller: Caller, body: Json<CreateUser>) -> ApiResult<HttpResponse> {
    caller.require(Permission::UsersManage)?;
    let body = body.parse().await?;
    let mut errors = Vec::new();
    check_email(&mut errors, &body.email);
    check_text(&mut errors, "name", &body.name, MAX_NAME);
    check_text(&mut errors, "employee_code", &body.employee_code, MAX_CODE);
    check_password(&mut errors, body.password.as_deref());
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    check_role_change(&caller, &[], &body.roles)?;
    let new = NewUser {
        id: Uuid::now_v7(),
        email: body.email.trim().to_owned(),
        name: body.name.trim().to_owned(),
        employee_code: body.employee_code.trim().to_owned(),
        manager_id: body.manager_id,
        roles: body.roles,
        site_ids: body.site_ids,
        password_hash: hash_password(&state.hasher, body.password).await?,
    };
    let audit = caller
        .audit()
        .entry(Action::UserCreated, Some(new.id), Some(new.id.to_string()));
    let user = state.repo.create_user(caller.org_id, &new, &audit).await??;
    Ok(HttpResponse::Created().json(user))
}

/// The users the caller may see (`users.read:team` or `:org`).
#[utoipa::path(tag = "users", operation_id = "list_users", params(ListParams),
    responses((status = 200, body = List<User>), problems::Secured, problems::Invalid, problems::Forbidden),
    security(("bearer" = [])))]
#[get("/v1/users")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> ApiResult<HttpResponse> {
    let scope = match caller.scope(Family::Users)? {
        Scope::Org => UserScope::Org,
        _ => UserScope::TeamOf(caller.user_id),
    };
    let page = page_request(params.limit, params.cursor.as_deref())?;
    let users = state.repo.list_users(caller.org_id, scope, page).await?;
    Ok(HttpResponse::Ok().json(List::from_page(users, |u| u)))
}

/// A user the caller may see (oneself always); anyone else is 404.
#[utoipa::path(tag = "users", operation_id = "get_user",
    responses((status = 200, body = User), problems::Secured, problems::NotFound), security(("bearer" = [])))]
#[get("/v1/users/{id}")]
pub async fn get(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(visible_user(&state, &caller, *id).await?))
}

/// Changes a user (`users.manage`, and `roles.manage` for a user holding or getting `hr`,
/// `org_admin` or `auditor`). Nobody changes their own roles or status (403); demoting the
/// last active `org_admin` is 422 on `roles`.
#[utoipa::path(tag = "users", operation_id = "change_user", request_body = ChangeUser,
    responses((status = 200, body = User), problems::Secured, problems::Body, problems::Forbidden, problems::NotFound,
        problems::Conflict),
    security(("bearer" = [])))]
#[patch("/v1/users/{id}")]
pub async fn change(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: Json<ChangeUser>,
) -> ApiResult<HttpResponse> {
    let target = visible_user_or_managed(&state, &caller, *id).await?;
    let body = body.parse().await?;
    let mut errors = Vec::new();
    if let Some(email) = &body.email {
        check_email(&mut errors, email);
    }
    if let Some(name) = &body.name {
        check_text(&mut errors, "name", name, MAX_NAME);
    }
    if let Some(code) = &body.employee_code {
        check_text(&mut errors, "employee_code", code, MAX_CODE);
    }
    check_password(&mut errors, body.password.as_deref());
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    if target.id == caller.user_id && (body.roles.is_some() || body.status.is_some()) {
        return Err(ApiError::forbidden("nobody changes their own roles or status"));
    }
    if let Some(roles) = &body.roles {
        check_role_change(&caller, &target.roles, roles)?;
    }
    let mut audit = vec![
        caller
            .audit()
            .entry(Action::UserUpdated, Some(target.id), Some(target.id.to_string())),
    ];
    if body.roles.as_ref().is_some_and(|r| sorted(r) != target.roles) {
        let mut entry = caller
            .audit()
            .entry(Action::RoleChanged, Some(target.id), Some(target.id.to_string()));
        entry.detail = serde_json::json!({ "from": target.roles, "to": body.roles });
        audit.push(entry);
    }
    if body.status == Some(UserStatus::Disabled) && target.status == UserStatus::Active {
        audit.push(
            caller
                .audit()
                .entry(Action::UserDisabled, Some(target.id), Some(target.id.to_string())),
        );
    }
    let patch = UserPatch {
        email: body.email.map(|e| e.trim().to_owned()),
        name: body.name.map(|n| n.trim().to_owned()),
        employee_code: body.employee_code.map(|c| c.trim().to_owned()),
        manager_id: body.manager_id,
        roles: body.roles,
        site_ids: body.site_ids,
        status: body.status,
        password_hash: hash_password(&state.hasher, body.password).await?,
    };
    let user = state
        .repo
        .update_user(caller.org_id, target.id, &patch, &audit)
        .await??;
    Ok(HttpResponse::Ok().json(user))
}

fn sorted(roles: &[Role]) -> Vec<Role> {
    let mut r = roles.to_vec();
    r.sort();
    r.dedup();
    r
}

/// A user the caller may change: 404 if invisible, 403 if visible but not theirs to manage.
async fn visible_user_or_managed(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<User> {
    let target = state
        .repo
        .get_user(caller.org_id, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if !caller.has(Permission::UsersManage)
        && target.id != caller.user_id
        && !crate::visibility::sees(&*state.repo, caller, Family::Users, &target).await?
    {
        return Err(ApiError::not_found());
    }
    check_may_manage(caller, &target)?;
    Ok(target)
}

/// Disables a user: their sessions end at once. Disabling oneself is 403; disabling the
/// last active `org_admin` is 422 on `roles`.
#[utoipa::path(tag = "users", operation_id = "disable_user",
    responses((status = 200, body = User), problems::Secured, problems::Forbidden, problems::NotFound, problems::Invalid),
    security(("bearer" = [])))]
#[post("/v1/users/{id}/disable")]
pub async fn disable(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let target = visible_user_or_managed(&state, &caller, *id).await?;
    if target.id == caller.user_id {
        return Err(ApiError::forbidden("nobody changes their own roles or status"));
    }
    let audit = [caller
        .audit()
        .entry(Action::UserDisabled, Some(target.id), Some(target.id.to_string()))];
    let patch = UserPatch {
        status: Some(UserStatus::Disabled),
        ..Default::default()
    };
    let user = state
        .repo
        .update_user(caller.org_id, target.id, &patch, &audit)
        .await??;
    Ok(HttpResponse::Ok().json(user))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get)
        .service(change)
        .service(disable);
}
