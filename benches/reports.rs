//! Attendance report over HTTP on PostgreSQL: `MUSTER_BENCH_POSTGRES_URL=postgres://... cargo
//! bench --bench reports` (skipped without the variable).
//!
//! A fresh database with 1,000 employees under one manager (ten leads of 99 each), half of
//! them on a site in Asia/Kolkata and half on the organisation's zone (UTC), and two events
//! per employee per day for 31 days (62,000 events; some flagged, a few rejected). The
//! server runs in-process on port 0; each iteration is one whole request, body read to the
//! end, as the client sees it:
//! * `org_json` / `org_csv`: HR, `scope=org` (no location rights: no relation query);
//! * `team_json`: the manager, `scope=team` (locations of direct reports: one relation
//!   query per page and a disclosure audit for the ten leads).
//!
//! Numbers are in docs/PERFORMANCE.md, section "Reports".

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use sqlx::Connection;

const PASSWORD: &str = "bench-password-long-enough";
const RANGE: &str = "from=2026-10-01&to=2026-10-31";

struct Bench {
    client: reqwest::Client,
    base: String,
    hr: String,
    manager: String,
    admin_url: String,
    database: String,
}

async fn post(client: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut req = client.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    assert!(res.status().is_success(), "{}", res.text().await.unwrap_or_default());
    res.json().await.expect("json")
}

