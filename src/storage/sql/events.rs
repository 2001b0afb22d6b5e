// Attendance events (see `all.rs` for how this file is compiled).

const EVENT_COLUMNS: &str = "id, user_id, client_event_id, request_sha256, kind, captured_at, received_at, status, verdict,
    reasons, geofence_id, geofence_version, geofence_name, site_id, distance_m, lat, lon, accuracy_m, altitude_m, provider,
    is_mock, photo_id, source, request_id";

/// `EVENT_COLUMNS` with only the fix of an alias `e` read, every other column NULL: the
/// previous event's fix is all a look-up needs, so the database does not output (nor the
/// server decode) a whole event per check-in.
static FIX_COLUMNS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| event_columns_only(&["captured_at", "lat", "lon", "accuracy_m"]));

fn event_from_row(row: &<Db as sqlx::Database>::Row) -> Result<StoredEvent> {
    let corrupt = |what: &str, value: &str| StorageError::Corrupt(format!("attendance event {what} {value:?}"));
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let verdict: String = row.try_get("verdict")?;
    let source: String = row.try_get("source")?;
    let lat: Option<f64> = row.try_get("lat")?;
    let lon: Option<f64> = row.try_get("lon")?;
    let location = match (lat, lon) {
        (Some(lat), Some(lon)) => {
            let provider: Option<String> = row.try_get("provider")?;
            Some(Location {
                lat,
                lon,
                accuracy_m: row.try_get("accuracy_m")?,
                altitude_m: row.try_get("altitude_m")?,
                provider: provider.as_deref().and_then(Provider::parse),
                is_mock: row.try_get::<Option<bool>, _>("is_mock")?.unwrap_or(false),
            })
        }
        _ => None,
    };
    Ok(StoredEvent {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        client_event_id: row.try_get("client_event_id")?,
        request_sha256: row.try_get("request_sha256")?,
        kind: Kind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        captured_at: row.try_get::<Timestamp, _>("captured_at")?.0,
        received_at: row.try_get::<Timestamp, _>("received_at")?.0,
        status: Status::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        decision: Decision {
            verdict: parse_verdict(&verdict).ok_or_else(|| corrupt("verdict", &verdict))?,
            geofence_id: row.try_get("geofence_id")?,
            geofence_version: row.try_get("geofence_version")?,
            geofence_name: row.try_get("geofence_name")?,
            site_id: row.try_get("site_id")?,
            distance_m: row.try_get("distance_m")?,
            reasons: row
                .try_get::<sqlx::types::Json<Vec<Reason>>, _>("reasons")?
                .0,
        },
        location,
        photo_id: row.try_get("photo_id")?,
        source: Source::parse(&source).ok_or_else(|| corrupt("source", &source))?,
        request_id: row.try_get("request_id")?,
    })
}

async fn fetch_event_by_client_id(
    conn: &mut DbConn,
    org_id: Uuid,
    user_id: Uuid,
    client_event_id: Uuid,
) -> Result<Option<StoredEvent>> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM attendance_events WHERE org_id = $1 AND user_id = $2 AND client_event_id = $3"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .bind(user_id)
        .bind(client_event_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(event_from_row).transpose()
}

/// One group commit's events, one outcome each, in order.
async fn insert_events(held: Arc<Held>, events: Vec<NewEvent>) -> Vec<Result<InsertOutcome>> {
    match held.with(async |conn| insert_batch(conn, &events).await).await {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        // An event the database refuses (its user deleted a moment ago, say) fails the whole
        // statement: write the batch one by one so that it fails alone. Not when the database
        // is unreachable, where each retry would only wait out the pool's timeout again.
        Err(StorageError::Database(_)) if events.len() > 1 => {
            let mut outcomes = Vec::with_capacity(events.len());
            for event in &events {
                let one = held.with(async |conn| insert_batch(conn, std::slice::from_ref(event)).await);
                outcomes.push(one.await.map(|mut one| one.remove(0)));
            }
            outcomes
        }
        Err(err) => {
            let shared = err.to_string();
            let mut outcomes = vec![Err(err)];
            outcomes.extend((1..events.len()).map(|_| Err(StorageError::Unconfirmed(shared.clone()))));
            outcomes
        }
    }
}

