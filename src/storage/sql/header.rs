// Imports and helpers shared by the included SQL files (see `all.rs`).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sqlx::{Connection, QueryBuilder, Row};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

use crate::access::{Permission, PermissionSet, Relation, Role};
use crate::geofence::LatLon;
use crate::storage::applogs::{AppLog, AppLogFilter, AppLogStore, Device, Level, NewBatch};
use crate::storage::audit::{AuditEntry, AuditFilter, AuditStore};
use crate::storage::auto_check_out::AutoCheckOutStore;
use crate::storage::batcher::Batcher;
use crate::storage::events::{
    CheckInReads, Decision, EventContext, EventFilter, EventLocation, EventScope, EventStore, Fix, InsertOutcome, Kind, Location,
    NewEvent, Provider, Reason, Source, Status, StoredEvent, parse_verdict, verdict_name,
};
use crate::storage::orgs::{NewOrg, Org, OrgPatch, OrgStore, Policy};
use crate::storage::photos::{PhotoRecord, PhotoRecordStore, PhotoStatus};
use crate::storage::privacy::{EventDetails, PrivacyStore};
use crate::storage::reports::{EventKey, Place, ReportEvent, ReportStore, ReportSubject};
use crate::storage::requests::{
    FileOutcome, FilingContext, RequestFilter, RequestKind, RequestScope, RequestStatus, RequestStore, Resolution,
    ResolveOutcome, StoredRequest,
};
use crate::storage::shifts::{
    AssignOutcome, Assignment, AssignmentFilter, EndOutcome, Holiday, HolidayOutcome, ScheduleInputs, ShiftRules,
    ShiftStore, ShiftVersion, ShiftWrite, StoredShift, Target, Weekdays,
};
use crate::storage::sites::{
    FenceChange, FenceVersion, FenceWriteError, NewFence, NewSite, Site, SitePatch, SiteStore, StoredFence,
};
use crate::storage::tokens::{RefreshOutcome, TokenStore};
use crate::storage::users::{
    LoginRecord, NewUser, Principal, User, UserPatch, UserScope, UserStatus, UserStore, UserWriteError, email_key,
};
use crate::storage::error::StorageError;
use crate::storage::page::{Page, PageRequest};
use crate::storage::repo::{PoolStats, Repo};
use crate::storage::time::Timestamp;

type DbConn = <Db as sqlx::Database>::Connection;

/// The time zone of the first of a user `u`'s sites in `site_ids` order (by site id, as the
/// user object lists them), or NULL: with the org's zone as the fallback, the zone a user's
/// days are counted in (`storage::reports::user_timezone`). The index on user_sites
/// (user_id, site_id) answers it.
const FIRST_SITE_TIMEZONE: &str = "(SELECT s.timezone FROM user_sites us JOIN sites s ON s.org_id = us.org_id AND s.id = us.site_id
     WHERE us.user_id = u.id ORDER BY us.site_id LIMIT 1)";
/// The first of a user `u`'s sites by site id: their home site, whose zone and holidays
/// their days follow.
const FIRST_SITE_ID: &str = "(SELECT us.site_id FROM user_sites us WHERE us.user_id = u.id ORDER BY us.site_id LIMIT 1)";
type Tx = sqlx::Transaction<'static, Db>;
/// An organisation's policy and one of its users' sites.
type PolicyAndSites = (Policy, Vec<Uuid>);

/// How many statements [`Shared`] runs.
const SHARED_STATEMENTS: usize = 3;

/// The statements that concurrent requests share (see `storage::batcher`): what every
/// check-in reads and writes. Each kind is one statement per batch, whatever the batch's size.
struct Shared {
    /// Group commit in front of `attendance_events`.
    events: Batcher<NewEvent, Result<InsertOutcome>>,
    /// Callers by `(user, session)`: every authenticated request.
    principals: Batcher<(Uuid, Uuid), Result<Option<Principal>>>,
    /// A check-in's reads: policy and sites, and its events' look-ups (retry, previous fix).
    reads: Batcher<ReadRequest, Result<ReadOutcome>>,
    /// The connection each of them keeps between flushes.
    held: [Arc<Held>; SHARED_STATEMENTS],
}

impl Shared {
    fn spawn(pool: &Pool<Db>, options: &DbOptions) -> Self {
        let reads = options.read_batch_max;
        let held = Held::each(pool);
        let [events_conn, principals_conn, reads_conn] = held.clone();
        Shared {
            events: Batcher::spawn("event_insert", options.event_batch_max, move |batch| {
                insert_events(events_conn.clone(), batch)
            }),
            principals: Batcher::spawn("principal", reads, move |keys: Vec<(Uuid, Uuid)>| {
                let held = principals_conn.clone();
                async move {
                    let found = held.with(async |conn| fetch_principals(conn, &keys).await).await;
                    each_or_shared(keys.len(), found)
                }
            }),
            reads: Batcher::spawn("check_in_read", reads, move |requests: Vec<ReadRequest>| {
                let held = reads_conn.clone();
                async move {
                    let found = held.with(async |conn| fetch_reads(conn, &requests).await).await;
                    each_or_shared(requests.len(), found)
                }
            }),
            held,
        }
    }

