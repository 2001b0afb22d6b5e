//! Auto check-out: where an organisation's policy sets `auto_check_out_after_h`, a working
//! day still open that many hours after its scheduled end gets a `check_out` with
//! `source: "auto"`, so that reports are complete.
//!
//! # Rules
//! - **Which days.** Days that reports judge `incomplete`: working days with a shift whose
//!   last pair is open. A day without a shift has no scheduled end and is left as it is; so
//!   is an open pair on a holiday or weekly off.
//! - **The event.** Captured at the scheduled end (or at the open check-in, if that came
//!   after the end), so the pair is paid to the end of the shift and no further; received
//!   now; accepted, with no location (verdict `no_geofence`, no reasons).
//! - **Once.** Every replica runs the job; the store's key on (user, day) lets one
//!   check-out through per day, whoever writes first, and a retried run writes nothing.
//! - **How far back.** Users whose last counted check-in is still open and was captured
//!   within the policy delay plus `MUSTER_AUTO_CHECK_OUT_LOOKBACK_H`, so a run after downtime
//!   still closes the days that came due meanwhile.

use chrono::{DateTime, Days, Duration, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use uuid::Uuid;

use crate::reports::{DateRange, DayStatus, ReportRow, judge_page};
use crate::storage::events::{Decision, Kind, NewEvent, Source, Status, StoredEvent};
use crate::storage::{Repo, StorageError};

/// Users judged per page: one calendar and event read for each page.
const PAGE_USERS: u32 = 500;

#[derive(Clone, Copy, Debug)]
pub struct AutoCheckOutOptions {
    /// Hours past a day's deadline that a run still closes it.
    pub lookback_h: u32,
}

/// One run over every organisation that turned auto check-out on; the check-outs it wrote.
pub async fn run_auto_check_out(
    repo: &dyn Repo,
    now: DateTime<Utc>,
    options: AutoCheckOutOptions,
) -> Result<u64, StorageError> {
    let mut written = 0;
    for org_id in repo.org_ids().await? {
        let Some(after_h) = repo.get_policy(org_id).await?.auto_check_out_after_h else {
            continue;
        };
        let Some(org) = repo.get_org(org_id).await? else {
            continue;
        };
        let org_timezone: Tz = org.timezone.parse().unwrap_or(Tz::UTC);
        let delay = Duration::hours(i64::from(after_h));
        let since = now - delay - Duration::hours(i64::from(options.lookback_h));
        // Local dates in any zone: a day either side of the UTC dates.
        let from = since
            .date_naive()
            .checked_sub_days(Days::new(1))
            .unwrap_or(since.date_naive());
        let to = now
            .date_naive()
            .checked_add_days(Days::new(1))
            .unwrap_or(now.date_naive());
        let Ok(range) = DateRange::new(from, to) else {
            tracing::warn!(%org_id, "auto check-out lookback spans more than a report may");
            continue;
        };
        let (window_from, window_to) = range.utc_window();
        let mut after = None;
        loop {
            let ids = repo.open_day_users(org_id, since, after, PAGE_USERS).await?;
            let Some(last) = ids.last() else { break };
            after = Some(*last);
            let subjects = repo
                .report_subjects(org_id, Some(&ids), None, window_from, window_to, PAGE_USERS)
                .await?;
            let rows = judge_page(repo, org_id, org_timezone, &subjects, range, |_| false).await?;
            for row in &rows {
                if let Some(event) = closing(org_id, row, now, delay)
                    && repo.insert_auto_check_out(row.date, &event).await?
                {
                    written += 1;
                }
            }
            if ids.len() < PAGE_USERS as usize {
                break;
            }
        }
    }
    Ok(written)
}

/// The check-out that closes `row`'s day, if the day is open and its deadline has passed.
fn closing(org_id: Uuid, row: &ReportRow, now: DateTime<Utc>, delay: Duration) -> Option<NewEvent> {
    if row.status != DayStatus::Incomplete {
        return None;
    }
    let end = row.scheduled_end?.with_timezone(&Utc);
    let open = row.open_since?;
    if now < end + delay {
        return None;
    }
    Some(NewEvent {
        org_id,
        event: StoredEvent {
            id: Uuid::now_v7(),
            user_id: row.user_id,
            // Fresh, not derived from the day: the store's (user, day) key keeps it single,
            // and a phone that guessed a derived id could not block the check-out with it.
            client_event_id: Uuid::now_v7(),
            request_sha256: hex::encode(Sha256::digest(
                format!("muster.auto_check_out.v1:{}:{}", row.user_id, row.date).as_bytes(),
            )),
            kind: Kind::CheckOut,
            captured_at: end.max(open),
            received_at: now,
            status: Status::Accepted,
            decision: Decision::unlocated(),
            location: None,
            photo_id: None,
            source: Source::Auto,
            request_id: None,
        },
        device: None,
        note: None,
    })
}

/// Runs [`run_auto_check_out`] every `interval` (never when it is zero).
pub fn spawn_auto_check_out(repo: Arc<dyn Repo>, interval: std::time::Duration, options: AutoCheckOutOptions) {
    if interval.is_zero() {
        return;
    }
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let outcome = run_auto_check_out(repo.as_ref(), Utc::now(), options).await;
            let label = if outcome.is_ok() { "ok" } else { "failed" };
            metrics::counter!("muster_auto_check_out_runs_total", "outcome" => label).increment(1);
            match outcome {
                Ok(written) => {
                    metrics::counter!("muster_auto_check_outs_total").increment(written);
                    if written > 0 {
                        tracing::info!(written, "auto check-out closed open days");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "auto check-out run failed; the next run retries"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: DayStatus, end: Option<&str>, open: Option<&str>) -> ReportRow {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap();
        ReportRow {
            user_id: Uuid::now_v7(),
            employee_code: "E".into(),
            name: "N".into(),
            date: "2026-11-20".parse().unwrap(),
            first_in: None,
            last_out: None,
            worked_minutes: 0,
            status,
            events: 1,
            flagged: 0,
            rejected: 0,
            first_in_lat: None,
            first_in_lon: None,
            first_in_accuracy_m: None,
            first_in_geofence: None,
            corrected: false,
            shift_id: None,
            shift_version: None,
            scheduled_start: None,
            scheduled_end: end.map(t),
            late_minutes: 0,
            early_leave_minutes: 0,
            overtime_minutes: 0,
            open_since: open.map(|s| t(s).with_timezone(&Utc)),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn only_open_working_days_past_their_deadline_are_closed_at_the_end() {
        let delay = Duration::hours(4);
        let end = Some("2026-11-20T18:00:00+05:30");
        let open = Some("2026-11-20T09:00:00+05:30");
        let due = at("2026-11-20T22:00:00+05:30");
        let event = closing(Uuid::nil(), &row(DayStatus::Incomplete, end, open), due, delay).unwrap();
        assert_eq!(event.event.captured_at, at("2026-11-20T18:00:00+05:30"));
        assert_eq!((event.event.kind, event.event.source), (Kind::CheckOut, Source::Auto));
        assert!(event.event.location.is_none());
        let early = due - Duration::seconds(1);
        assert!(closing(Uuid::nil(), &row(DayStatus::Incomplete, end, open), early, delay).is_none());
        assert!(closing(Uuid::nil(), &row(DayStatus::Present, end, None), due, delay).is_none());
        assert!(closing(Uuid::nil(), &row(DayStatus::Holiday, None, open), due, delay).is_none());
        assert!(
            closing(Uuid::nil(), &row(DayStatus::Incomplete, None, open), due, delay).is_none(),
            "no shift, no scheduled end"
        );
        // Checked in again after the end: closed at that check-in, never before it.
        let late = Some("2026-11-20T19:00:00+05:30");
        let event = closing(Uuid::nil(), &row(DayStatus::Incomplete, end, late), due, delay).unwrap();
        assert_eq!(event.event.captured_at, at("2026-11-20T19:00:00+05:30"));
    }
}
