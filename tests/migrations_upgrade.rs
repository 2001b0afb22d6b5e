//! Migrations that rebuild a table keep its rows: a database with attendance from before
//! `20261207000001` (SQLite rebuilds `attendance_events` there, having no
//! `DROP CONSTRAINT`) is migrated to the latest schema, and every row reads back as it was.
//! PostgreSQL's side of that migration alters the table in place, so SQLite is the case.

use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use uuid::Uuid;

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// The last version before the rebuild.
const BEFORE_REBUILD: i64 = 20261122000002;

/// Every column of every event, quoted by SQLite itself (`X'..'` blobs, `'..'` text, NULL),
/// in id order: two snapshots are equal exactly when no value changed.
const SNAPSHOT: &str = "SELECT quote(id) || quote(org_id) || quote(user_id) || quote(client_event_id)
        || quote(request_sha256) || quote(kind) || quote(captured_at) || quote(received_at)
        || quote(status) || quote(verdict) || quote(reasons) || quote(geofence_id)
        || quote(geofence_version) || quote(geofence_name) || quote(site_id) || quote(distance_m)
        || quote(lat) || quote(lon) || quote(accuracy_m) || quote(altitude_m) || quote(provider)
        || quote(is_mock) || quote(device) || quote(note) || quote(location_removed_at)
        || quote(photo_id)
    FROM attendance_events ORDER BY id";

async fn snapshot(conn: &mut SqliteConnection) -> Vec<String> {
    sqlx::query_scalar(SNAPSHOT).fetch_all(conn).await.expect("snapshot")
}

async fn exec(conn: &mut SqliteConnection, sql: &str, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    ids.iter()
        .fold(sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())), |q, id| q.bind(*id))
        .execute(conn)
        .await
        .map(|_| ())
}

/// An event row of `user` in `org`, with or without a photo and a location.
const INSERT_EVENT: &str = "INSERT INTO attendance_events (id, org_id, user_id, client_event_id, request_sha256,
        kind, captured_at, received_at, status, verdict, reasons, lat, lon, accuracy_m, provider, is_mock, device,
        note, photo_id)
    VALUES (?1, ?2, ?3, ?4, 'sha', 'check_in', '2026-12-01T03:30:00.000000Z', '2026-12-01T03:30:01.000000Z',
        'flagged', 'outside', '[\"outside_geofence\"]', 12.97, 77.59, 12.5, 'gps', 0, '{\"model\":\"x\"}', 'hi', ?5)";

#[tokio::test]
async fn rebuilding_attendance_events_keeps_every_row_and_rule() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("muster.db"))
        .create_if_missing(true)
        .foreign_keys(true);
    let mut conn = SqliteConnection::connect_with(&options).await.expect("open");
    SQLITE_MIGRATOR
        .run_to(BEFORE_REBUILD, &mut conn)
        .await
        .expect("the earlier migrations");

    let (org, user, photo) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    exec(
        &mut conn,
        "INSERT INTO orgs (id, name, timezone, policy, created_at, updated_at)
         VALUES (?1, 'Org', 'UTC', '{}', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z')",
        &[org],
    )
    .await
    .expect("org");
    exec(
        &mut conn,
        "INSERT INTO users (id, org_id, email, email_key, name, employee_code, status, created_at, updated_at)
         VALUES (?1, ?2, 'a@example.com', 'a@example.com', 'A', 'E1', 'active', '2026-12-01T00:00:00Z',
                 '2026-12-01T00:00:00Z')",
        &[user, org],
    )
    .await
    .expect("user");
    exec(
        &mut conn,
        "INSERT INTO photos (id, org_id, user_id, storage_key, status, created_at)
         VALUES (?1, ?2, ?3, 'k', 'ready', '2026-12-01T00:00:00Z')",
        &[photo, org, user],
    )
    .await
    .expect("photo");
    let with_photo = INSERT_EVENT;
    exec(
        &mut conn,
        with_photo,
        &[Uuid::now_v7(), org, user, Uuid::now_v7(), photo],
    )
    .await
    .expect("an event with a photo");
    let without_photo = INSERT_EVENT.replace("?5)", "NULL)");
    for _ in 0..3 {
        exec(&mut conn, &without_photo, &[Uuid::now_v7(), org, user, Uuid::now_v7()])
            .await
            .expect("an event without a photo");
    }
    let before = snapshot(&mut conn).await;
    assert_eq!(before.len(), 4);

    SQLITE_MIGRATOR.run(&mut conn).await.expect("the later migrations");

    assert_eq!(snapshot(&mut conn).await, before, "the rebuild changed or lost a row");
    // The rules the rebuilt table must still hold: a photo belongs to one event, a
    // client_event_id is unique per user, and references are checked.
    let taken = exec(
        &mut conn,
        with_photo,
        &[Uuid::now_v7(), org, user, Uuid::now_v7(), photo],
    )
    .await;
    assert!(taken.is_err(), "a second event took the same photo");
    let repeated: Uuid = sqlx::query_scalar("SELECT client_event_id FROM attendance_events LIMIT 1")
        .fetch_one(&mut conn)
        .await
        .expect("a client_event_id");
    let twice = exec(&mut conn, &without_photo, &[Uuid::now_v7(), org, user, repeated]).await;
    assert!(twice.is_err(), "a client_event_id was stored twice for one user");
    let stranger = exec(
        &mut conn,
        &without_photo,
        &[Uuid::now_v7(), org, Uuid::now_v7(), Uuid::now_v7()],
    )
    .await;
    assert!(stranger.is_err(), "an event of no user was stored");
    let violations: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
        .fetch_all(&mut conn)
        .await
        .expect("foreign key check");
    assert!(
        violations.is_empty(),
        "dangling references after the rebuild: {violations:?}"
    );
}
