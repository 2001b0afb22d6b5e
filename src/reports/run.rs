//! Drives a report through storage in pages, in constant memory: a page of users (sized so
//! that a page yields at most [`ROW_BUDGET`] rows), one batch query for whose locations the
//! caller may see, their days judged by [`judge_page`] (calendar and events in keyset pages),
//! the disclosure audit, then the encoded rows. Each call to [`ReportRun::next_chunk`] does one page, so
//! the answer streams as fast as the client reads it and holds no database connection in
//! between.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures_util::Stream;
use std::sync::Arc;
use uuid::Uuid;

use super::days::{DateRange, ReportRow, discloses_location};
use super::encode::{EncodeError, Encoder, Format};
use super::judge::judge_page;
use crate::access::{Caller, Family};
use crate::audit::{Action, Disclosures};
use crate::storage::reports::ReportSubject;
use crate::storage::{Repo, StorageError};

/// Why a report stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

type Result<T, E = ReportError> = std::result::Result<T, E>;

/// Rows per page: bounds the memory of one step whatever the range (~16k rows, a few MB
/// as structs and as much again encoded). Fewer, larger pages mean fewer round trips: 1,000
/// users × 31 days is two pages.
pub const ROW_BUDGET: u64 = 16_384;
/// Users per page at most (a short report), within one relation batch.
pub const MAX_PAGE_USERS: u64 = 1000;

/// What to report on.
#[derive(Clone, Debug)]
pub struct ReportSpec {
    pub range: DateRange,
    /// `Some(viewer)`: the viewer and everyone below them; `None`: the whole organisation.
    pub team_of: Option<Uuid>,
    /// Days of users without a site are counted in this zone.
    pub org_timezone: Tz,
    pub format: Format,
}

enum Subjects {
    Org { after: Option<Uuid>, done: bool },
    Team { ids: Vec<Uuid>, next: usize },
}

pub struct ReportRun {
    repo: Arc<dyn Repo>,
    caller: Caller,
    spec: ReportSpec,
    subjects: Subjects,
    encoder: Encoder,
    window: (DateTime<Utc>, DateTime<Utc>),
    page_users: u32,
    finished: bool,
    rows: u64,
}

impl ReportRun {
    /// Prepares a run; a team report learns its members' ids here (ids only, one per user:
    /// a tree walk per page would cost the whole team on every page).
    pub async fn start(repo: Arc<dyn Repo>, caller: Caller, spec: ReportSpec) -> Result<Self> {
        let subjects = match spec.team_of {
            Some(viewer) => Subjects::Team {
                ids: repo.team_ids(caller.org_id, viewer).await?,
                next: 0,
            },
            None => Subjects::Org {
                after: None,
                done: false,
            },
        };
        let page_users = (ROW_BUDGET / spec.range.days()).clamp(1, MAX_PAGE_USERS) as u32;
        Ok(ReportRun {
            window: spec.range.utc_window(),
            encoder: Encoder::new(spec.format)?,
            repo,
            caller,
            spec,
            subjects,
            page_users,
            finished: false,
            rows: 0,
        })
    }

    async fn next_subjects(&mut self) -> Result<Vec<ReportSubject>> {
        let (from, to) = self.window;
        let repo = &self.repo;
        let org = self.caller.org_id;
        match &mut self.subjects {
            Subjects::Org { done: true, .. } => Ok(Vec::new()),
            Subjects::Org { after, done } => {
                let page = repo
                    .report_subjects(org, None, *after, from, to, self.page_users)
                    .await?;
                *done = page.len() < self.page_users as usize;
                *after = page.last().map(|s| s.id);
                Ok(page)
            }
            Subjects::Team { ids, next } => {
                // Disabled users without events drop out of a page; keep going until one
                // has someone in it or the team is done.
                while *next < ids.len() {
                    let end = (*next + self.page_users as usize).min(ids.len());
                    let chunk = &ids[*next..end];
                    *next = end;
                    let page = repo
                        .report_subjects(org, Some(chunk), None, from, to, self.page_users)
                        .await?;
                    if !page.is_empty() {
                        return Ok(page);
                    }
                }
                Ok(Vec::new())
            }
        }
    }

    /// The next piece of the answer, `None` after the last.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        if self.finished {
            return Ok(None);
        }
        let subjects = self.next_subjects().await?;
        if subjects.is_empty() {
            self.finished = true;
            self.encoder.finish();
            tracing::info!(rows = self.rows, format = ?self.spec.format, "attendance report streamed");
            return Ok(Some(self.encoder.take()?));
        }
        let rows = self.page_rows(&subjects).await?;
        self.audit(&rows).await?;
        for row in &rows {
            self.encoder.row(row)?;
        }
        self.rows += rows.len() as u64;
        Ok(Some(self.encoder.take()?))
    }

    /// The rows of one page of users, grouped by user in page order.
    async fn page_rows(&self, subjects: &[ReportSubject]) -> Result<Vec<ReportRow>> {
        let ids: Vec<Uuid> = subjects.iter().map(|s| s.id).collect();
        let sight = crate::visibility::sight(&*self.repo, &self.caller, &[Family::Location], &ids).await?;
        Ok(judge_page(
            &*self.repo,
            self.caller.org_id,
            self.spec.org_timezone,
            subjects,
            self.spec.range,
            |id| sight.sees(Family::Location, id),
        )
        .await?)
    }

    /// One `location.disclosed` entry per other user whose location these rows show,
    /// written before the rows leave: if the audit cannot be written, nothing is disclosed.
    async fn audit(&self, rows: &[ReportRow]) -> Result<()> {
        let mut disclosures = Disclosures::new(self.caller.audit());
        let object = format!("attendance_report:{}..{}", self.spec.range.from(), self.spec.range.to());
        for row in rows.iter().filter(|r| discloses_location(r)) {
            disclosures.record(Action::LocationDisclosed, row.user_id, Some(object.clone()));
        }
        Ok(disclosures.write(&*self.repo).await?)
    }

    /// The whole answer as a stream of byte chunks. A failure after the first chunk can no
    /// longer change the status line, so it is logged and the stream is cut: the client sees
    /// a truncated body (no closing `]}` / a broken chunked encoding), never a complete-looking
    /// partial report.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, std::io::Error>> + 'static {
        futures_util::stream::try_unfold(self, |mut run| async move {
            match run.next_chunk().await {
                Ok(chunk) => Ok(chunk.map(|bytes| (bytes, run))),
                Err(e) => {
                    tracing::error!(error = ?e, "attendance report failed while streaming");
                    Err(std::io::Error::other("report failed"))
                }
            }
        })
    }
}
