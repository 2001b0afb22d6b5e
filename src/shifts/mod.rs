//! Shifts, assignments, holidays and the schedule they make (API.md "Shifts and the
//! attendance day").
//!
//! - [`schedule`]: the pure resolver: which shift version, if any, governs a user's date, and
//!   whether the date is a working day, a weekly off or a holiday, as instants in the user's
//!   time zone.
//! - [`user_schedule`]: one user's resolved days, as `GET /v1/users/{id}/schedule` shows them.
//! - [`auto_check_out`]: the background job that closes days left open past the policy's
//!   `auto_check_out_after_h`.
//! - [`input`]: the bodies of the shift, assignment and holiday writes, validated field by
//!   field.
//! - [`manage`]: the use cases, each checking `shifts.read` or `shifts.manage` and storing its
//!   change with its audit entry.
//! - [`view`]: how shifts, assignments and holidays leave the server.
//! - [`error`]: why a shift, assignment or holiday could not be stored or read.
//!
//! # Choices the contract leaves open
//! - **PUT** replaces every field (all required but `overtime_after_min`) as a new version
//!   effective at once (a day is judged by the version in force when it began, so the change
//!   applies from the next day, see `schedule`); **DELETE** retires (200 with the retired shift). A retired shift is
//!   409 to both, takes no new assignment (422 on `shift_id`) and leaves the list, but stays
//!   readable by id, as do the days it governed.
//! - **Ending an assignment** (`DELETE`): one that begins today or later (the organisation's
//!   today) is deleted; one that began earlier ends yesterday, so judged days keep it.
//! - **Holidays** are listed by date; one per date org-wide and one per date per site.

pub mod auto_check_out;
pub mod error;
pub mod input;
pub mod manage;
pub mod schedule;
pub mod user_schedule;
pub mod view;
