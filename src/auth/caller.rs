//! The `Caller` extractor: the authenticated user of a request, with the permissions the
//! database grants them *now*.
//!
//! The token proves identity only. Status, organisation, manager and permissions are read
//! fresh on every request, so disabling a user, changing a role or ending a session applies
//! to the very next request. Every failure is the same 401: the client learns nothing about
//! why a token was refused.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use std::collections::HashMap;
use uuid::Uuid;

use crate::access::{Family, Permission, PermissionSet, Relation, Scope};
use crate::audit::AuditContext;
use crate::http::RequestId;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::storage::users::{User, UserStatus};

#[derive(Clone, Debug)]
pub struct Caller {
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub manager_id: Option<Uuid>,
    pub permissions: PermissionSet,
    pub session: Uuid,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

impl Caller {
    /// 403 unless the caller holds `permission`.
    pub fn require(&self, permission: Permission) -> ApiResult<()> {
        if self.permissions.contains(permission) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("requires the permission {permission}")))
        }
    }

    pub fn has(&self, permission: Permission) -> bool {
        self.permissions.contains(permission)
    }

    /// The widest scope the caller has for `family`; 403 with none.
    pub fn scope(&self, family: Family) -> ApiResult<Scope> {
        family
            .scope_in(self.permissions)
            .ok_or_else(|| ApiError::forbidden(format!("no permission to read {family:?} data")))
    }

    /// How `subject` relates to the caller (the team walk only when it can matter).
    pub async fn relation_to(&self, state: &AppState, subject: &User) -> ApiResult<Relation> {
        if subject.id == self.user_id {
            Ok(Relation::Myself)
        } else if subject.manager_id == Some(self.user_id) {
            Ok(Relation::Direct)
        } else if state.repo.is_in_team(self.org_id, self.user_id, subject.id).await? {
            Ok(Relation::Team)
        } else {
            Ok(Relation::Org)
        }
    }

    /// May the caller see `family` data of `subject` (a user of the caller's org)?
    pub async fn sees(&self, state: &AppState, family: Family, subject: &User) -> ApiResult<bool> {
        match family.scope_in(self.permissions) {
            None => Ok(false),
            Some(Scope::Org) => Ok(true),
            Some(scope) => Ok(scope.covers(self.relation_to(state, subject).await?)),
        }
    }

    /// How each of `subjects` relates to the caller, in one query for the whole batch.
    /// Users of other organisations are absent.
    pub async fn relations(&self, state: &AppState, subjects: &[Uuid]) -> ApiResult<HashMap<Uuid, Relation>> {
        Ok(state.repo.relations(self.org_id, self.user_id, subjects).await?)
    }

    /// What the caller may see of each of `subjects` (users of the caller's org) for
    /// `families`: the batch form of [`Caller::sees`] for lists and reports, with one query
    /// at most (none when no family's scope depends on the reporting tree).
    pub async fn sight(&self, state: &AppState, families: &[Family], subjects: &[Uuid]) -> ApiResult<Sight> {
        let needs_tree = families
            .iter()
            .any(|f| matches!(f.scope_in(self.permissions), Some(Scope::Direct | Scope::Team)));
        let relations = if needs_tree {
            self.relations(state, subjects).await?
        } else {
            HashMap::new()
        };
        Ok(Sight {
            user_id: self.user_id,
            permissions: self.permissions,
            relations,
        })
    }

    /// The context stamped on audit entries written for this request.
    pub fn audit(&self) -> AuditContext {
        AuditContext {
            org_id: self.org_id,
            actor_id: Some(self.user_id),
            request_id: self.request_id.clone(),
            ip: self.ip.clone(),
        }
    }
}

/// What a caller may see of a batch of subjects, from one relation query; see
/// [`Caller::sight`].
#[derive(Clone, Debug)]
pub struct Sight {
    user_id: Uuid,
    permissions: PermissionSet,
    relations: HashMap<Uuid, Relation>,
}

impl Sight {
    /// May the caller see `family` data of `subject`? The same rule as [`Caller::sees`]:
    /// the widest granted scope must cover the subject's relation to the caller.
    pub fn sees(&self, family: Family, subject: Uuid) -> bool {
        match family.scope_in(self.permissions) {
            None => false,
            Some(Scope::Org) => true,
            Some(Scope::Myself) => subject == self.user_id,
            Some(scope) => self.relations.get(&subject).is_some_and(|r| scope.covers(*r)),
        }
    }
}

/// The bearer token of a request, if it sent one (also read by the rate limiter).
pub(crate) fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        let request_id = RequestId::of(req);
        let ip = state
            .as_ref()
            .and_then(|s| s.trusted_proxies.client_ip(req))
            .map(|ip| ip.to_string());
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))?;
            let refused = || ApiError::unauthorized("a valid bearer token is required");
            let claims = token
                .as_deref()
                .and_then(|t| state.keys.verify(t))
                .ok_or_else(refused)?;
            let principal = state
                .repo
                .principal(claims.sub, claims.sid)
                .await?
                .ok_or_else(refused)?;
            if principal.status != UserStatus::Active || principal.org_id != claims.org {
                return Err(refused());
            }
            Ok(Caller {
                user_id: principal.user_id,
                org_id: principal.org_id,
                manager_id: principal.manager_id,
                permissions: principal.permissions,
                session: claims.sid,
                request_id,
                ip,
            })
        })
    }
}
