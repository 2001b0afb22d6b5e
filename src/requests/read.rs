//! Reading attendance requests: one by id, a scoped list, and a request's photo, each only
//! where [`super::rules`] lets the caller see the requester's requests. What the caller may
//! not see is 404, indistinguishable from what does not exist.

use chrono::NaiveDate;
use uuid::Uuid;

use super::error::RequestError;
use super::rules::{list_scope, may_decide, may_see};
use crate::access::{Caller, Family};
use crate::attendance::redact::Visibility;
use crate::storage::photos::PhotoRecord;
use crate::storage::requests::{RequestFilter, RequestScope, RequestStatus, StoredRequest};
use crate::storage::users::User;
use crate::storage::{Page, PageRequest, Repo};

type Result<T, E = RequestError> = std::result::Result<T, E>;

/// The filters of `GET /v1/attendance/requests`, parsed.
#[derive(Clone, Copy, Debug, Default)]
pub struct ListQuery {
    pub user_id: Option<Uuid>,
    pub status: Option<RequestStatus>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// A request of the caller's organisation with its requester, before any visibility rule:
/// the callers decide what the caller may do with it.
pub async fn load(repo: &dyn Repo, caller: &Caller, request_id: Uuid) -> Result<(StoredRequest, User)> {
    let request = repo
        .get_request(caller.org_id, request_id)
        .await?
        .ok_or(RequestError::NotFound)?;
    let requester = repo
        .get_user(caller.org_id, request.user_id)
        .await?
        .ok_or(RequestError::NotFound)?;
    Ok((request, requester))
}

/// A request the caller may see, with its requester.
pub async fn get(repo: &dyn Repo, caller: &Caller, request_id: Uuid) -> Result<(StoredRequest, User)> {
    let (request, requester) = load(repo, caller, request_id).await?;
    if !may_see(repo, caller, &requester).await? {
        return Err(RequestError::NotFound);
    }
    Ok((request, requester))
}

/// The caller's own requests and those they may decide, or, with `user_id`, that user's if
/// the caller may see them (404 otherwise, as for a user they may not know).
pub async fn list(
    repo: &dyn Repo,
    caller: &Caller,
    query: ListQuery,
    page: PageRequest,
) -> Result<Page<StoredRequest>> {
    let scope = match query.user_id {
        None => list_scope(caller),
        Some(user_id) if user_id == caller.user_id => RequestScope::User(user_id),
        Some(user_id) => {
            let requester = repo
                .get_user(caller.org_id, user_id)
                .await?
                .ok_or(RequestError::NotFound)?;
            if !may_decide(repo, caller, &requester).await? {
                return Err(RequestError::NotFound);
            }
            RequestScope::User(user_id)
        }
    };
    let filter = RequestFilter {
        scope,
        status: query.status,
        from: query.from,
        to: query.to,
    };
    Ok(repo.list_requests(caller.org_id, &filter, page).await?)
}

/// A request's photo and its subject (the requester), where the caller may see the request
/// and have the photo: the rule of event photos (`Visibility::photo_shown`).
pub async fn photo(repo: &dyn Repo, caller: &Caller, request_id: Uuid) -> Result<(User, PhotoRecord)> {
    let (request, requester) = get(repo, caller, request_id).await?;
    let photo_id = request.photo_id.ok_or(RequestError::NotFound)?;
    let visibility = Visibility {
        location: crate::visibility::sees(repo, caller, Family::Location, &requester).await?,
        photo: crate::visibility::sees(repo, caller, Family::Photo, &requester).await?,
    };
    if !visibility.photo_shown() {
        return Err(RequestError::NotFound);
    }
    let photo = repo
        .get_photo(caller.org_id, photo_id)
        .await?
        .ok_or(RequestError::NotFound)?;
    Ok((requester, photo))
}
