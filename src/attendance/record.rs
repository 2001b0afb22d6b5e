//! Recording check-ins: judge an event against the user's sites and the org policy, store
//! it (rejected ones too), and make retries idempotent by `(user, client_event_id)`.
//!
//! Idempotency has two steps. A cheap look-up first answers a retry with the stored event
//! (or 409 for another body under the same id) before any side effect, such as claiming a
//! photo, happens a second time. The insert itself then decides for good through the
//! database's unique key, so two concurrent first attempts store one row and the loser
//! answers with the winner's event.

use chrono::{DateTime, Utc};
use std::sync::Arc;
use uuid::Uuid;

use super::error::AttendanceError;
use super::input::{EventInput, PhotoSource};
use super::rules::{Facts, judge};
use crate::access::Caller;
use crate::geofence::FenceIndex;
use crate::sites::FenceCache;
use crate::storage::Repo;
use crate::storage::events::{
    CheckInReads, EventContext, Fix, InsertOutcome, NewEvent, Source, StoredEvent, verdict_name,
};
use crate::storage::orgs::Policy;
use crate::uploads::Uploads;

type Result<T, E = AttendanceError> = std::result::Result<T, E>;

/// What recording check-ins works with: the database, the fence indexes, photo claims.
#[derive(Clone, Copy)]
pub struct Ports<'a> {
    pub repo: &'a dyn Repo,
    pub fences: &'a FenceCache,
    pub uploads: Uploads<'a>,
}

/// A recorded event: new (201) or the original answer to a retry (200).
#[derive(Clone, Debug)]
pub enum Recorded {
    Created(StoredEvent),
    Replayed(StoredEvent),
}

impl Recorded {
    pub fn event(&self) -> &StoredEvent {
        match self {
            Recorded::Created(e) | Recorded::Replayed(e) => e,
        }
    }

    pub fn into_event(self) -> StoredEvent {
        match self {
            Recorded::Created(e) | Recorded::Replayed(e) => e,
        }
    }

    pub fn created(&self) -> bool {
        matches!(self, Recorded::Created(_))
    }
}

/// An event judged and ready to store, with its location fix (the next event's previous).
pub struct Judged {
    new: NewEvent,
    pub fix: Fix,
}

/// The later of two candidates for an event's previous fix; on a tie `recorded_after`,
/// which was stored (or will be) after `stored` and so counts as the later event.
pub fn later_fix(stored: Option<Fix>, recorded_after: Option<Fix>) -> Option<Fix> {
    match (stored, recorded_after) {
        (Some(s), Some(r)) => Some(if r.at >= s.at { r } else { s }),
        (s, r) => r.or(s),
    }
}

/// A request's event as storage knows it before it is judged.
pub enum Lookup {
    /// Already recorded with this very body: the stored event is the answer.
    Replayed(Box<StoredEvent>),
    /// New, with the user's previous fix, if any.
    New(Option<Fix>),
}

/// The photo an event carries once it has been checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttachedPhoto {
    pub photo_id: Uuid,
}

/// Everything one request judges its events with: the caller's sites, the policy and the
/// fence index are read once, and one server time stamps every event of the request.
pub struct Recorder<'a> {
    ports: Ports<'a>,
    caller: &'a Caller,
    sites: Vec<Uuid>,
    policy: Policy,
    index: Arc<FenceIndex>,
    received_at: DateTime<Utc>,
}

/// A request's event against what storage holds under its `client_event_id`: the same body
/// again is a replay, another body a conflict.
fn lookup(context: EventContext, input: &EventInput, photo: PhotoSource) -> Result<Lookup> {
    match context.existing {
        None => Ok(Lookup::New(context.previous)),
        Some(e) if e.request_sha256 == input.request_sha256(photo) => Ok(Lookup::Replayed(Box::new(e))),
        Some(_) => Err(AttendanceError::Reused),
    }
}

/// The time a request was received, at the microseconds the database keeps (the answer must
/// equal what a retry reads back); every event of the request is stamped with it.
pub fn received_now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

async fn contexts(repo: &dyn Repo, caller: &Caller, keys: &[(Uuid, DateTime<Utc>)]) -> Result<Vec<EventContext>> {
    Ok(repo.event_contexts(caller.org_id, caller.user_id, keys).await?)
}

impl<'a> Recorder<'a> {
    /// A recorder for a request received at `received_at` (see [`received_now`]), with what
    /// storage holds for each of `events` (see [`Recorder::look_up`]). The policy, the
    /// caller's sites and the look-ups are one statement, read beside the fence index: a
    /// check-in waits for one round trip instead of two.
    pub async fn open(
        ports: Ports<'a>,
        caller: &'a Caller,
        received_at: DateTime<Utc>,
        events: &[(&EventInput, PhotoSource)],
    ) -> Result<(Recorder<'a>, Vec<Result<Lookup>>)> {
        let keys: Vec<_> = events.iter().map(|(i, _)| (i.client_event_id, i.captured_at)).collect();
        // The caller was found active when the request was authenticated.
        let (reads, index) = tokio::try_join!(
            async { Ok::<_, AttendanceError>(ports.repo.check_in_reads(caller.org_id, caller.user_id, &keys).await?) },
            async { Ok(ports.fences.index(caller.org_id).await?) },
        )?;
        let CheckInReads {
            policy,
            sites,
            contexts,
        } = reads;
        let lookups = contexts
            .into_iter()
            .zip(events)
            .map(|(context, (input, photo))| lookup(context, input, *photo))
            .collect();
        let recorder = Recorder {
            ports,
            caller,
            sites,
            policy,
            index,
            received_at,
        };
        Ok((recorder, lookups))
    }

