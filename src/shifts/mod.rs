//! Shifts, assignments, holidays and the schedule they make (API.md "Shifts and the
//! attendance day").
//!
//! - [`schedule`]: the pure resolver: which shift version, if any, governs a user's date, and
//!   whether the date is a working day, a weekly off or a holiday, as instants in the user's
//!   time zone.
//! - [`user_schedule`]: one user's resolved days, as `GET /v1/users/{id}/schedule` shows them.
//! - [`auto_check_out`]: the background job that closes days left open past the policy's
//!   `auto_check_out_after_h`.

pub mod auto_check_out;
pub mod schedule;
pub mod user_schedule;
