//! The check-in use cases: one event sent alone (JSON, protobuf or multipart with its photo)
//! and a phone's offline batch. Each admits an event (a retry is answered with the stored
//! event before any side effect; a new one has its photo claimed), judges it and stores it.
//! The HTTP layer only parses the body, calls these and encodes the answer.

use chrono::{DateTime, Utc};
use futures_util::FutureExt;

use super::error::AttendanceError;
use super::input::{EventInput, PhotoSource};
use super::record::{AttachedPhoto, Lookup, Ports, Recorded, Recorder, later_fix};
use crate::access::Caller;
use crate::field::InputError;
use crate::storage::events::{Fix, StoredEvent};

type Result<T, E = AttendanceError> = std::result::Result<T, E>;

/// Checks the photo an event names by `photo_id` (the caller's own, unused, clean), once the
/// event is known to be new.
async fn claim_photo(ports: Ports<'_>, caller: &Caller, input: &EventInput) -> Result<Option<AttachedPhoto>> {
    match input.photo_id {
        None => Ok(None),
        Some(photo_id) => {
            let photo = ports.uploads.claim(caller, photo_id).await?;
            Ok(Some(AttachedPhoto {
                photo_id: photo.photo_id,
            }))
        }
    }
}

/// What a validated event whose photo, if any, is named by `photo_id` comes to before it
/// is judged: the stored answer for a retry, or a new event with its photo claimed.
enum Admitted {
    Replayed(StoredEvent),
    /// A new event, its photo and the user's previous fix.
    New(EventInput, PhotoSource, Option<AttachedPhoto>, Option<Fix>),
}

async fn admit(
    recorder: &Recorder<'_>,
    ports: Ports<'_>,
    caller: &Caller,
    input: EventInput,
    lookup: Lookup,
) -> Result<Admitted> {
    let source = input.photo_source(false);
    let previous = match lookup {
        Lookup::Replayed(existing) => return Ok(Admitted::Replayed(*existing)),
        Lookup::New(previous) => previous,
    };
    match claim_photo(ports, caller, &input).await {
        Ok(photo) => Ok(Admitted::New(input, source, photo, previous)),
        // A concurrent twin of this request may have attached the photo between the look-up
        // above and the claim: then its event is this request's answer.
        Err(refused) => match recorder.look_up(&input, source).await? {
            Lookup::Replayed(existing) => Ok(Admitted::Replayed(*existing)),
            Lookup::New(_) => Err(refused),
        },
    }
}

/// A recorder for one event, with that event's look-up.
async fn open_one<'a>(
    ports: Ports<'a>,
    caller: &'a Caller,
    received_at: DateTime<Utc>,
    input: &EventInput,
    photo: PhotoSource,
) -> Result<(Recorder<'a>, Lookup)> {
    let (recorder, lookups) = Recorder::open(ports, caller, received_at, &[(input, photo)]).await?;
    let lookup = lookups
        .into_iter()
        .next()
        .ok_or(AttendanceError::Unanswered("an event look-up"))??;
    Ok((recorder, lookup))
}

/// Records one event sent alone (online), received at `received_at` (see
/// [`super::record::received_now`]), whose photo, if any, is named by `photo_id`.
pub async fn check_in(
    ports: Ports<'_>,
    caller: &Caller,
    received_at: DateTime<Utc>,
    input: EventInput,
) -> Result<Recorded> {
    let (recorder, lookup) = open_one(ports, caller, received_at, &input, input.photo_source(false)).await?;
    match admit(&recorder, ports, caller, input, lookup).await? {
        Admitted::Replayed(existing) => Ok(Recorded::Replayed(existing)),
        Admitted::New(input, source, photo, previous) => recorder.record(input, source, photo, true, previous).await,
    }
}

/// An event sent with its photo in the same request (multipart), between reading the event
/// and reading the photo: a retry is answered before the photo is read, so a resent form
/// stores no second photo.
pub enum WithPhoto<'a> {
    Replayed(StoredEvent),
    New(PendingCheckIn<'a>),
}

/// A new event waiting for the photo that comes after it in the request.
pub struct PendingCheckIn<'a> {
    recorder: Recorder<'a>,
    input: EventInput,
    previous: Option<Fix>,
}