    /// What storage holds for this request: the stored answer if it was already recorded
    /// (409 if its id was used for another body), else the user's previous fix.
    pub async fn look_up(&self, input: &EventInput, photo: PhotoSource) -> Result<Lookup> {
        let context = contexts(
            self.ports.repo,
            self.caller,
            &[(input.client_event_id, input.captured_at)],
        )
        .await?
        .pop();
        lookup(context.unwrap_or_default(), input, photo)
    }

    /// Judges and stores one event. `online` is true for an event sent alone, false for a
    /// batch item; `photo` is the photo already checked for it, if any; `previous` the
    /// user's previous fix.
    pub async fn record(
        &self,
        input: EventInput,
        source: PhotoSource,
        photo: Option<AttachedPhoto>,
        online: bool,
        previous: Option<Fix>,
    ) -> Result<Recorded> {
        self.store(self.judge(input, source, photo, online, previous)).await
    }

    /// The event as it will be stored: its decision under the org's policy, given the
    /// user's `previous` located event.
    pub fn judge(
        &self,
        input: EventInput,
        source: PhotoSource,
        photo: Option<AttachedPhoto>,
        online: bool,
        previous: Option<Fix>,
    ) -> Judged {
        let accuracy = input.location.accuracy_m.unwrap_or(0.0);
        let fence = self
            .index
            .decide(input.point, accuracy, self.policy.accuracy_rule, Some(&self.sites));
        let fix = Fix {
            point: input.point,
            accuracy_m: accuracy,
            at: input.captured_at,
        };
        let (decision, status) = judge(
            Facts {
                fence,
                fix,
                reported_accuracy_m: input.location.accuracy_m,
                is_mock: input.location.is_mock,
                received_at: self.received_at,
                online,
                has_photo: photo.is_some(),
                previous,
            },
            &self.policy,
        );
        let new = NewEvent {
            org_id: self.caller.org_id,
            event: StoredEvent {
                id: Uuid::now_v7(),
                user_id: self.caller.user_id,
                client_event_id: input.client_event_id,
                request_sha256: input.request_sha256(source),
                kind: input.kind,
                captured_at: input.captured_at,
                received_at: self.received_at,
                status,
                decision,
                location: Some(input.location),
                photo_id: photo.map(|p| p.photo_id),
                source: Source::Device,
                request_id: None,
            },
            device: input.device,
            note: input.note,
        };
        Judged { new, fix }
    }

    /// Stores a judged event. Concurrent calls share a commit, so a batch stores its events
    /// together by storing them all at once.
    pub async fn store(&self, judged: Judged) -> Result<Recorded> {
        let request_sha256 = judged.new.event.request_sha256.clone();
        match self.ports.repo.insert_event(judged.new).await? {
            InsertOutcome::Inserted(event) => {
                tracing::info!(
                    event_id = %event.id,
                    status = event.status.as_str(),
                    verdict = verdict_name(event.decision.verdict),
                    reasons = event.decision.reasons.len(),
                    "attendance event recorded"
                );
                // One count per stored decision, never per retry.
                crate::telemetry::record_decision(verdict_name(event.decision.verdict), event.status.as_str());
                Ok(Recorded::Created(event))
            }
            InsertOutcome::Existing(event) if event.request_sha256 == request_sha256 => Ok(Recorded::Replayed(event)),
            InsertOutcome::Existing(_) => Err(AttendanceError::Reused),
            InsertOutcome::PhotoTaken => Err(AttendanceError::PhotoTaken),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geofence::LatLon;

    fn fix(lat: f64, at: i64) -> Fix {
        Fix {
            point: LatLon::new(lat, 77.0).unwrap(),
            accuracy_m: 5.0,
            at: DateTime::from_timestamp(at, 0).unwrap(),
        }
    }

    #[test]
    fn the_later_fix_is_previous_and_the_batch_event_wins_a_tie() {
        let (stored, batch) = (fix(12.0, 100), fix(13.0, 100));
        assert_eq!(
            later_fix(Some(stored), Some(batch)),
            Some(batch),
            "recorded after the stored one"
        );
        assert_eq!(later_fix(Some(fix(12.0, 101)), Some(batch)), Some(fix(12.0, 101)));
        assert_eq!(later_fix(None, Some(batch)), Some(batch));
        assert_eq!(later_fix(Some(stored), None), Some(stored));
        assert_eq!(later_fix(None, None), None);
    }
}