/// `INSERT INTO attendance_events ... VALUES ...` for `events`: the one statement that
/// writes events, for the group commit and for an approved request's transaction alike.
fn event_insert(events: &[NewEvent]) -> QueryBuilder<Db> {
    let mut q = QueryBuilder::<Db>::new(
        "INSERT INTO attendance_events (id, org_id, user_id, client_event_id, request_sha256, kind, captured_at,
             received_at, status, verdict, reasons, geofence_id, geofence_version, geofence_name, site_id, distance_m,
             lat, lon, accuracy_m, altitude_m, provider, is_mock, device, note, photo_id, source, request_id) ",
    );
    q.push_values(events, |mut row, new| {
        let e = &new.event;
        let d = &e.decision;
        let l = e.location.as_ref();
        row.push_bind(e.id)
            .push_bind(new.org_id)
            .push_bind(e.user_id)
            .push_bind(e.client_event_id)
            .push_bind(e.request_sha256.clone())
            .push_bind(e.kind.as_str())
            .push_bind(Timestamp(e.captured_at))
            .push_bind(Timestamp(e.received_at))
            .push_bind(e.status.as_str())
            .push_bind(verdict_name(d.verdict))
            .push_bind(sqlx::types::Json(d.reasons.clone()))
            .push_bind(d.geofence_id)
            .push_bind(d.geofence_version)
            .push_bind(d.geofence_name.clone())
            .push_bind(d.site_id)
            .push_bind(d.distance_m)
            .push_bind(l.map(|l| l.lat))
            .push_bind(l.map(|l| l.lon))
            .push_bind(l.and_then(|l| l.accuracy_m))
            .push_bind(l.and_then(|l| l.altitude_m))
            .push_bind(l.and_then(|l| l.provider).map(|p| p.as_str()))
            .push_bind(l.map(|l| l.is_mock))
            .push_bind(new.device.clone().map(sqlx::types::Json))
            .push_bind(new.note.clone())
            .push_bind(e.photo_id)
            .push_bind(e.source.as_str())
            .push_bind(e.request_id);
    });
    q
}

/// Writes one event inside a caller's transaction (an approved request's), bypassing the
/// group commit: it must commit with the rest of that transaction or not at all. A
/// conflict on a unique key is an error here, not a skipped row.
async fn insert_event_in(conn: &mut DbConn, event: &NewEvent) -> Result<()> {
    event_insert(std::slice::from_ref(event)).build().execute(&mut *conn).await?;
    Ok(())
}

/// Inserts `events` with one statement, hence one commit. The unique keys decide conflicts
/// (`DO NOTHING` without a target covers both): a skipped row is either a user's repeated
/// `client_event_id` (concurrent retries store one row, every loser gets the winner's event)
/// or a photo already attached to another event.
async fn insert_batch(conn: &mut DbConn, events: &[NewEvent]) -> Result<Vec<InsertOutcome>> {
    let mut q = event_insert(events);
    // Only the ids come back: a stored row is exactly the event sent (times are already at
    // the microseconds the database keeps), so reading it back would only cost the database
    // the output of every column.
    q.push(" ON CONFLICT DO NOTHING RETURNING id");
    let inserted = q
        .build_query_scalar::<Uuid>()
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect::<std::collections::HashSet<Uuid>>();
    let mut outcomes = Vec::with_capacity(events.len());
    for new in events {
        outcomes.push(if inserted.contains(&new.event.id) {
            InsertOutcome::Inserted(new.event.clone())
        } else {
            skipped_outcome(conn, new).await?
        });
    }
    Ok(outcomes)
}

/// Why the insert skipped `new`: the user's event under its `client_event_id` (committed by
/// a concurrent twin or earlier in this very batch), else the photo is taken.
async fn skipped_outcome(conn: &mut DbConn, new: &NewEvent) -> Result<InsertOutcome> {
    let e = &new.event;
    match fetch_event_by_client_id(conn, new.org_id, e.user_id, e.client_event_id).await? {
        Some(existing) => Ok(InsertOutcome::Existing(existing)),
        None if e.photo_id.is_some() => Ok(InsertOutcome::PhotoTaken),
        None => Err(StorageError::Corrupt(
            "an attendance event conflicted with nothing".into(),
        )),
    }
}

