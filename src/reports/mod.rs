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
//!   organisation's. The zone in force now applies to the whole range. Its schedule (shift,
//!   version, kind) is `shifts::schedule`'s. A day owns the events between its boundaries
//!   with the days either side, each halfway between one day's end and the next day's start
//!   (a shift's scheduled end and start; local midnight for a date without a shift), so a
//!   night shift owns its morning and a late check-out belongs to the day it closes. Without
//!   shifts every boundary is local midnight: an event exactly at 00:00 belongs to the day
//!   that starts then, and a DST day simply has 23 or 25 hours.
//! - **Counted events.** `accepted` and `flagged` events count, unless an approved correction
//!   superseded them (see **corrected**); `rejected` ones appear only in the `events` and
//!   `rejected` tallies.
//! - **first_in / last_out.** The earliest counted check-in and the latest counted check-out
//!   of the day, as local time with its UTC offset.
//! - **worked_minutes.** Counted events are walked in time order: a check-in opens a pair
//!   (a further check-in while one is open is a repeated tap and is ignored), the next
//!   check-out closes it; a check-out with no open pair is ignored. Pairs never cross a
//!   day's boundary. The sum of the pairs' elapsed real time, in whole minutes (rounded
//!   down): across a DST change this is physical time, not the difference of wall clocks.
//!   On a working day with a shift, the part of its unpaid `break_min` not already taken
//!   between pairs (a check-out, then a check-in) is deducted.
//! - **status**, the first that applies:
//!   1. `holiday`: a holiday of the organisation or of the user's first site;
//!   2. `weekly_off`: a weekday outside the shift's `weekdays`;
//!   3. `absent`: no counted check-in that day (whatever was rejected): so only working
//!      days are absent;
//!   4. `incomplete`: a pair is still open at the end of the day;
//!   5. `out_of_fence`: every check-in of the day not superseded, whatever its status, was
//!      flagged or rejected with the reason `outside_geofence`;
//!   6. `half_day`: a shift's working day with fewer `worked_minutes` than its
//!      `half_day_below_min`;
//!   7. `late`: `late_minutes` above zero;
//!   8. `early_leave`: `early_leave_minutes` above zero;
//!   9. `present`.
//!
//!   With no shift a day is judged as before shifts existed: every non-holiday is working,
//!   and nothing is late, early or a half day.
//! - **shift_id, shift_version.** The shift governing the day and the version it is judged
//!   by: the one in force when the local day began, so changing a shift never rewrites the
//!   days before the change.
//! - **scheduled_start, scheduled_end.** A working day's, local time with offset.
//! - **late_minutes.** On a working day with a shift: minutes from the scheduled start to
//!   the first counted check-in, when that is more than `late_grace_min`; else 0.
//! - **early_leave_minutes.** Likewise from the last counted check-out to the scheduled
//!   end, beyond `early_grace_min`, on a day with no pair left open; else 0.
//! - **overtime_minutes.** With the shift's `overtime_after_min` set: on a working day the
//!   `worked_minutes` beyond it; on its holidays and weekly offs every worked minute. Else 0.
//! - **events / flagged / rejected.** Every event of the day / those flagged / those
//!   rejected.
//! - **first_in_lat, first_in_lon, first_in_accuracy_m, first_in_geofence** (the name of the
//!   geofence the first check-in was judged against): only where the caller may see that
//!   user's location (`attendance.location.read:*`), else null (JSON) or empty (CSV); also
//!   null when the location was erased or expired.
//! - **corrected.** An approved attendance request changed the day: a counted event of the
//!   day was written by one (`source: "request"`), or one corrected an event of the day. The
//!   day is judged with the request's event like any other (a missed check-out closes the
//!   pair, a corrected check-in is not outside a fence). An event an approved correction
//!   names is superseded: it stays stored as it was and in the `events`, `flagged` and
//!   `rejected` tallies, but counts for nothing else (pairs, first_in / last_out, late and
//!   early minutes, `out_of_fence`): the day is judged as corrected, not with both.

mod days;
mod encode;
mod judge;
mod run;

pub use days::{DateRange, DayStatus, MAX_DAYS, RangeError, ReportRow, UserDays, discloses_location};
pub use encode::{COLUMNS, Encoder, Format};
pub use judge::judge_page;
pub use run::{ReportError, ReportRun, ReportSpec};
