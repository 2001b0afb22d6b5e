//! Reads that concurrent requests share (`storage::batcher`): the caller, the policy and
//! sites, and the event look-ups each run as one statement for many requests. Whatever a
//! statement's mix of users, sessions and organisations, every request must get its own
//! answer, exactly as if it had read alone.

use base64::Engine;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, join_all};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::PASSWORD;
use muster::access::Permission;
use muster::storage::Repo;
use muster::storage::users::UserStatus;

/// The session (refresh family) a token belongs to.
fn session_of(token: &str) -> Uuid {
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["sid"].as_str().unwrap().parse().unwrap()
}

fn id(user: &Value) -> Uuid {
    user["id"].as_str().unwrap().parse().unwrap()
}

/// The calls `make` builds, `rounds` times over and all at once, so that the shared reads
/// batch them: every answer must be the one the call expects.
async fn all_at_once<'a, T: PartialEq + std::fmt::Debug>(rounds: usize, make: impl Fn() -> Vec<(BoxFuture<'a, T>, T)>) {
    let (futures, expected): (Vec<_>, Vec<_>) = (0..rounds).flat_map(|_| make()).unzip();
    for (i, (got, want)) in join_all(futures).await.into_iter().zip(expected).enumerate() {
        assert_eq!(got, want, "answer {i} went to the wrong request");
    }
}

backend_tests! {
    async fn concurrent_callers_each_get_their_own_principal(app: TestApp) {
        let admin = app.admin().await;
        let (manager, manager_token) = app.user(&admin, "manager@example.com", &["manager"], None).await;
        let (employee, employee_token) = app.user(&admin, "employee@example.com", &["employee"], Some(manager["id"].as_str().unwrap())).await;
        let (leaver, leaver_token) = app.user(&admin, "leaver@example.com", &["employee"], None).await;
        let ended_token = app.login("employee@example.com", PASSWORD).await;
        app.post("/v1/auth/logout", &ended_token, json!({})).await.expect(204);
        app.post(&format!("/v1/users/{}/disable", leaver["id"].as_str().unwrap()), &admin, json!({})).await.expect(200);
        let repo = muster::startup::open_repo(&app.settings).await.expect("repo");

        // (user, manager, status, two permissions) of an answer.
        let summary = |repo: std::sync::Arc<dyn Repo>, user: Uuid, session: Uuid| async move {
            repo.principal(user, session).await.expect("principal").map(|p| {
                (
                    p.user_id,
                    p.manager_id,
                    p.status,
                    p.permissions.contains(Permission::AttendanceRecord),
                    p.permissions.contains(Permission::ReportsReadTeam),
                )
            })
        };
        let (e, m, l) = (id(&employee), id(&manager), id(&leaver));
        all_at_once(20, || {
            vec![
                (summary(repo.clone(), e, session_of(&employee_token)).boxed(), Some((e, Some(m), UserStatus::Active, true, false))),
                (summary(repo.clone(), m, session_of(&manager_token)).boxed(), Some((m, None, UserStatus::Active, false, true))),
                // Disabling a user ends their sessions.
                (summary(repo.clone(), l, session_of(&leaver_token)).boxed(), None),
                // A session of someone else, an ended one, an unknown user: nobody.
                (summary(repo.clone(), e, session_of(&manager_token)).boxed(), None),
                (summary(repo.clone(), e, session_of(&ended_token)).boxed(), None),
                (summary(repo.clone(), Uuid::now_v7(), session_of(&employee_token)).boxed(), None),
            ]
        })
        .await;
        // And over HTTP, the answers a mix of callers gets at once.
        let me = |token: String| {
            let app = &app;
            async move { app.get("/v1/me", &token).await.status.as_u16() }
        };
        let answers = join_all((0..10).flat_map(|_| {
            [me(employee_token.clone()), me(manager_token.clone()), me(leaver_token.clone()), me(ended_token.clone())]
        }))
        .await;
        assert!(answers.chunks(4).all(|a| a == [200, 200, 401, 401]), "{answers:?}");
    }

    async fn concurrent_check_ins_each_get_their_own_policy_sites_and_look_ups(app: TestApp) {
        let admin = app.admin().await;
        let site = |name: &'static str| {
            let app = &app;
            let admin = admin.clone();
            async move {
                let site = app.post("/v1/sites", &admin, json!({"name": name, "timezone": "UTC"})).await.expect(201);
                site["id"].as_str().unwrap().parse::<Uuid>().unwrap()
            }
        };
        let (north, south) = (site("North").await, site("South").await);
        let (one, one_token) = app.user(&admin, "one@example.com", &["employee"], None).await;
        let (two, two_token) = app.user(&admin, "two@example.com", &["employee"], None).await;
        let (none, _) = app.user(&admin, "none@example.com", &["employee"], None).await;
        app.patch(&format!("/v1/users/{}", one["id"].as_str().unwrap()), &admin, json!({"site_ids": [north]})).await.expect(200);
        app.patch(&format!("/v1/users/{}", two["id"].as_str().unwrap()), &admin, json!({"site_ids": [south, north]})).await.expect(200);
        let other_admin = app.second_org("other-admin@example.com").await;
        let other_org: Uuid = app.get("/v1/org", &other_admin).await.expect(200)["id"].as_str().unwrap().parse().unwrap();
        let other = app.create_user(&other_admin, "other@example.com", &["employee"], None).await;
        let mut strict = app.get("/v1/policy", &other_admin).await.expect(200);
        strict["geofence_mode"] = json!("enforce");
        app.put("/v1/policy", &other_admin, strict).await.expect(200);
        let org: Uuid = app.get("/v1/org", &admin).await.expect(200)["id"].as_str().unwrap().parse().unwrap();
        let repo = muster::startup::open_repo(&app.settings).await.expect("repo");

        let policy = |repo: std::sync::Arc<dyn Repo>, org: Uuid, user: Uuid| async move {
            // With a look-up beside, as a check-in reads them: each request gets its own of both.
            let reads = repo.check_in_reads(org, user, &[(Uuid::now_v7(), chrono::Utc::now())]).await.expect("reads");
            assert!(matches!(reads.contexts.as_slice(), [c] if c.existing.is_none()), "{:?}", reads.contexts);
            (serde_json::to_value(reads.policy.geofence_mode).unwrap(), reads.sites)
        };
        let mut both = vec![north, south];
        both.sort();
        all_at_once(20, || {
            vec![
                (policy(repo.clone(), org, id(&one)).boxed(), (json!("flag"), vec![north])),
                (policy(repo.clone(), org, id(&two)).boxed(), (json!("flag"), both.clone())),
                (policy(repo.clone(), org, id(&none)).boxed(), (json!("flag"), vec![])),
                (policy(repo.clone(), other_org, id(&other)).boxed(), (json!("enforce"), vec![])),
            ]
        })
        .await;

        // Each user's look-ups find their own event under an id and their own previous fix.
        let event = |client_event_id: Uuid, at: &str, lat: f64| {
            json!({"client_event_id": client_event_id, "kind": "check_in", "captured_at": at,
                   "location": {"lat": lat, "lon": 77.59, "accuracy_m": 5.0}})
        };
        let (one_event, two_event) = (Uuid::now_v7(), Uuid::now_v7());
        let now = chrono::Utc::now();
        let earlier = (now - chrono::TimeDelta::minutes(10)).to_rfc3339();
        app.post("/v1/attendance/events", &one_token, event(one_event, &earlier, 12.97)).await.expect(201);
        app.post("/v1/attendance/events", &two_token, event(two_event, &earlier, 28.61)).await.expect(201);
        let look_up = |repo: std::sync::Arc<dyn Repo>, user: Uuid, client_event_id: Uuid| async move {
            let contexts = repo
                .event_contexts(org, user, &[(client_event_id, now), (Uuid::now_v7(), now)])
                .await
                .expect("look-up");
            contexts
                .into_iter()
                .map(|c| (c.existing.map(|e| e.client_event_id), c.previous.map(|f| f.point.lat())))
                .collect::<Vec<_>>()
        };
        all_at_once(20, || {
            vec![
                (look_up(repo.clone(), id(&one), one_event).boxed(), vec![(Some(one_event), Some(12.97)), (None, Some(12.97))]),
                (look_up(repo.clone(), id(&two), two_event).boxed(), vec![(Some(two_event), Some(28.61)), (None, Some(28.61))]),
                // Another user's id is not a retry of this user's, and their fixes are not theirs.
                (look_up(repo.clone(), id(&none), one_event).boxed(), vec![(None, None), (None, None)]),
            ]
        })
        .await;
    }
}

