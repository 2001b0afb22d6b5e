//! Shifts, assignments, holidays and the schedule they make (API.md "Shifts and the
//! attendance day").
//!
//! - [`schedule`]: the pure resolver: which shift version, if any, governs a user's date, and
//!   whether the date is a working day, a weekly off or a holiday, as instants in the user's
//!   time zone.

pub mod schedule;
