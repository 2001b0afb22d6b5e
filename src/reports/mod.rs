//! Attendance reports: one row per user per local day, aggregated from the stored events.
//!
//! This module is the pure part, with no database and no HTTP: [`UserDays`] turns one user's
//! events (in time order) into day rows, [`encode`] writes rows as JSON or CSV, and
//! [`run`] drives storage page by page so that a report of any size is streamed in constant
//! memory. Every definition below is the contract of `GET /v1/reports/attendance`.
//!
//! # Definitions
//! - **Day.** A calendar date in the user's time zone: the zone of the first of the user's
//!   sites in `site_ids` order (sites ordered by id, which is creation order), else the
//!   organisation's zone. The zone in force now applies to the whole range. A day is the
//!   half-open interval from one local midnight to the next, so an event exactly at 00:00
//!   local time belongs to the day that starts then. On a DST change the day simply has 23
//!   or 25 hours.
//! - **Counted events.** `accepted` and `flagged` events count; `rejected` ones appear only
//!   in the `events` and `rejected` tallies.
//! - **first_in / last_out.** The earliest counted check-in and the latest counted check-out
//!   of the day, as local time with its UTC offset.
//! - **worked_minutes.** Counted events are walked in time order: a check-in opens a pair
//!   (a further check-in while one is open is a repeated tap and is ignored), the next
//!   check-out closes it; a check-out with no open pair is ignored. Pairs never cross
//!   midnight. The sum of the pairs' elapsed real time, in whole minutes (rounded down):
//!   across a DST change this is physical time, not the difference of wall clocks.
//! - **status**, the first that applies:
//!   1. `absent`: no counted check-in that day (whatever was rejected);
//!   2. `out_of_fence`: every check-in of the day, whatever its status, was flagged or
//!      rejected with the reason `outside_geofence`;
//!   3. `incomplete`: a pair is still open at the end of the day (a check-in with no later
//!      check-out that day);
//!   4. `present`.
//! - **events / flagged / rejected.** Every event of the day / those flagged / those
//!   rejected.
//! - **first_in_lat, first_in_lon, first_in_accuracy_m, first_in_geofence** (the name of the
//!   geofence the first check-in was judged against): only where the caller may see that
//!   user's location (`attendance.location.read:*`), else null (JSON) or empty (CSV); also
//!   null when the location was erased or expired.
//! - **corrected.** A counted event of the day was written by an approved attendance
//!   request (`source: "request"`). The day is judged with that event like any other (a
//!   missed check-out closes the pair, a corrected check-in is not outside a fence), and the
//!   events it corrects stay in the tallies as they were.

mod days;
mod encode;
mod run;

pub use days::{DateRange, DayStatus, MAX_DAYS, RangeError, ReportRow, UserDays, discloses_location};
pub use encode::{COLUMNS, Encoder, Format};
pub use run::{ReportError, ReportRun, ReportSpec};