async fn login(client: &reqwest::Client, base: &str, email: &str, password: &str) -> String {
    post(
        client,
        format!("{base}/v1/auth/login"),
        None,
        json!({"email": email, "password": password}),
    )
    .await["access_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

async fn setup(admin_url: String) -> Bench {
    let database = format!("muster_bench_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.expect("connect");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut admin)
        .await
        .expect("create database");
    let base_url = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b);
    let url = format!("{base_url}/{database}");
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let settings = muster::config::Settings {
        listen: "127.0.0.1:0".into(),
        database_url: url.clone(),
        photo_store: format!("file://{}", dir.join("photos").display()),
        data_dir: dir,
        jwt_secret: Some(muster::config::Secret::new("bench-secret-that-is-at-least-32-bytes")),
        bootstrap_admin_password: Some(muster::config::Secret::new(PASSWORD)),
        workers: Some(2),
        ..Default::default()
    };
    let app = muster::startup::Application::build(settings).await.expect("server");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let admin_token = login(&client, &base, "admin@example.com", PASSWORD).await;
    let user = |email: &str, roles: Value| json!({"email": email, "name": email, "employee_code": email, "roles": roles, "password": PASSWORD});
    post(
        &client,
        format!("{base}/v1/users"),
        Some(&admin_token),
        user("hr@bench.example", json!(["hr"])),
    )
    .await;
    let manager = post(
        &client,
        format!("{base}/v1/users"),
        Some(&admin_token),
        user("manager@bench.example", json!(["employee", "manager"])),
    )
    .await;
    let site = post(
        &client,
        format!("{base}/v1/sites"),
        Some(&admin_token),
        json!({"name": "Bangalore", "timezone": "Asia/Kolkata"}),
    )
    .await;
    let manager_id: uuid::Uuid = manager["id"].as_str().unwrap().parse().unwrap();
    let org_id: uuid::Uuid = manager["org_id"].as_str().unwrap().parse().unwrap();
    let site_id: uuid::Uuid = site["id"].as_str().unwrap().parse().unwrap();

    // The rest straight into the database: the bench measures reading, not writing.
    let mut db = sqlx::PgConnection::connect(&url).await.expect("connect");
    sqlx::query(
        "INSERT INTO users (id, org_id, email, email_key, name, employee_code, manager_id, status, created_at, updated_at)
         SELECT gen_random_uuid(), $1, 'e' || i || '@bench.example', 'e' || i || '@bench.example', 'Employee ' || i,
                'B' || lpad(i::text, 4, '0'), NULL, 'active', now(), now()
         FROM generate_series(0, 999) i",
    )
    .bind(org_id)
    .execute(&mut db)
    .await
    .expect("users");
    // Leads (codes B0000..B0009) report to the manager, everyone else to a lead.
    sqlx::query(
        "UPDATE users u SET manager_id = CASE WHEN substr(u.employee_code, 2)::int < 10 THEN $2
             ELSE (SELECT l.id FROM users l WHERE l.org_id = $1 AND l.employee_code = 'B000' || (substr(u.employee_code, 2)::int % 10)) END
         WHERE u.org_id = $1 AND u.employee_code LIKE 'B%'",
    )
    .bind(org_id)
    .bind(manager_id)
    .execute(&mut db)
    .await
    .expect("tree");
    sqlx::query(
        "INSERT INTO user_roles (org_id, user_id, role) SELECT org_id, id, 'employee' FROM users
         WHERE org_id = $1 AND employee_code LIKE 'B%'",
    )
    .bind(org_id)
    .execute(&mut db)
    .await
    .expect("roles");
    sqlx::query(
        "INSERT INTO user_sites (org_id, user_id, site_id) SELECT org_id, id, $2 FROM users
         WHERE org_id = $1 AND employee_code LIKE 'B%' AND substr(employee_code, 2)::int % 2 = 0",
    )
    .bind(org_id)
    .bind(site_id)
    .execute(&mut db)
    .await
    .expect("sites");
    sqlx::query(
        "INSERT INTO attendance_events (id, org_id, user_id, client_event_id, request_sha256, kind, captured_at,
             received_at, status, verdict, reasons, geofence_name, site_id, lat, lon, accuracy_m)
         SELECT gen_random_uuid(), u.org_id, u.id, gen_random_uuid(), 'bench', k.kind, t.at, t.at,
                CASE WHEN (d + n) % 50 = 0 THEN 'rejected' WHEN (d + n) % 7 = 0 THEN 'flagged' ELSE 'accepted' END,
                CASE WHEN (d + n) % 7 = 0 THEN 'outside' ELSE 'inside' END,
                CASE WHEN (d + n) % 7 = 0 THEN '[\"outside_geofence\"]'::jsonb ELSE '[]'::jsonb END,
                'Campus', NULL, 12.97 + n * 0.00001, 77.59, 10
         FROM (SELECT id, org_id, substr(employee_code, 2)::int AS n FROM users
               WHERE org_id = $1 AND employee_code LIKE 'B%') u
         CROSS JOIN generate_series(0, 30) d
         CROSS JOIN (VALUES ('check_in', interval '3 hours 30 minutes'), ('check_out', interval '12 hours')) k(kind, at_offset)
         CROSS JOIN LATERAL (SELECT timestamptz '2026-10-01 00:00:00+00' + d * interval '1 day' + k.at_offset
                                    + (n % 60) * interval '1 minute' AS at) t",
    )
    .bind(org_id)
    .execute(&mut db)
    .await
    .expect("events");
    sqlx::query("ANALYZE").execute(&mut db).await.expect("analyze");
    Bench {
        hr: login(&client, &base, "hr@bench.example", PASSWORD).await,
        manager: login(&client, &base, "manager@bench.example", PASSWORD).await,
        client,
        base,
        admin_url,
        database,
    }
}

async fn fetch(b: &Bench, token: &str, query: &str) -> usize {
    let res = b
        .client
        .get(format!("{}/v1/reports/attendance?{RANGE}&{query}", b.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("report");
    assert_eq!(res.status().as_u16(), 200);
    res.bytes().await.expect("body").len()
}

fn reports(c: &mut Criterion) {
    let Ok(admin_url) = std::env::var("MUSTER_BENCH_POSTGRES_URL") else {
        eprintln!("skipping the reports bench: MUSTER_BENCH_POSTGRES_URL is not set");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let bench = rt.block_on(setup(admin_url));
    let rows = rt.block_on(async {
        let body = bench
            .client
            .get(format!("{}/v1/reports/attendance?{RANGE}&scope=org", bench.base))
            .bearer_auth(&bench.hr)
            .send()
            .await
            .expect("report")
            .json::<Value>()
            .await
            .expect("json");
        body["items"].as_array().map_or(0, Vec::len)
    });
    eprintln!("report rows: {rows} (1,003 users × 31 days)");
    if std::env::var_os("MUSTER_BENCH_SETUP_ONLY").is_some() {
        eprintln!("set up database {}", bench.database);
        return;
    }
    if std::env::var_os("MUSTER_BENCH_TRACE").is_some() {
        // One request of each kind with the server's and sqlx's statement timings logged.
        muster::telemetry::init_logging(muster::config::LogFormat::Text);
        for (token, query) in [(&bench.hr, "scope=org"), (&bench.manager, "scope=team")] {
            let started = std::time::Instant::now();
            let bytes = rt.block_on(fetch(&bench, token, query));
            eprintln!("{query}: {bytes} bytes in {:?}", started.elapsed());
        }
    }
    let mut group = c.benchmark_group("attendance_report_1000_users_31_days");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("org_json", |b| {
        b.iter(|| rt.block_on(fetch(&bench, &bench.hr, "scope=org")))
    });
    group.bench_function("org_csv", |b| {
        b.iter(|| rt.block_on(fetch(&bench, &bench.hr, "scope=org&format=csv")))
    });
    group.bench_function("team_json", |b| {
        b.iter(|| rt.block_on(fetch(&bench, &bench.manager, "scope=team")))
    });
    group.finish();
    if std::env::var_os("MUSTER_BENCH_KEEP").is_some() {
        eprintln!("kept database {}", bench.database);
        return;
    }
    rt.block_on(async {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&bench.admin_url).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                bench.database
            )))
            .execute(&mut admin)
            .await;
        }
    });
}

criterion_group!(benches, reports);
criterion_main!(benches);