/// One request's reads before its events are judged: the policy and the user's sites (unless
/// only looking up), and each item's `(client_event_id, captured_at)` look-ups.
#[derive(Debug)]
struct ReadRequest {
    org_id: Uuid,
    user_id: Uuid,
    policy: bool,
    items: Vec<(Uuid, DateTime<Utc>)>,
}

/// A [`ReadRequest`]'s answer: its policy and sites if asked for, and its items' contexts.
type ReadOutcome = (Option<PolicyAndSites>, Vec<EventContext>);

/// Look-ups per statement: five parameters each, well within both databases' limits however
/// many offline batches share a flush (with at most `database_read_batch_max` policies,
/// three parameters each, in the first statement).
const CONTEXTS_PER_STATEMENT: usize = 1000;

/// The reads of several requests: one statement unless their items run past
/// [`CONTEXTS_PER_STATEMENT`].
async fn fetch_reads(conn: &mut DbConn, requests: &[ReadRequest]) -> Result<Vec<ReadOutcome>> {
    let keys: Vec<(Uuid, Uuid)> = requests
        .iter()
        .filter(|r| r.policy)
        .map(|r| (r.org_id, r.user_id))
        .collect();
    let items: Vec<(Uuid, Uuid, Uuid, DateTime<Utc>)> = requests
        .iter()
        .flat_map(|r| r.items.iter().map(|(cid, at)| (r.org_id, r.user_id, *cid, *at)))
        .collect();
    let mut chunks = items.chunks(CONTEXTS_PER_STATEMENT);
    // The policies ride with the first chunk of look-ups.
    let (policies, mut contexts) = fetch_read_chunk(conn, &keys, chunks.next().unwrap_or_default()).await?;
    for chunk in chunks {
        contexts.extend(fetch_read_chunk(conn, &[], chunk).await?.1);
    }
    let (mut policies, mut contexts) = (policies.into_iter(), contexts.into_iter());
    Ok(requests
        .iter()
        .map(|r| {
            let policy = if r.policy { policies.next() } else { None };
            (policy, contexts.by_ref().take(r.items.len()).collect())
        })
        .collect())
}