/// Starts recording an event whose photo follows in the same request; its identity is the
/// event plus "sent with a photo part" (see `PhotoSource::Part`).
pub async fn check_in_with_photo<'a>(
    ports: Ports<'a>,
    caller: &'a Caller,
    received_at: DateTime<Utc>,
    input: EventInput,
) -> Result<WithPhoto<'a>> {
    if input.photo_id.is_some() {
        return Err(InputError::from(crate::field::FieldError::new(
            "photo_id",
            "give either a photo_id or a photo part, not both",
        ))
        .into());
    }
    let (recorder, lookup) = open_one(ports, caller, received_at, &input, PhotoSource::Part).await?;
    Ok(match lookup {
        Lookup::Replayed(existing) => WithPhoto::Replayed(*existing),
        Lookup::New(previous) => WithPhoto::New(PendingCheckIn {
            recorder,
            input,
            previous,
        }),
    })
}

impl PendingCheckIn<'_> {
    /// Records the event with the photo stored for it, if the request carried one.
    pub async fn record(self, photo: Option<AttachedPhoto>) -> Result<Recorded> {
        self.recorder
            .record(self.input, PhotoSource::Part, photo, true, self.previous)
            .await
    }
}

/// Records a phone's offline queue: `items` in the order sent, each validated or not. The
/// valid ones are judged in `captured_at` order (ties in the order sent), each against the
/// later of its stored previous event and the batch's own event judged just before it, and
/// stored all at once, so the batch shares a commit or two instead of one each. The answer
/// has one outcome per item, in the order sent; a failure that is not an item's own (see
/// [`AttendanceError::is_item_fault`]) fails the whole batch.
pub async fn check_in_batch(
    ports: Ports<'_>,
    caller: &Caller,
    received_at: DateTime<Utc>,
    items: Vec<std::result::Result<EventInput, InputError>>,
) -> Result<Vec<Result<Recorded>>> {
    let mut outcomes: Vec<Option<Result<Recorded>>> = Vec::with_capacity(items.len());
    let mut valid = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Ok(input) => {
                valid.push((i, input));
                outcomes.push(None);
            }
            Err(e) => outcomes.push(Some(Err(item_fault(e.into())?))),
        }
    }
    valid.sort_by_key(|(i, input)| (input.captured_at, *i));
    let events: Vec<_> = valid
        .iter()
        .map(|(_, input)| (input, input.photo_source(false)))
        .collect();
    let (recorder, lookups) = Recorder::open(ports, caller, received_at, &events).await?;
    let mut judged = Vec::with_capacity(valid.len());
    let mut last_judged = None;
    for ((i, input), lookup) in valid.into_iter().zip(lookups) {
        let admitted = match lookup {
            Ok(lookup) => admit(&recorder, ports, caller, input, lookup).await,
            Err(e) => Err(e),
        };
        match admitted {
            Ok(Admitted::Replayed(existing)) => outcomes[i] = Some(Ok(Recorded::Replayed(existing))),
            Ok(Admitted::New(input, source, photo, stored_previous)) => {
                let previous = later_fix(stored_previous, last_judged);
                let event = recorder.judge(input, source, photo, false, previous);
                last_judged = Some(event.fix);
                judged.push((i, event));
            }
            Err(e) => outcomes[i] = Some(Err(item_fault(e)?)),
        }
    }
    let stores = judged
        .into_iter()
        .map(|(i, event)| recorder.store(event).map(move |outcome| (i, outcome)));
    for (i, outcome) in futures_util::future::join_all(stores).await {
        outcomes[i] = Some(match outcome {
            Ok(recorded) => Ok(recorded),
            Err(e) => Err(item_fault(e)?),
        });
    }
    outcomes
        .into_iter()
        .map(|o| o.ok_or(AttendanceError::Unanswered("a batch item")))
        .collect()
}

/// The error as an item's outcome, or, if it is not the item's own, the batch's failure.
fn item_fault(e: AttendanceError) -> Result<AttendanceError> {
    if e.is_item_fault() { Ok(e) } else { Err(e) }
}
