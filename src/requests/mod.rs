//! Attendance requests: an employee asks for a missed check-in or check-out, or for the
//! correction of a flagged or rejected event, and a manager decides (API.md "Attendance
//! requests").
//!
//! - [`input`]: the body of a filing, validated, and the local day and time as an instant.
//! - [`rules`]: who may see and who may decide a request, in terms of `access::reaches`.
//! - [`file`]: filing a request (its event and photo checked, its limits applied).
//! - [`decide`]: approving (which writes the event), rejecting and cancelling.
//! - [`read`]: one request, a scoped list, a request's photo.
//! - [`view`]: the single way a request leaves the server.
//! - [`error`]: why a request could not be filed, read or decided.
//!
//! # Choices the contract leaves open
//! - **Time zone.** `date` and `time` are local to the requester's first site (by site id),
//!   else the organisation's: the zone reports count days in. The instant they name is fixed
//!   when the request is filed. A time that a daylight-saving change skips is refused; one
//!   it repeats is the earlier instant.
//! - **Limits.** A day after the requester's today, or a proposed instant after the server
//!   clock, is 422 on `date` or `time`; a day more than the policy's `request_max_age_days`
//!   before today is 422 on `date`.
//! - **Kinds.** `correction` needs an `event_id` naming one of the requester's own flagged or
//!   rejected events captured on `date`; the missed kinds take none. The approved event has
//!   the corrected event's kind, or `check_in` / `check_out` for the missed kinds.
//! - **One correction per event.** Once a correction of an event is approved, filing another
//!   for it is 409 on `event_id`, and so is approving another one filed before (a unique key
//!   on the approved corrections' `event_id` decides concurrent approvals). Reports count the
//!   approved event in place of the one it corrects (`reports`, **corrected**).
//! - **The approved event.** Written with `source: "request"`, `request_id`, the proposed
//!   instant as `captured_at`, the decision time as `received_at`, `status: "accepted"`, and,
//!   having no location, verdict `no_geofence` with no reasons and no geofence. A unique key
//!   on `request_id` keeps it the only event of its request.
//! - **Who sees a request.** The requester, and whoever may decide it: the
//!   `attendance.requests.approve:*` scope over the requester (`direct`, `team` or `org`).
//!   Anyone else gets 404, as for an object they may not know exists. Nobody decides their
//!   own request (403); only the requester cancels (403 for an approver, 404 for others).
//! - **Cancellation** records the requester as `decided_by`, with `decided_at`.

pub mod decide;
pub mod error;
pub mod file;
pub mod input;
pub mod read;
pub mod rules;
pub mod view;