/// `EVENT_COLUMNS` with only `keep` read of an alias `e`, every other column NULL.
fn event_columns_only(keep: &[&str]) -> String {
    EVENT_COLUMNS
        .split(',')
        .map(str::trim)
        .map(|c| {
            if keep.contains(&c) {
                format!("e.{c}")
            } else {
                format!("NULL AS {c}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The event columns of a row that answers with the policy: all NULL.
static NO_EVENT_COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| event_columns_only(&[]));

/// One statement, three kinds of row told apart by `part`:
/// 0. per `(org, user)` of `keys`, the org's policy with one of the user's sites (a NULL site
///    for a user without any); `slot` is the key's number;
/// 1. per item of `items` `(org, user, client_event_id, captured_at)`, the event under that
///    id; `slot` is the item's number;
/// 2. per item, the user's latest located event captured at or before that time.
///
/// Each keeps its own index: the primary key `(user_id, site_id)` of `user_sites` (SQLite,
/// given `org_id` too, preferred the `(org_id, site_id)` index and read every assignment of
/// the organisation per check-in), the unique key for the retry, and `(org_id, user_id,
/// captured_at, id)` for the fix, read newest first. Ids are UUIDv7, so among equal
/// `captured_at` the greatest id was recorded last. The policy rows come first: PostgreSQL
/// types a UNION's NULL columns from the branches before them, and only the event rows give
/// the event columns their types.
async fn fetch_read_chunk(
    conn: &mut DbConn,
    keys: &[(Uuid, Uuid)],
    items: &[(Uuid, Uuid, Uuid, DateTime<Utc>)],
) -> Result<(Vec<PolicyAndSites>, Vec<EventContext>)> {
    let mut policies: Vec<Option<PolicyAndSites>> = vec![None; keys.len()];
    let mut contexts = vec![EventContext::default(); items.len()];
    if keys.is_empty() && items.is_empty() {
        return Ok((Vec::new(), contexts));
    }
    let mut q = QueryBuilder::<Db>::new("WITH ");
    if !keys.is_empty() {
        q.push("keys (k, org, usr) AS (");
        q.push_values(keys.iter().enumerate(), |mut row, (k, (org_id, user_id))| {
            row.push_bind(k as i32).push_bind(*org_id).push_bind(*user_id);
        });
        q.push(")");
    }
    if !items.is_empty() {
        q.push(if keys.is_empty() { "" } else { ", " });
        q.push("items (item, cid, bound, org, usr) AS (");
        q.push_values(items.iter().enumerate(), |mut row, (i, (org_id, user_id, client_event_id, at))| {
            row.push_bind(i as i32)
                .push_bind(*client_event_id)
                .push_bind(Timestamp(*at))
                .push_bind(*org_id)
                .push_bind(*user_id);
        });
        q.push(")");
    }
    if !keys.is_empty() {
        q.push(format_args!(
            " SELECT keys.k AS slot, 0 AS part, o.policy, s.site_id AS user_site, {} FROM keys
             JOIN orgs o ON o.id = keys.org
             LEFT JOIN user_sites s ON s.user_id = keys.usr",
            *NO_EVENT_COLUMNS
        ));
    }
    if !items.is_empty() {
        q.push(if keys.is_empty() { " " } else { " UNION ALL " });
        q.push(format_args!(
            "SELECT items.item AS slot, 1 AS part, NULL AS policy, NULL AS user_site, {EVENT_COLUMNS} FROM items
             JOIN attendance_events ON org_id = items.org AND user_id = items.usr AND client_event_id = items.cid
             UNION ALL
             SELECT items.item, 2, NULL, NULL, {} FROM items ",
            *FIX_COLUMNS
        ));
        let latest = |columns: &str| {
            format!(
                "SELECT {columns} FROM attendance_events p
                 WHERE p.org_id = items.org AND p.user_id = items.usr AND p.captured_at <= items.bound
                   AND p.lat IS NOT NULL AND p.lon IS NOT NULL
                 ORDER BY p.captured_at DESC, p.id DESC LIMIT 1"
            )
        };
        if HAS_LATERAL {
            q.push(format_args!(
                "CROSS JOIN LATERAL ({}) AS e",
                latest("p.captured_at, p.lat, p.lon, p.accuracy_m")
            ));
        } else {
            q.push(format_args!(
                "JOIN attendance_events AS e ON e.id = ({})",
                latest("p.id")
            ));
        }
    }
    for row in q.build().fetch_all(&mut *conn).await? {
        match row.try_get::<i32, _>("part")? {
            0 => {
                let slot = answered(&mut policies, &row, "slot", "a policy look-up")?;
                let (_, sites) = match slot {
                    Some(found) => found,
                    None => slot.insert((row.try_get::<sqlx::types::Json<Policy>, _>("policy")?.0, Vec::new())),
                };
                if let Some(site) = row.try_get::<Option<Uuid>, _>("user_site")? {
                    sites.push(site);
                }
            }
            1 => answered(&mut contexts, &row, "slot", "an event look-up")?.existing = Some(event_from_row(&row)?),
            _ => {
                // Only the fix is read of the previous event: this runs on every check-in.
                // The query asked for located events; a stored point that no longer parses
                // is no previous fix.
                let (lat, lon): (Option<f64>, Option<f64>) = (row.try_get("lat")?, row.try_get("lon")?);
                answered(&mut contexts, &row, "slot", "an event look-up")?.previous =
                    match lat.zip(lon).map(|(lat, lon)| LatLon::new(lat, lon)) {
                        Some(Ok(point)) => Some(Fix {
                            point,
                            accuracy_m: row.try_get::<Option<f64>, _>("accuracy_m")?.unwrap_or(0.0),
                            at: row.try_get::<Timestamp, _>("captured_at")?.0,
                        }),
                        _ => None,
                    };
            }
        }
    }
    let policies = keys
        .iter()
        .zip(policies)
        .map(|((org_id, _), found)| {
            let (policy, mut sites) =
                found.ok_or_else(|| StorageError::Corrupt(format!("organisation {org_id} has no policy")))?;
            sites.sort();
            Ok((policy, sites))
        })
        .collect::<Result<_>>()?;
    Ok((policies, contexts))
}

impl SqlRepo {
    /// A request's reads, through the statement concurrent requests share.
    async fn read(&self, org_id: Uuid, user_id: Uuid, policy: bool, items: &[(Uuid, DateTime<Utc>)]) -> Result<ReadOutcome> {
        let request = ReadRequest {
            org_id,
            user_id,
            policy,
            items: items.to_vec(),
        };
        self.shared.reads.submit(request).await.map_err(stopped("check-in reader"))?
    }
}

#[async_trait]
impl EventStore for SqlRepo {
    async fn site_locations(
        &self,
        org_id: Uuid,
        site_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<EventLocation>> {
        let rows = sqlx::query(
            "SELECT id, lat, lon, accuracy_m FROM attendance_events
             WHERE org_id = $1 AND site_id = $2 AND captured_at >= $3 AND captured_at < $4
               AND lat IS NOT NULL AND lon IS NOT NULL
             ORDER BY captured_at, id LIMIT $5",
        )
        .bind(org_id)
        .bind(site_id)
        .bind(Timestamp(from))
        .bind(Timestamp(to))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut located = Vec::with_capacity(rows.len());
        for row in rows {
            // Stored points were validated on the way in; one that no longer parses is skipped.
            if let Ok(point) = LatLon::new(row.try_get("lat")?, row.try_get("lon")?) {
                let accuracy: Option<f64> = row.try_get("accuracy_m")?;
                located.push(EventLocation {
                    event_id: row.try_get("id")?,
                    point,
                    accuracy_m: accuracy.unwrap_or(0.0),
                });
            }
        }
        Ok(located)
    }

    async fn insert_event(&self, new: NewEvent) -> Result<InsertOutcome> {
        self.shared
            .events
            .submit(new)
            .await
            .map_err(|_| StorageError::Unconfirmed("the event writer stopped".into()))?
    }

    async fn check_in_reads(
        &self,
        org_id: Uuid,
        user_id: Uuid,
        items: &[(Uuid, DateTime<Utc>)],
    ) -> Result<CheckInReads> {
        let (policy, contexts) = self.read(org_id, user_id, true, items).await?;
        let (policy, sites) = policy.ok_or_else(|| StorageError::Corrupt("a policy read answered without one".into()))?;
        Ok(CheckInReads {
            policy,
            sites,
            contexts,
        })
    }

    async fn get_event(&self, org_id: Uuid, event_id: Uuid) -> Result<Option<StoredEvent>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM attendance_events WHERE org_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    async fn event_contexts(
        &self,
        org_id: Uuid,
        user_id: Uuid,
        items: &[(Uuid, DateTime<Utc>)],
    ) -> Result<Vec<EventContext>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.read(org_id, user_id, false, items).await?.1)
    }

    async fn list_events(&self, org_id: Uuid, filter: &EventFilter, page: PageRequest) -> Result<Page<StoredEvent>> {
        let mut q = QueryBuilder::<Db>::new("");
        if let EventScope::TeamOf(viewer) = filter.scope {
            push_team_cte(&mut q, org_id, viewer);
        }
        q.push(format_args!(
            "SELECT {EVENT_COLUMNS} FROM attendance_events WHERE org_id = "
        ))
        .push_bind(org_id);
        match filter.scope {
            EventScope::Org => {}
            EventScope::TeamOf(_) => {
                q.push(" AND user_id IN (SELECT id FROM team)");
            }
            EventScope::User(user_id) => {
                q.push(" AND user_id = ").push_bind(user_id);
            }
        }
        if let Some(from) = filter.from {
            q.push(" AND captured_at >= ").push_bind(Timestamp(from));
        }
        if let Some(to) = filter.to {
            q.push(" AND captured_at < ").push_bind(Timestamp(to));
        }
        if let Some(kind) = filter.kind {
            q.push(" AND kind = ").push_bind(kind.as_str());
        }
        if let Some(status) = filter.status {
            q.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(after) = page.after {
            // Keyset on (captured_at, id), located by the cursor's id: the cursor stays an
            // opaque id like every other list's.
            q.push(" AND (captured_at, id) > (SELECT captured_at, id FROM attendance_events WHERE org_id = ")
                .push_bind(org_id)
                .push(" AND id = ")
                .push_bind(after)
                .push(")");
        }
        q.push(" ORDER BY captured_at, id LIMIT ")
            .push_bind(i64::from(page.limit) + 1);
        let rows = q.build().fetch_all(&self.pool).await?;
        let items = rows.iter().map(event_from_row).collect::<Result<Vec<_>>>()?;
        Ok(into_page(items, page.limit, |e| e.id))
    }
}
