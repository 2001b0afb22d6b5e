//! Deciding an attendance request: an approver approves (which writes the event) or
//! rejects it, or the requester cancels it. A decision is final. The status change, the
//! approval's event and the audit entry commit together, and the database lets exactly one
//! of concurrent decisions through (`RequestStore::resolve_request`); the others are 409.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::RequestError;
use super::input::text_field;
use super::read::load;
use super::rules::may_decide;
use crate::access::Caller;
use crate::audit::Action;
use crate::field::InputError;
use crate::storage::Repo;
use crate::storage::events::{Decision, Kind, NewEvent, Source, Status, StoredEvent};
use crate::storage::requests::{RequestKind, RequestStatus, Resolution, ResolveOutcome, StoredRequest};

type Result<T, E = RequestError> = std::result::Result<T, E>;

/// What an approver makes of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    Approve,
    Reject,
}

impl Choice {
    fn status(self) -> RequestStatus {
        match self {
            Choice::Approve => RequestStatus::Approved,
            Choice::Reject => RequestStatus::Rejected,
        }
    }

    fn action(self) -> Action {
        match self {
            Choice::Approve => Action::RequestApproved,
            Choice::Reject => Action::RequestRejected,
        }
    }
}

/// Approves or rejects a request at `now`; a rejection needs a `comment`. The caller holds an
/// `attendance.requests.approve:*` scope (checked before the body is read); one's own request
/// is 403, one beyond the scope 404 (the caller may not know it exists).
pub async fn decide(
    repo: &dyn Repo,
    caller: &Caller,
    request_id: Uuid,
    choice: Choice,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> Result<StoredRequest> {
    let (request, requester) = load(repo, caller, request_id).await?;
    if request.user_id == caller.user_id {
        return Err(RequestError::OwnRequest);
    }
    if !may_decide(repo, caller, &requester).await? {
        return Err(RequestError::NotFound);
    }
    let mut errors = Vec::new();
    let comment = match (choice, comment) {
        (_, Some(text)) => text_field(&mut errors, "comment", &text),
        (Choice::Reject, None) => {
            errors.push(crate::field::FieldError::new(
                "comment",
                "is required to reject a request",
            ));
            None
        }
        (Choice::Approve, None) => None,
    };
    if !errors.is_empty() {
        return Err(InputError::Invalid(errors).into());
    }
    if request.status != RequestStatus::Pending {
        return Err(RequestError::Decided(request.status));
    }
    let event = match choice {
        Choice::Approve => Some(approved_event(repo, caller.org_id, &request, now).await?),
        Choice::Reject => None,
    };
    let mut audit = caller
        .audit()
        .entry(choice.action(), Some(request.user_id), Some(request.id.to_string()));
    audit.detail = serde_json::json!({ "result_event_id": event.as_ref().map(|e| e.event.id) });
    let resolution = Resolution {
        status: choice.status(),
        by: caller.user_id,
        at: now,
        comment,
        event,
    };
    resolve(repo, caller, &request, &resolution, &audit).await
}

/// Cancels the caller's own pending request at `now`. Someone else's is 403 where the
/// caller may decide it, else 404.
pub async fn cancel(repo: &dyn Repo, caller: &Caller, request_id: Uuid, now: DateTime<Utc>) -> Result<StoredRequest> {
    let (request, requester) = load(repo, caller, request_id).await?;
    if request.user_id != caller.user_id {
        return Err(if may_decide(repo, caller, &requester).await? {
            RequestError::NotRequester
        } else {
            RequestError::NotFound
        });
    }
    if request.status != RequestStatus::Pending {
        return Err(RequestError::Decided(request.status));
    }
    let audit = caller.audit().entry(
        Action::RequestCancelled,
        Some(request.user_id),
        Some(request.id.to_string()),
    );
    let resolution = Resolution {
        status: RequestStatus::Cancelled,
        by: caller.user_id,
        at: now,
        comment: None,
        event: None,
    };
    resolve(repo, caller, &request, &resolution, &audit).await
}

async fn resolve(
    repo: &dyn Repo,
    caller: &Caller,
    request: &StoredRequest,
    resolution: &Resolution,
    audit: &crate::storage::audit::AuditEntry,
) -> Result<StoredRequest> {
    match repo
        .resolve_request(caller.org_id, request.id, resolution, audit)
        .await?
    {
        ResolveOutcome::Resolved(decided) => {
            tracing::info!(
                request_id = %decided.id,
                status = decided.status.as_str(),
                "attendance request decided"
            );
            Ok(decided)
        }
        // A concurrent decision won between the read above and this write.
        ResolveOutcome::AlreadyDecided(current) => Err(RequestError::Decided(current.status)),
        ResolveOutcome::Missing => Err(RequestError::NotFound),
        // Another correction of the same event was approved first (perhaps concurrently).
        ResolveOutcome::Corrected => Err(RequestError::Corrected),
    }
}

/// The kind of event an approval writes: the missed one, or the corrected event's.
async fn event_kind(repo: &dyn Repo, org_id: Uuid, request: &StoredRequest) -> Result<Kind> {
    match (request.kind, request.event_id) {
        (RequestKind::MissedCheckIn, _) => Ok(Kind::CheckIn),
        (RequestKind::MissedCheckOut, _) => Ok(Kind::CheckOut),
        (RequestKind::Correction, Some(event_id)) => {
            let corrected = repo.get_event(org_id, event_id).await?.ok_or_else(|| {
                crate::storage::StorageError::Corrupt(format!("request {} corrects a missing event", request.id))
            })?;
            Ok(corrected.kind)
        }
        (RequestKind::Correction, None) => {
            Err(crate::storage::StorageError::Corrupt(format!("correction {} names no event", request.id)).into())
        }
    }
}

/// The identity hash an approved request's event is stored with: no device sent it, so it
/// is a hash of the request, which no device's body can equal.
fn request_sha256(request_id: Uuid) -> String {
    hex::encode(Sha256::digest(
        format!("muster.attendance_request.v1:{request_id}").as_bytes(),
    ))
}

/// The event an approval of `request` at `now` writes: at the proposed instant, accepted,
/// with no location (so judged against no geofence). Its `client_event_id` is new, not the
/// request's id, which the requester knows and could send from a phone first to block the
/// approval; one event per request is the unique key on `request_id`.
async fn approved_event(
    repo: &dyn Repo,
    org_id: Uuid,
    request: &StoredRequest,
    now: DateTime<Utc>,
) -> Result<NewEvent> {
    let kind = event_kind(repo, org_id, request).await?;
    Ok(NewEvent {
        org_id,
        event: StoredEvent {
            id: Uuid::now_v7(),
            user_id: request.user_id,
            client_event_id: Uuid::now_v7(),
            request_sha256: request_sha256(request.id),
            kind,
            captured_at: request.proposed_at,
            received_at: now,
            status: Status::Accepted,
            decision: Decision::unlocated(),
            location: None,
            photo_id: None,
            source: Source::Request,
            request_id: Some(request.id),
        },
        device: None,
        note: None,
    })
}
