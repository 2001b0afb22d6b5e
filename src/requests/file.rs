//! Filing an attendance request: the caller's own, for a local day of theirs within the
//! policy's reach, naming (for a correction) one of their flagged or rejected events of that
//! day and, optionally, a photo of theirs. Stored `pending` with its audit entry; a pending
//! request of the same kind for the same day is refused by the database's key, and so is a
//! correction of an event an approved correction corrected already.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::RequestError;
use super::input::{Draft, local_date, proposed_instant};
use crate::access::Caller;
use crate::audit::Action;
use crate::field::{FieldError, InputError};
use crate::storage::Repo;
use crate::storage::events::Status;
use crate::storage::reports::user_timezone;
use crate::storage::requests::{FileOutcome, RequestStatus, StoredRequest};
use crate::uploads::Uploads;

type Result<T, E = RequestError> = std::result::Result<T, E>;

/// What filing works with: the database and photo claims.
#[derive(Clone, Copy)]
pub struct Ports<'a> {
    pub repo: &'a dyn Repo,
    pub uploads: Uploads<'a>,
}

fn invalid(field: &str, message: impl Into<String>) -> RequestError {
    InputError::from(FieldError::new(field, message)).into()
}

/// Files `draft` for the caller at `now`; the caller holds `attendance.requests.create`
/// (checked before the body is read, so an unauthorised caller learns nothing of its rules).
pub async fn file(ports: Ports<'_>, caller: &Caller, draft: Draft, now: DateTime<Utc>) -> Result<StoredRequest> {
    let context = ports
        .repo
        .filing_context(caller.org_id, caller.user_id)
        .await?
        .ok_or(RequestError::NotFound)?;
    let org_zone = context.org_timezone.parse().unwrap_or(chrono_tz::UTC);
    let zone = user_timezone(context.site_timezone.as_deref(), org_zone);
    let proposed_at =
        proposed_instant(&draft, zone, now, context.policy.request_max_age_days).map_err(InputError::from)?;
    if let Some(event_id) = draft.event_id {
        // Another user's event and no event at all answer alike: the caller learns nothing
        // of events they may not see.
        let event = ports
            .repo
            .get_event(caller.org_id, event_id)
            .await?
            .filter(|e| e.user_id == caller.user_id)
            .ok_or_else(|| invalid("event_id", "does not name an event of yours"))?;
        if event.status == Status::Accepted {
            return Err(invalid(
                "event_id",
                "names an accepted event: only a flagged or rejected event is corrected",
            ));
        }
        let day = local_date(event.captured_at, zone);
        if day != draft.date {
            return Err(invalid(
                "event_id",
                format!("names an event of {day}, not of the request's date"),
            ));
        }
    }
    if let Some(photo_id) = draft.photo_id {
        ports.uploads.claim(caller, photo_id).await?;
    }
    let request = StoredRequest {
        id: Uuid::now_v7(),
        user_id: caller.user_id,
        date: draft.date,
        time: draft.time,
        kind: draft.kind,
        proposed_at,
        event_id: draft.event_id,
        reason: Some(draft.reason),
        photo_id: draft.photo_id,
        status: RequestStatus::Pending,
        created_at: now,
        decided_by: None,
        decided_at: None,
        comment: None,
        result_event_id: None,
    };
    let mut audit = caller.audit().entry(
        Action::RequestCreated,
        Some(caller.user_id),
        Some(request.id.to_string()),
    );
    audit.detail = serde_json::json!({
        "kind": request.kind,
        "date": request.date,
        "time": request.time.format("%H:%M").to_string(),
        "event_id": request.event_id,
    });
    match ports.repo.insert_request(caller.org_id, &request, &audit).await? {
        FileOutcome::Filed(filed) => Ok(filed),
        FileOutcome::PendingExists => Err(RequestError::PendingExists),
        FileOutcome::PhotoTaken => Err(RequestError::PhotoTaken),
        FileOutcome::Corrected => Err(RequestError::Corrected),
    }
}
