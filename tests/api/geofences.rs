//! Sites and geofences over HTTP: drawing, validation, versions, import, test, simulate.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::TestApp;

/// A square of about 1.1 km around (12.97, 77.59), Bangalore.
fn square() -> Value {
    json!({"type": "Polygon", "coordinates": [[[77.585, 12.965], [77.595, 12.965], [77.595, 12.975], [77.585, 12.975], [77.585, 12.965]]]})
}

async fn site(app: &TestApp, admin: &str, name: &str) -> String {
    let site = app
        .post("/v1/sites", admin, json!({"name": name, "timezone": "Asia/Kolkata"}))
        .await
        .expect(201);
    site["id"].as_str().unwrap().to_owned()
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

backend_tests! {
    async fn sites_and_fences_are_drawn_versioned_and_retired(app: TestApp) {
        let admin = app.admin().await;
        let site_id = site(&app, &admin, "HQ").await;
        assert_eq!(app.get(&format!("/v1/sites/{site_id}"), &admin).await.expect(200)["timezone"], "Asia/Kolkata");
        let renamed = app.patch(&format!("/v1/sites/{site_id}"), &admin, json!({"name": "Head office"})).await.expect(200);
        assert_eq!(renamed["name"], "Head office");
        let fence = app.post("/v1/geofences", &admin, json!({"site_id": site_id, "name": "Campus", "geometry": square()})).await.expect(201);
        assert_eq!(fence["version"], 1);
        assert_eq!(fence["active"], true);
        assert_eq!(fence["geometry"], square());
        let area = fence["area_m2"].as_f64().unwrap();
        // 0.01° × 0.01° at 13° N: about 1,085 m × 1,106 m on the ellipsoid.
        assert!((area - 1_200_000.0).abs() / 1_200_000.0 < 0.02, "area {area}");
        let id = fence["id"].as_str().unwrap();
        let circle = json!({"type": "Circle", "center": [77.59, 12.97], "radius_m": 150});
        let v2 = app.put(&format!("/v1/geofences/{id}"), &admin, json!({"geometry": circle})).await.expect(200);
        assert_eq!(v2["version"], 2);
        assert_eq!(v2["name"], "Campus");
        let retired = app.delete(&format!("/v1/geofences/{id}"), &admin).await.expect(200);
        assert_eq!(retired["active"], false);
        assert_eq!(retired["version"], 3);
        let versions = app.get(&format!("/v1/geofences/{id}/versions"), &admin).await.expect(200);
        let items = versions["items"].as_array().unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0]["geometry"], square());
        assert_eq!(items[1]["geometry"]["type"], "Circle");
        assert_eq!(items[2]["active"], false);
        assert_eq!(app.get(&format!("/v1/geofences?site_id={site_id}"), &admin).await.expect(200)["items"].as_array().unwrap().len(), 1);
        let audit = app.get("/v1/audit?action=geofence.updated", &admin).await.expect(200);
        assert_eq!(audit["items"].as_array().unwrap().len(), 1);
    }

    async fn every_geometry_rule_answers_422_with_where(app: TestApp) {
        let admin = app.admin().await;
        let site_id = site(&app, &admin, "HQ").await;
        let cases = [
            (json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}), "geometry.coordinates[0]"),
            (json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}), "geometry.coordinates[0]"),
            (json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}), "geometry.coordinates[0]"),
            (json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 91], [0, 1], [0, 0]]]}), "geometry.coordinates[0][2]"),
            (json!({"type": "Polygon", "coordinates": [[[0, 0], [400, 0], [1, 1], [0, 0]]]}), "geometry.coordinates[0][1]"),
            (json!({"type": "Polygon", "coordinates": [[[181, 0], [182, 0], [182, 1], [181, 1], [181, 0]]]}), "geometry.coordinates[0][0]"),
            (json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [2, 0], [0, 0]]]}), "geometry.coordinates[0]"),
            (json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]], [[5, 5], [6, 5], [6, 6], [5, 6], [5, 5]]]}), "geometry.coordinates[1]"),
            (json!({"type": "Circle", "center": [77.59, 12.97], "radius_m": 5}), "geometry.radius_m"),
            (json!({"type": "Circle", "center": [77.59, 12.97], "radius_m": 60000}), "geometry.radius_m"),
            (json!({"type": "Point", "coordinates": [0, 0]}), "geometry.type"),
            (json!({"type": "Polygon", "coordinates": [[[0, 0], [1, "x"], [1, 1], [0, 1], [0, 0]]]}), "geometry.coordinates[0][1]"),
        ];
        for (geometry, field) in cases {
            let problem = app.post("/v1/geofences", &admin, json!({"site_id": site_id, "name": "Bad", "geometry": geometry})).await.problem(422, "validation_failed");
            assert!(fields(&problem).iter().any(|f| f.starts_with(field)), "{geometry}: expected {field}, got {problem}");
        }
        let big: Vec<Value> = (0..10_001).map(|i| { let a = i as f64 / 10_001.0 * std::f64::consts::TAU; json!([a.cos(), a.sin()]) }).collect();
        let mut ring = big.clone();
        ring.push(big[0].clone());
        let problem = app.post("/v1/geofences", &admin, json!({"site_id": site_id, "name": "Huge", "geometry": {"type": "Polygon", "coordinates": [ring]}}))
            .await.problem(422, "validation_failed");
        assert!(fields(&problem)[0].starts_with("geometry"));
        let other_site = uuid::Uuid::now_v7();
        let problem = app.post("/v1/geofences", &admin, json!({"site_id": other_site, "name": "X", "geometry": square()})).await.problem(422, "validation_failed");
        assert_eq!(fields(&problem), ["site_id"]);
        assert!(app.get("/v1/geofences", &admin).await.expect(200)["items"].as_array().unwrap().is_empty(), "nothing was written");
    }

    async fn imports_are_all_or_nothing(app: TestApp) {
        let admin = app.admin().await;
        let site_id = site(&app, &admin, "HQ").await;
        let good = json!({"type": "Feature", "properties": {"name": "A"}, "geometry": square()});
        let bad = json!({"type": "Feature", "properties": {"name": "B"}, "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}});
        let problem = app.post(&format!("/v1/geofences:import?site_id={site_id}"), &admin, json!({"type": "FeatureCollection", "features": [good, bad]}))
            .await.problem(422, "validation_failed");
        assert!(fields(&problem)[0].starts_with("features[1].geometry"));
        assert!(app.get("/v1/geofences", &admin).await.expect(200)["items"].as_array().unwrap().is_empty());
        let circle = json!({"type": "Feature", "properties": {"name": "C"}, "geometry": {"type": "Circle", "center": [77.6, 12.98], "radius_m": 100}});
        let imported = app.post(&format!("/v1/geofences:import?site_id={site_id}"), &admin, json!({"type": "FeatureCollection", "features": [good, circle]}))
            .await.expect(201);
        let names: Vec<&str> = imported["items"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["A", "C"]);
        app.post(&format!("/v1/geofences:import?site_id={}", uuid::Uuid::now_v7()), &admin, json!({"type": "FeatureCollection", "features": [good]}))
            .await.problem(422, "validation_failed");
        app.post(&format!("/v1/geofences:import?site_id={site_id}"), &admin, json!({"type": "Feature"})).await.problem(422, "validation_failed");
    }

    async fn test_judges_a_location_without_recording_it(app: TestApp) {
        let admin = app.admin().await;
        let site_id = site(&app, &admin, "HQ").await;
        let fence = app.post("/v1/geofences", &admin, json!({"site_id": site_id, "name": "Campus", "geometry": square()})).await.expect(201);
        let (employee, employee_token) = app.user(&admin, "e@example.com", &["employee"], None).await;
        let inside = app.post("/v1/geofences:test", &employee_token, json!({"lat": 12.97, "lon": 77.59})).await.expect(200);
        assert_eq!(inside["verdict"], "inside");
        assert_eq!(inside["geofence_id"], fence["id"]);
        assert_eq!(inside["geofence_version"], 1);
        assert_eq!(inside["distance_m"], 0.0);
        assert_eq!(inside["reasons"], json!([]));
        let outside = app.post("/v1/geofences:test", &employee_token, json!({"lat": 12.98, "lon": 77.59, "accuracy_m": 150})).await.expect(200);
        assert_eq!(outside["verdict"], "outside");
        assert_eq!(outside["reasons"], json!(["outside_geofence", "accuracy_too_low"]));
        let d = outside["distance_m"].as_f64().unwrap();
        assert!((d - 556.0).abs() < 5.0, "distance {d}");
        // Judged against that user's sites: the employee has none.
        let id = employee["id"].as_str().unwrap();
        let none = app.post("/v1/geofences:test", &admin, json!({"lat": 12.97, "lon": 77.59, "user_id": id})).await.expect(200);
        assert_eq!(none["verdict"], "no_geofence");
        assert_eq!(none["reasons"], json!(["no_geofence_assigned"]));
        app.patch(&format!("/v1/users/{id}"), &admin, json!({"site_ids": [site_id]})).await.expect(200);
        let assigned = app.post("/v1/geofences:test", &admin, json!({"lat": 12.97, "lon": 77.59, "user_id": id})).await.expect(200);
        assert_eq!(assigned["verdict"], "inside");
        // Naming another user needs geofences.manage.
        let admin_id = app.get("/v1/me", &admin).await.expect(200)["id"].as_str().unwrap().to_owned();
        app.post("/v1/geofences:test", &employee_token, json!({"lat": 12.97, "lon": 77.59, "user_id": admin_id})).await.problem(403, "forbidden");
        let bad = app.post("/v1/geofences:test", &employee_token, json!({"lat": 91, "lon": -181, "accuracy_m": -1})).await.problem(422, "validation_failed");
        assert_eq!(fields(&bad), ["lat", "lon", "accuracy_m"]);
        // A changed fence applies to the next decision.
        app.put(&format!("/v1/geofences/{}", fence["id"].as_str().unwrap()), &admin, json!({"geometry": {"type": "Circle", "center": [77.59, 12.98], "radius_m": 100}})).await.expect(200);
        let moved = app.post("/v1/geofences:test", &employee_token, json!({"lat": 12.98, "lon": 77.59})).await.expect(200);
        assert_eq!(moved["verdict"], "inside");
        assert_eq!(moved["geofence_version"], 2);
    }

    async fn fences_are_readable_by_employees_and_managed_by_admins_only(app: TestApp) {
        let admin = app.admin().await;
        let site_id = site(&app, &admin, "HQ").await;
        let fence = app.post("/v1/geofences", &admin, json!({"site_id": site_id, "name": "Campus", "geometry": square()})).await.expect(201);
        let id = fence["id"].as_str().unwrap();
        let (_, employee) = app.user(&admin, "e@example.com", &["employee"], None).await;
        app.get(&format!("/v1/geofences/{id}"), &employee).await.expect(200);
        app.get("/v1/sites", &employee).await.expect(200);
        app.post("/v1/sites", &employee, json!({"name": "Mine", "timezone": "UTC"})).await.problem(403, "forbidden");
        app.post("/v1/geofences", &employee, json!({"site_id": site_id, "name": "X", "geometry": square()})).await.problem(403, "forbidden");
        app.put(&format!("/v1/geofences/{id}"), &employee, json!({"name": "X"})).await.problem(403, "forbidden");
        app.delete(&format!("/v1/geofences/{id}"), &employee).await.problem(403, "forbidden");
        let (_, manager) = app.user(&admin, "m@example.com", &["manager"], None).await;
        app.get(&format!("/v1/geofences/{id}"), &manager).await.problem(403, "forbidden");
        // Another tenant sees nothing, on every verb.
        let other = app.second_org("admin2@example.com").await;
        app.get(&format!("/v1/geofences/{id}"), &other).await.problem(404, "not_found");
        app.get(&format!("/v1/geofences/{id}/versions"), &other).await.problem(404, "not_found");
        app.put(&format!("/v1/geofences/{id}"), &other, json!({"name": "pwned"})).await.problem(404, "not_found");
        app.delete(&format!("/v1/geofences/{id}"), &other).await.problem(404, "not_found");
        app.get(&format!("/v1/sites/{site_id}"), &other).await.problem(404, "not_found");
        app.patch(&format!("/v1/sites/{site_id}"), &other, json!({"name": "pwned"})).await.problem(404, "not_found");
        app.post(&format!("/v1/geofences/{id}:simulate"), &other, json!({"geometry": square(), "from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}))
            .await.problem(404, "not_found");
        let tested = app.post("/v1/geofences:test", &other, json!({"lat": 12.97, "lon": 77.59})).await.expect(200);
        assert_eq!(tested["verdict"], "no_geofence", "another org's fences never judge");
        assert_eq!(app.get(&format!("/v1/geofences/{id}"), &admin).await.expect(200)["name"], "Campus");
    }

    async fn simulate_validates_its_window_and_geometry(app: TestApp) {
        let admin = app.admin().await;
        let site_id = site(&app, &admin, "HQ").await;
        let fence = app.post("/v1/geofences", &admin, json!({"site_id": site_id, "name": "Campus", "geometry": square()})).await.expect(201);
        let path = format!("/v1/geofences/{}:simulate", fence["id"].as_str().unwrap());
        let result = app.post(&path, &admin, json!({"geometry": square(), "from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00+05:30"})).await.expect(200);
        assert_eq!(result, json!({"events_considered": 0, "changed": 0, "changed_event_ids": []}));
        let bad = app.post(&path, &admin, json!({"geometry": {"type": "Circle", "center": [0, 0], "radius_m": 1}, "from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}))
            .await.problem(422, "validation_failed");
        assert_eq!(fields(&bad), ["geometry.radius_m", "to"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_replicas_learn_of_fence_changes_at_once() {
    // Only PostgreSQL is shared by replicas; SQLite belongs to one process.
    let Some(app) = TestApp::spawn_with(crate::common::Backend::Postgres, |s| s.geofence_cache_max_age_s = 3600).await
    else {
        return;
    };
    let admin = app.admin().await;
    // The replica listens on its own URL, as behind a transaction-mode pooler; the name
    // marks that connection so the test can tell it is the one in use.
    let listen_url = format!("{}?application_name=muster_listener", app.settings.database_url);
    let replica = app.replica_with(|s| s.database_listen_url = Some(listen_url)).await;
    let site_id = site(&app, &admin, "HQ").await;
    let test = |lat: f64| {
        let client = app.client.clone();
        let url = format!("{replica}/v1/geofences:test");
        let admin = admin.clone();
        async move {
            client
                .post(url)
                .bearer_auth(admin)
                .json(&json!({"lat": lat, "lon": 77.59}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        test(12.97).await["verdict"],
        "no_geofence",
        "the replica caches an empty index"
    );
    let fence = app
        .post(
            "/v1/geofences",
            &admin,
            json!({"site_id": site_id, "name": "Campus", "geometry": square()}),
        )
        .await
        .expect(201);
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&app.settings.database_url)
        .await
        .unwrap();
    // The listener connects in the background at start-up: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let listeners: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'muster_listener'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if listeners == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no LISTEN connection on MUSTER_DATABASE_LISTEN_URL"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while test(12.97).await["verdict"] != "inside" {
        assert!(
            std::time::Instant::now() < deadline,
            "the replica never saw the new fence"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.delete(&format!("/v1/geofences/{}", fence["id"].as_str().unwrap()), &admin)
        .await
        .expect(200);
    while test(12.97).await["verdict"] != "no_geofence" {
        assert!(
            std::time::Instant::now() < deadline,
            "the replica never saw the retirement"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = app.send(Method::GET, "/healthz", None, None).await;
}
