//! `GET /v1/me/export` and `GET /v1/users/{id}/export`: everything the server holds about a
//! person, as one JSON document, streamed.
//!
//! The document is written section by section while each section is paged out of the
//! database, so a long history never sits in memory: `{"exported_at", "profile", "events",
//! "event_details" (device and note of each event), "attendance_requests", "photos",
//! "app_logs", "disclosures"}`.
//! The subject's own data is shown in full (their
//! locations, device details, IP addresses), whoever asked with the right to ask.

use chrono::Utc;
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::attendance::redact::{Visibility, view};
use crate::audit::Action;
use crate::requests::view::view as request_view;
use crate::storage::applogs::AppLogFilter;
use crate::storage::audit::AuditFilter;
use crate::storage::events::{EventFilter, EventScope};
use crate::storage::requests::{RequestFilter, RequestScope};
use crate::storage::users::User;
use crate::storage::users::UserScope;
use crate::storage::{Page, PageRequest, Repo};
use std::sync::Arc;

/// Rows fetched per database round trip.
const PAGE: u32 = 500;

type Chunk = Result<bytes::Bytes, std::io::Error>;

/// A photo as the export lists it.
#[derive(Serialize)]
struct PhotoEntry {
    photo_id: Uuid,
    sha256: Option<String>,
    bytes: Option<i64>,
    content_type: Option<String>,
    created_at: chrono::DateTime<Utc>,
}

struct Writer {
    tx: mpsc::Sender<Chunk>,
    first: bool,
}

impl Writer {
    async fn raw(&mut self, text: String) -> bool {
        self.tx.send(Ok(bytes::Bytes::from(text))).await.is_ok()
    }

    /// Opens a JSON array member named `name`.
    async fn open(&mut self, name: &str) -> bool {
        self.first = true;
        self.raw(format!(",\"{name}\":[")).await
    }

    async fn item(&mut self, value: &impl Serialize) -> bool {
        let Ok(json) = serde_json::to_string(value) else {
            return false;
        };
        let sep = if std::mem::take(&mut self.first) { "" } else { "," };
        self.raw(format!("{sep}{json}")).await
    }

    async fn close(&mut self) -> bool {
        self.raw("]".to_owned()).await
    }

    /// Writes the array member `name` from every page `fetch` yields, each item through
    /// `map`; `false` once the client has gone away.
    async fn paged<T, V, Fut>(
        &mut self,
        name: &str,
        mut fetch: impl FnMut(PageRequest) -> Fut,
        mut map: impl FnMut(T) -> V,
    ) -> anyhow::Result<bool>
    where
        V: Serialize,
        Fut: Future<Output = crate::storage::Result<Page<T>>>,
    {
        if !self.open(name).await {
            return Ok(false);
        }
        let mut after = None;
        loop {
            let page = fetch(PageRequest { limit: PAGE, after }).await?;
            for item in page.items {
                if !self.item(&map(item)).await {
                    return Ok(false);
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(self.close().await),
            }
        }
    }
}

/// Streams the export of `subject`. A database failure mid-way ends the stream with an
/// error, so the client sees a broken download, never a silently truncated document.
pub fn stream(repo: Arc<dyn Repo>, subject: User) -> impl Stream<Item = Chunk> {
    let (tx, rx) = mpsc::channel::<Chunk>(8);
    tokio::spawn(async move {
        let error_tx = tx.clone();
        if let Err(e) = write(&*repo, subject, Writer { tx, first: true }).await {
            tracing::error!(error = %e, "export failed part-way");
            let _ = error_tx.send(Err(std::io::Error::other("export failed"))).await;
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) })
}

async fn write(repo: &dyn Repo, subject: User, mut out: Writer) -> anyhow::Result<()> {
    let (org_id, user_id) = (subject.org_id, subject.id);
    let head = serde_json::json!({ "exported_at": Utc::now(), "profile": subject });
    let head = head.to_string();
    // Reopen the object to append the streamed sections.
    if !out.raw(head[..head.len() - 1].to_owned()).await {
        return Ok(());
    }

    let events = EventFilter {
        scope: EventScope::User(user_id),
        from: None,
        to: None,
        kind: None,
        status: None,
    };
    let events = &events;
    let everything = Visibility {
        location: true,
        photo: true,
    };
    if !out
        .paged(
            "events",
            |page| repo.list_events(org_id, events, page),
            |e| view(e, everything),
        )
        .await?
    {
        return Ok(());
    }
    if !out
        .paged("event_details", |page| repo.event_details(org_id, user_id, page), |d| d)
        .await?
    {
        return Ok(());
    }

    let requests = RequestFilter {
        scope: RequestScope::User(user_id),
        status: None,
        from: None,
        to: None,
    };
    let requests = &requests;
    if !out
        .paged(
            "attendance_requests",
            |page| repo.list_requests(org_id, requests, page),
            |r| request_view(r, true),
        )
        .await?
    {
        return Ok(());
    }

    out.open("photos").await;
    for photo in repo.user_photos(org_id, user_id).await? {
        let entry = PhotoEntry {
            photo_id: photo.id,
            sha256: photo.sha256,
            bytes: photo.bytes,
            content_type: photo.content_type,
            created_at: photo.created_at,
        };
        out.item(&entry).await;
    }
    out.close().await;

    let logs = AppLogFilter {
        scope: UserScope::Org,
        user_id: Some(user_id),
        from: None,
        to: None,
        level: None,
    };
    let logs = &logs;
    if !out
        .paged("app_logs", |page| repo.list_app_logs(org_id, logs, page), |l| l)
        .await?
    {
        return Ok(());
    }
    let disclosures = AuditFilter {
        subject_id: Some(user_id),
        actions: Action::ALL
            .iter()
            .filter(|a| a.is_disclosure())
            .map(|a| a.as_str().to_owned())
            .collect(),
        ..AuditFilter::default()
    };
    let disclosures = &disclosures;
    if !out
        .paged("disclosures", |page| repo.list_audit(org_id, disclosures, page), |d| d)
        .await?
    {
        return Ok(());
    }
    out.raw("}".to_owned()).await;
    Ok(())
}