/// The shared statements keep their connections between flushes (`storage::sql::held`), but
/// not through a quiet second: after the database dropped every connection (a restart, a
/// failover) during one, the next check-in finds the pool's tested connections, not broken
/// kept ones. PostgreSQL only: nothing outside a SQLite process can drop its connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_check_ins_after_the_database_dropped_every_connection() {
    let Some(app) = crate::common::TestApp::spawn(crate::common::Backend::Postgres).await else {
        return;
    };
    let admin = app.admin().await;
    let (_, token) = app.user(&admin, "phone@example.com", &["employee"], None).await;
    let check_in = || {
        json!({"client_event_id": Uuid::now_v7(), "kind": "check_in", "captured_at": chrono::Utc::now().to_rfc3339(),
               "location": {"lat": 12.97, "lon": 77.59, "accuracy_m": 5.0}})
    };
    // Every shared statement (caller, check-in reads, insert) now keeps a connection.
    app.post("/v1/attendance/events", &token, check_in()).await.expect(201);
    app.sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    app.post("/v1/attendance/events", &token, check_in()).await.expect(201);
}

/// With the smallest pool there is, the shared statements take turns with its one free
/// connection and with every other query: a pool this small lends none for keeping, so
/// none waits out its acquire timeout behind another. (PostgreSQL's geofence listener
/// keeps a second connection for itself.)
async fn a_one_connection_pool_serves_check_ins_and_other_queries(backend: crate::common::Backend) {
    let Some(app) = crate::common::TestApp::spawn_with(backend, |s| {
        s.database_max_connections = match backend {
            crate::common::Backend::Sqlite => 1,
            crate::common::Backend::Postgres => 2,
        };
        // Long enough for one statement, short enough that a connection kept from the
        // others would fail this test quickly.
        s.database_acquire_timeout_s = 2;
    })
    .await
    else {
        return;
    };
    let admin = app.admin().await;
    let (_, token) = app.user(&admin, "phone@example.com", &["employee"], None).await;
    for _ in 0..3 {
        let event = json!({"client_event_id": Uuid::now_v7(), "kind": "check_in",
                           "captured_at": chrono::Utc::now().to_rfc3339(),
                           "location": {"lat": 12.97, "lon": 77.59, "accuracy_m": 5.0}});
        app.post("/v1/attendance/events", &token, event).await.expect(201);
        app.get("/v1/attendance/events", &token).await.expect(200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_one_connection_pool_serves_check_ins_and_other_queries() {
    a_one_connection_pool_serves_check_ins_and_other_queries(crate::common::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_one_connection_pool_serves_check_ins_and_other_queries() {
    a_one_connection_pool_serves_check_ins_and_other_queries(crate::common::Backend::Postgres).await;
}