    /// Gives back the connections the shared statements keep (`Pool::close` waits for them).
    fn release(&self) {
        self.held.iter().for_each(|held| held.release());
    }
}

/// Each request's own outcome of a shared read, or, when the statement failed, its cause for
/// all of them.
fn each_or_shared<R>(requests: usize, outcome: Result<Vec<R>>) -> Vec<Result<R>> {
    match outcome {
        Ok(each) => each.into_iter().map(Ok).collect(),
        Err(err) => {
            let cause = Arc::new(err);
            (0..requests).map(|_| Err(StorageError::Shared(cause.clone()))).collect()
        }
    }
}

/// The request a row of a shared read answers: the statement echoes each request's number
/// from its keys in `column`. `what` names the read in the error for a number that
/// matches no request.
fn answered<'s, T>(slots: &'s mut [T], row: &<Db as sqlx::Database>::Row, column: &str, what: &str) -> Result<&'s mut T> {
    usize::try_from(row.try_get::<i32, _>(column)?)
        .ok()
        .and_then(|k| slots.get_mut(k))
        .ok_or_else(|| StorageError::Corrupt(format!("{what} answered for no request")))
}

/// What one request of a shared read gets back when the reading task is gone.
fn stopped(what: &'static str) -> impl FnOnce(crate::storage::batcher::Gone) -> StorageError {
    move |_| StorageError::Stopped(what)
}

impl SqlRepo {
    async fn begin_write(&self) -> Result<Tx> {
        Ok(self.pool.begin_with(BEGIN_WRITE).await?)
    }
}

#[async_trait]
impl Repo for SqlRepo {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn ping(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        conn.ping().await?;
        Ok(())
    }

    async fn fence_changes(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Uuid>>> {
        self.listen_fence_changes().await
    }

    fn pool_stats(&self) -> PoolStats {
        let size = self.pool.size();
        // Read separately from `size`, so clamp: the two can straddle a connection's change.
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX).min(size);
        PoolStats {
            size,
            idle,
            in_use: size - idle,
            max: self.pool.options().get_max_connections(),
        }
    }

    async fn close(&self) {
        // Marks the pool closed first, so a flush ending meanwhile gives its connection back.
        let closing = self.pool.close();
        self.shared.release();
        closing.await;
    }
}

/// The constraint (PostgreSQL) or column list (SQLite) behind a unique violation.
fn unique_violation(e: &sqlx::Error) -> Option<String> {
    let db = e.as_database_error()?;
    if !db.is_unique_violation() {
        return None;
    }
    Some(
        db.constraint()
            .map(str::to_owned)
            .unwrap_or_else(|| db.message().to_owned()),
    )
}

/// Splits one extra row off a `LIMIT n + 1` query into the next-page cursor.
fn into_page<T>(mut items: Vec<T>, limit: u32, id: impl Fn(&T) -> Uuid) -> Page<T> {
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(&id)
    } else {
        None
    };
    Page { items, next }
}

async fn insert_audit(conn: &mut DbConn, entries: &[AuditEntry]) -> Result<()> {
    for e in entries {
        sqlx::query(
            "INSERT INTO audit_log (id, org_id, at, actor_id, subject_id, action, object_id, request_id, ip, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(e.id)
        .bind(e.org_id)
        .bind(Timestamp(e.at))
        .bind(e.actor_id)
        .bind(e.subject_id)
        .bind(&e.action)
        .bind(&e.object_id)
        .bind(&e.request_id)
        .bind(&e.ip)
        .bind(sqlx::types::Json(&e.detail))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Starts `q` with the CTE `team(id)`: `viewer` and everyone whose manager chain contains
/// them, within `org_id` (the `team` scope). `UNION`, not `UNION ALL`, ends the walk even if
/// a cycle ever slipped into the data.
fn push_team_cte(q: &mut QueryBuilder<Db>, org_id: Uuid, viewer: Uuid) {
    q.push("WITH RECURSIVE team(id) AS (SELECT id FROM users WHERE org_id = ")
        .push_bind(org_id)
        .push(" AND id = ")
        .push_bind(viewer)
        .push(" UNION SELECT u.id FROM users u JOIN team t ON u.manager_id = t.id WHERE u.org_id = ")
        .push_bind(org_id)
        .push(") ");
}

/// `VALUES ($a), ($b), ...` for a one-column CTE (`WITH ids(id) AS (VALUES ...)`), to join
/// against rather than filter with `IN (...)`. PostgreSQL switches a prepared statement to a
/// generic plan after a few runs, and its generic plan for `col IN ($2, ..., $133)` scans the
/// whole org and compares every row with every parameter (330 ms instead of 20 ms for one
/// report page of 132 users); a joined VALUES list has an exact row count in any plan.
fn push_values<T>(q: &mut QueryBuilder<Db>, values: &[T])
where
    T: for<'t> sqlx::Encode<'t, Db> + sqlx::Type<Db> + Clone,
{
    q.push("VALUES ");
    let mut rows = q.separated(", ");
    for value in values {
        rows.push("(");
        rows.push_bind_unseparated(value.clone());
        rows.push_unseparated(")");
    }
}
