//! Check-ins and check-outs over HTTP: every policy rule, mode and reason, idempotency
//! under concurrency, offline batches, bad input, scoped and redacted reads, and `:simulate`
//! over recorded events.

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::TestApp;

/// A square of about 1.1 km around (12.97, 77.59), Bangalore (as in the geofence tests).
fn square() -> Value {
    json!({"type": "Polygon", "coordinates": [[[77.585, 12.965], [77.595, 12.965], [77.595, 12.975], [77.585, 12.975], [77.585, 12.965]]]})
}

const IN: (f64, f64) = (12.97, 77.59);
/// About 556 m north of the square.
const OUT: (f64, f64) = (12.98, 77.59);

fn ago(seconds: i64) -> DateTime<Utc> {
    Utc::now() - TimeDelta::seconds(seconds)
}

fn event_at(point: (f64, f64), captured_at: DateTime<Utc>) -> Value {
    json!({
        "client_event_id": Uuid::now_v7(),
        "kind": "check_in",
        "captured_at": captured_at.to_rfc3339(),
        "location": {"lat": point.0, "lon": point.1, "accuracy_m": 10.0, "provider": "gps", "is_mock": false},
        "device": {"id": "device-1", "model": "Pixel 8", "os": "android", "os_version": "15", "app_version": "3.2.1"},
    })
}

/// The protobuf form of a JSON check-in built by `event_at`.
fn proto_event(json: &Value) -> muster::proto::v1::AttendanceEvent {
    use muster::proto::v1;
    let l = &json["location"];
    let d = &json["device"];
    let text = |v: &Value| v.as_str().map(str::to_owned);
    v1::AttendanceEvent {
        client_event_id: json["client_event_id"].as_str().unwrap().to_owned(),
        kind: json["kind"].as_str().unwrap().to_owned(),
        captured_at: json["captured_at"].as_str().unwrap().to_owned(),
        location: Some(v1::Location {
            lat: l["lat"].as_f64().unwrap(),
            lon: l["lon"].as_f64().unwrap(),
            accuracy_m: l["accuracy_m"].as_f64(),
            altitude_m: l["altitude_m"].as_f64(),
            provider: text(&l["provider"]),
            is_mock: l["is_mock"].as_bool().unwrap_or(false),
        }),
        device: Some(v1::Device {
            id: text(&d["id"]),
            model: text(&d["model"]),
            os: text(&d["os"]),
            os_version: text(&d["os_version"]),
            app_version: text(&d["app_version"]),
        }),
        photo_id: text(&json["photo_id"]),
        note: text(&json["note"]),
    }
}

struct World {
    admin: String,
    site_id: String,
    fence_id: String,
    employee_id: String,
    employee: String,
}

/// An org with one site fenced by `square()` and an employee assigned to it.
async fn world(app: &TestApp) -> World {
    let admin = app.admin().await;
    let site = app
        .post("/v1/sites", &admin, json!({"name": "HQ", "timezone": "Asia/Kolkata"}))
        .await
        .expect(201);
    let site_id = site["id"].as_str().unwrap().to_owned();
    let fence = app
        .post(
            "/v1/geofences",
            &admin,
            json!({"site_id": site_id, "name": "Campus", "geometry": square()}),
        )
        .await
        .expect(201);
    let (employee_id, employee) = assigned_user(app, &admin, "e@example.com", &["employee"], None, &site_id).await;
    World {
        admin,
        site_id,
        fence_id: fence["id"].as_str().unwrap().to_owned(),
        employee_id,
        employee,
    }
}

async fn assigned_user(
    app: &TestApp,
    admin: &str,
    email: &str,
    roles: &[&str],
    manager_id: Option<&str>,
    site_id: &str,
) -> (String, String) {
    let (user, token) = app.user(admin, email, roles, manager_id).await;
    let id = user["id"].as_str().unwrap().to_owned();
    app.patch(&format!("/v1/users/{id}"), admin, json!({"site_ids": [site_id]}))
        .await
        .expect(200);
    (id, token)
}

async fn set_policy(app: &TestApp, admin: &str, change: Value) {
    let mut policy = app.get("/v1/policy", admin).await.expect(200);
    for (k, v) in change.as_object().unwrap() {
        policy[k] = v.clone();
    }
    app.put("/v1/policy", admin, policy).await.expect(200);
}

async fn check_in(app: &TestApp, token: &str, body: &Value) -> Value {
    app.post("/v1/attendance/events", token, body.clone()).await.expect(201)
}

async fn events(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    app.get(&format!("/v1/attendance/events{query}"), token)
        .await
        .expect(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn reasons(event: &Value) -> Vec<String> {
    event["decision"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| a.iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

async fn raw_post(app: &TestApp, path: &str, token: &str, content_type: &str, body: Vec<u8>) -> crate::common::Answer {
    let res = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    TestApp::answer(res).await
}

backend_tests! {
    async fn a_check_in_inside_is_accepted_judged_and_readable(app: TestApp) {
        let w = world(&app).await;
        let body = event_at(IN, ago(5));
        let event = check_in(&app, &w.employee, &body).await;
        assert_eq!(event["status"], "accepted");
        assert_eq!(event["user_id"], w.employee_id.as_str());
        assert_eq!(event["client_event_id"], body["client_event_id"]);
        assert_eq!(event["kind"], "check_in");
        let d = &event["decision"];
        assert_eq!(d["verdict"], "inside");
        assert_eq!(d["geofence_id"], w.fence_id.as_str());
        assert_eq!(d["geofence_version"], 1);
        assert_eq!(d["geofence_name"], "Campus");
        assert_eq!(d["site_id"], w.site_id.as_str());
        assert_eq!(d["distance_m"], 0.0);
        assert_eq!(d["reasons"], json!([]));
        assert_eq!(event["location"], json!({"lat": 12.97, "lon": 77.59, "accuracy_m": 10.0, "altitude_m": null, "provider": "gps", "is_mock": false}));
        assert_eq!(event["location_redacted"], false);
        assert_eq!(event["photo_url"], Value::Null);
        let received = DateTime::parse_from_rfc3339(event["received_at"].as_str().unwrap()).unwrap();
        assert!((Utc::now() - received.with_timezone(&Utc)).num_seconds().abs() < 30, "received_at is the server's clock");
        let id = event["id"].as_str().unwrap();
        assert_eq!(app.get(&format!("/v1/attendance/events/{id}"), &w.employee).await.expect(200), event);
        assert_eq!(events(&app, &w.employee, "").await, std::slice::from_ref(&event));
        // A check-out the same way; a changed fence judges the next event with its new version.
        app.put(&format!("/v1/geofences/{}", w.fence_id), &w.admin, json!({"name": "Campus 2"})).await.expect(200);
        let mut out = event_at(IN, ago(1));
        out["kind"] = json!("check_out");
        let out = check_in(&app, &w.employee, &out).await;
        assert_eq!(out["kind"], "check_out");
        assert_eq!(out["decision"]["geofence_version"], 2);
        assert_eq!(out["decision"]["geofence_name"], "Campus 2");
    }

    async fn recording_needs_the_permission_and_a_token(app: TestApp) {
        let w = world(&app).await;
        let (_, manager) = app.user(&w.admin, "m@example.com", &["manager"], None).await;
        app.post("/v1/attendance/events", &manager, event_at(IN, ago(1))).await.problem(403, "forbidden");
        app.post("/v1/attendance/events:batch", &manager, json!({"events": []})).await.problem(403, "forbidden");
        let res = app.send(Method::POST, "/v1/attendance/events", None, Some(&event_at(IN, ago(1)))).await;
        res.problem(401, "unauthorized");
        // Forbidden callers learn nothing about the body (it is parsed after authorising).
        app.post("/v1/attendance/events", &manager, json!({"nonsense": true})).await.problem(403, "forbidden");
    }

    async fn flag_mode_flags_any_reason_and_keeps_the_distance(app: TestApp) {
        let w = world(&app).await;
        let event = check_in(&app, &w.employee, &event_at(OUT, ago(250))).await;
        assert_eq!(event["status"], "flagged");
        assert_eq!(event["decision"]["verdict"], "outside");
        assert_eq!(reasons(&event), ["outside_geofence"]);
        let d = event["decision"]["distance_m"].as_f64().unwrap();
        assert!((d - 556.0).abs() < 5.0, "distance {d}");
        assert_eq!(event["decision"]["geofence_id"], w.fence_id.as_str(), "the nearest fence");
        let mut rough = event_at(IN, ago(2));
        rough["location"]["accuracy_m"] = json!(150.0);
        let rough = check_in(&app, &w.employee, &rough).await;
        assert_eq!(rough["status"], "flagged");
        assert_eq!(rough["decision"]["verdict"], "inside");
        assert_eq!(reasons(&rough), ["accuracy_too_low"]);
    }

    async fn enforce_mode_rejects_but_still_records(app: TestApp) {
        let w = world(&app).await;
        set_policy(&app, &w.admin, json!({"geofence_mode": "enforce"})).await;
        let inside = check_in(&app, &w.employee, &event_at(IN, ago(200))).await;
        assert_eq!(inside["status"], "accepted");
        let outside = check_in(&app, &w.employee, &event_at(OUT, ago(100))).await;
        assert_eq!(outside["status"], "rejected");
        assert_eq!(reasons(&outside), ["outside_geofence"]);
        let mut rough = event_at(IN, ago(2));
        rough["location"]["accuracy_m"] = json!(101.0);
        let rough = check_in(&app, &w.employee, &rough).await;
        assert_eq!(rough["status"], "rejected", "inside but with a reason");
        assert_eq!(rough["decision"]["verdict"], "inside");
        let stored = events(&app, &w.employee, "").await;
        assert_eq!(stored.len(), 3, "rejected events are stored");
        assert_eq!(events(&app, &w.employee, "?status=rejected").await, [outside, rough]);
    }

    async fn off_mode_accepts_and_keeps_the_verdict(app: TestApp) {
        let w = world(&app).await;
        set_policy(&app, &w.admin, json!({"geofence_mode": "off"})).await;
        let event = check_in(&app, &w.employee, &event_at(OUT, ago(5))).await;
        assert_eq!(event["status"], "accepted");
        assert_eq!(event["decision"]["verdict"], "outside");
        assert_eq!(reasons(&event), ["outside_geofence"]);
    }

    async fn accuracy_rules_judge_the_accuracy_circle(app: TestApp) {
        let w = world(&app).await;
        // 50 m inside the northern edge (12.975), reported with ±80 m.
        let near_edge = (12.975 - 50.0 / 111_195.0, 77.59);
        let mut body = event_at(near_edge, ago(200));
        body["location"]["accuracy_m"] = json!(80.0);
        set_policy(&app, &w.admin, json!({"accuracy_rule": "strict"})).await;
        let strict = check_in(&app, &w.employee, &body).await;
        assert_eq!(strict["decision"]["verdict"], "uncertain");
        assert_eq!(reasons(&strict), ["uncertain_location"]);
        assert_eq!(strict["status"], "flagged");
        // 50 m outside the edge with ±80 m: lenient counts the touching circle as inside.
        let beyond = (12.975 + 50.0 / 111_195.0, 77.59);
        let mut body = event_at(beyond, ago(100));
        body["location"]["accuracy_m"] = json!(80.0);
        set_policy(&app, &w.admin, json!({"accuracy_rule": "lenient"})).await;
        let lenient = check_in(&app, &w.employee, &body).await;
        assert_eq!(lenient["decision"]["verdict"], "inside");
        assert_eq!(lenient["status"], "accepted");
        let d = lenient["decision"]["distance_m"].as_f64().unwrap();
        assert!((d - 50.0).abs() < 2.0, "distance of the reported point: {d}");
        set_policy(&app, &w.admin, json!({"accuracy_rule": "point", "max_accuracy_m": 50.0})).await;
        body["client_event_id"] = json!(Uuid::now_v7());
        body["captured_at"] = json!(ago(2).to_rfc3339());
        let point = check_in(&app, &w.employee, &body).await;
        assert_eq!(point["decision"]["verdict"], "outside");
        assert_eq!(reasons(&point), ["outside_geofence", "accuracy_too_low"]);
    }

    async fn mock_locations_are_a_reason_unless_the_policy_allows_them(app: TestApp) {
        let w = world(&app).await;
        let mut body = event_at(IN, ago(100));
        body["location"]["is_mock"] = json!(true);
        let mocked = check_in(&app, &w.employee, &body).await;
        assert_eq!(reasons(&mocked), ["mock_location"]);
        assert_eq!(mocked["status"], "flagged");
        assert_eq!(mocked["location"]["is_mock"], true);
        set_policy(&app, &w.admin, json!({"allow_mock_location": true})).await;
        body["client_event_id"] = json!(Uuid::now_v7());
        let allowed = check_in(&app, &w.employee, &body).await;
        assert_eq!(reasons(&allowed), Vec::<String>::new());
        assert_eq!(allowed["status"], "accepted");
    }

    async fn photo_required_and_no_geofence_assigned(app: TestApp) {
        let w = world(&app).await;
        set_policy(&app, &w.admin, json!({"require_photo": true})).await;
        let event = check_in(&app, &w.employee, &event_at(IN, ago(5))).await;
        assert_eq!(reasons(&event), ["photo_required"]);
        assert_eq!(event["status"], "flagged");
        set_policy(&app, &w.admin, json!({"require_photo": false, "geofence_mode": "enforce"})).await;
        let (_, unassigned) = app.user(&w.admin, "nosite@example.com", &["employee"], None).await;
        let event = check_in(&app, &unassigned, &event_at(IN, ago(5))).await;
        assert_eq!(event["decision"]["verdict"], "no_geofence");
        assert_eq!(event["decision"]["geofence_id"], Value::Null);
        assert_eq!(event["decision"]["distance_m"], Value::Null);
        assert_eq!(reasons(&event), ["no_geofence_assigned"]);
        assert_eq!(event["status"], "rejected");
    }

    async fn clock_skew_applies_ahead_always_and_behind_only_online(app: TestApp) {
        let w = world(&app).await;
        // Online: more than 300 s either way is skew; within it is not.
        let ahead = check_in(&app, &w.employee, &event_at(IN, ago(-600))).await;
        assert_eq!(reasons(&ahead), ["clock_skew"]);
        let behind = check_in(&app, &w.employee, &event_at(IN, ago(900))).await;
        assert_eq!(reasons(&behind), ["clock_skew"]);
        let fine = check_in(&app, &w.employee, &event_at(IN, ago(240))).await;
        assert_eq!(reasons(&fine), Vec::<String>::new());
        // Offline (batch): old is fine up to offline_max_age_h; ahead is still skew; older is stale.
        let batch = app.post("/v1/attendance/events:batch", &w.employee, json!({"events": [
            event_at(IN, ago(3 * 3600)),
            event_at(IN, ago(73 * 3600)),
            event_at(IN, ago(-3600)),
        ]})).await.expect(200);
        let results = batch["results"].as_array().unwrap();
        assert_eq!(reasons(&results[0]["event"]), Vec::<String>::new());
        assert_eq!(reasons(&results[1]["event"]), ["stale_offline_event"]);
        assert_eq!(results[1]["event"]["status"], "flagged");
        assert_eq!(reasons(&results[2]["event"]), ["clock_skew"]);
        // An online event older than the offline limit is both skewed and stale.
        let ancient = check_in(&app, &w.employee, &event_at(IN, ago(100 * 3600))).await;
        assert_eq!(reasons(&ancient), ["clock_skew", "stale_offline_event"]);
    }

    async fn impossible_travel_compares_with_the_previous_event_by_capture_time(app: TestApp) {
        let w = world(&app).await;
        const MUMBAI: (f64, f64) = (19.0760, 72.8777);
        // An offline queue sent out of order: judged by captured_at, so the Mumbai fix an
        // hour after the Bangalore one is the impossible one, whatever the order sent.
        let blr = event_at(IN, ago(7200));
        let bom = event_at(MUMBAI, ago(3600));
        let batch = app.post("/v1/attendance/events:batch", &w.employee, json!({"events": [bom, blr]})).await.expect(200);
        let results = batch["results"].as_array().unwrap();
        assert_eq!(results[0]["event"]["client_event_id"], bom["client_event_id"]);
        assert_eq!(reasons(&results[0]["event"]), ["outside_geofence", "impossible_travel"]);
        assert_eq!(reasons(&results[1]["event"]), Vec::<String>::new(), "the first event has no previous one");
        // Back in Bangalore an hour after Mumbai: impossible again (previous = Mumbai).
        let back = check_in(&app, &w.employee, &event_at(IN, ago(1))).await;
        assert_eq!(reasons(&back), ["impossible_travel"]);
        // A late offline event slotted before `back` is compared with its own predecessor
        // (Mumbai, 50 minutes earlier), not with the latest stored event.
        let slotted = app.post("/v1/attendance/events:batch", &w.employee, json!({"events": [event_at(MUMBAI, ago(600))]}))
            .await.expect(200);
        assert_eq!(reasons(&slotted["results"][0]["event"]), ["outside_geofence"]);
        // Two events at the same instant in different places are impossible; at the same place not.
        let t = ago(30);
        let (_, other) = assigned_user(&app, &w.admin, "o@example.com", &["employee"], None, &w.site_id).await;
        let first = check_in(&app, &other, &event_at(IN, t)).await;
        assert_eq!(reasons(&first), Vec::<String>::new());
        let same_place = check_in(&app, &other, &event_at(IN, t)).await;
        assert_eq!(reasons(&same_place), Vec::<String>::new());
        let elsewhere = check_in(&app, &other, &event_at(OUT, t)).await;
        assert_eq!(reasons(&elsewhere), ["outside_geofence", "impossible_travel"]);
        // A realistic walk is fine: 1.1 km in four minutes.
        let (_, walker) = assigned_user(&app, &w.admin, "w@example.com", &["employee"], None, &w.site_id).await;
        check_in(&app, &walker, &event_at(IN, ago(250))).await;
        let walked = check_in(&app, &walker, &event_at(OUT, ago(10))).await;
        assert_eq!(reasons(&walked), ["outside_geofence"]);
    }

    async fn retries_answer_the_original_and_reused_ids_conflict(app: TestApp) {
        let w = world(&app).await;
        let body = event_at(IN, ago(5));
        let first = check_in(&app, &w.employee, &body).await;
        let again = app.post("/v1/attendance/events", &w.employee, body.clone()).await.expect(200);
        assert_eq!(again, first, "the original answer");
        // The same instant written with another offset is the same request.
        let mut shifted = body.clone();
        let at = DateTime::parse_from_rfc3339(body["captured_at"].as_str().unwrap()).unwrap();
        let offset = chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
        shifted["captured_at"] = json!(at.with_timezone(&offset).to_rfc3339());
        assert_eq!(app.post("/v1/attendance/events", &w.employee, shifted).await.expect(200), first);
        let mut changed = body.clone();
        changed["location"]["lat"] = json!(12.971);
        let problem = app.post("/v1/attendance/events", &w.employee, changed).await.problem(409, "conflict");
        assert_eq!(fields(&problem), ["client_event_id"]);
        let mut changed = body.clone();
        changed["kind"] = json!("check_out");
        app.post("/v1/attendance/events", &w.employee, changed).await.problem(409, "conflict");
        assert_eq!(events(&app, &w.employee, "").await.len(), 1, "nothing written twice");
        // The key is per user: another user may use the same client_event_id.
        let (_, other) = assigned_user(&app, &w.admin, "o@example.com", &["employee"], None, &w.site_id).await;
        let theirs = check_in(&app, &other, &body).await;
        assert_ne!(theirs["id"], first["id"]);
    }

    async fn sixteen_simultaneous_submissions_store_one_event(app: TestApp) {
        let w = world(&app).await;
        let body = event_at(IN, ago(5));
        let sends = (0..16).map(|_| app.post("/v1/attendance/events", &w.employee, body.clone()));
        let answers = futures_util::future::join_all(sends).await;
        let statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "one created: {statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 15, "fifteen replays: {statuses:?}");
        let bodies: Vec<&Value> = answers.iter().map(|a| &a.body).collect();
        assert!(bodies.iter().all(|b| *b == bodies[0]), "every answer is the original");
        assert_eq!(events(&app, &w.employee, "").await.len(), 1);
        // With a photo too: the photo's own unique key may fire first for the losers, and
        // they still answer with the winner's event.
        let photo = raw_post(&app, "/v1/photos", &w.employee, "image/jpeg", crate::photos::jpeg_with_exif()).await.expect(201);
        let mut body = event_at(IN, ago(2));
        body["photo_id"] = photo["photo_id"].clone();
        let sends = (0..16).map(|_| app.post("/v1/attendance/events", &w.employee, body.clone()));
        let answers = futures_util::future::join_all(sends).await;
        let statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "one created: {statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 15, "fifteen replays: {statuses:?}");
        assert!(answers.iter().all(|a| a.body == answers[0].body));
        assert!(answers[0].body["photo_url"].is_string());
        assert_eq!(events(&app, &w.employee, "").await.len(), 2);
    }

    async fn concurrent_check_ins_share_commits_and_a_refused_one_fails_alone(app: TestApp) {
        let w = world(&app).await;
        // A refusal only the database can make: a trigger rejects one marked event, so the
        // group commit holding it fails and its neighbours must be written without it.
        match app.backend {
            crate::common::Backend::Sqlite => {
                app.sql("CREATE TRIGGER poison BEFORE INSERT ON attendance_events WHEN NEW.note = 'poison'
                         BEGIN SELECT RAISE(ABORT, 'poisoned event'); END").await;
            }
            crate::common::Backend::Postgres => {
                app.sql("CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
                         BEGIN IF NEW.note = 'poison' THEN RAISE EXCEPTION 'poisoned event'; END IF; RETURN NEW; END $$").await;
                app.sql("CREATE TRIGGER poison BEFORE INSERT ON attendance_events FOR EACH ROW EXECUTE FUNCTION poison()").await;
            }
        }
        let mut bodies: Vec<Value> = (0..24).map(|i| event_at(IN, ago(100 - i))).collect();
        bodies[7]["note"] = json!("poison");
        let sends = bodies.iter().map(|b| app.post("/v1/attendance/events", &w.employee, b.clone()));
        let answers = futures_util::future::join_all(sends).await;
        for (i, answer) in answers.iter().enumerate() {
            let expected = if i == 7 { 500 } else { 201 };
            assert_eq!(answer.status.as_u16(), expected, "event {i}: {}", answer.text);
        }
        let stored: Vec<Value> = events(&app, &w.employee, "?limit=100").await;
        let mut stored_ids: Vec<&str> = stored.iter().map(|e| e["client_event_id"].as_str().unwrap()).collect();
        let mut acknowledged: Vec<&str> = bodies
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 7)
            .map(|(_, b)| b["client_event_id"].as_str().unwrap())
            .collect();
        stored_ids.sort_unstable();
        acknowledged.sort_unstable();
        assert_eq!(stored_ids, acknowledged, "every acknowledged event, and only those");
        // Every commit is counted, so operators can see how many check-ins share one.
        let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("muster_db_batch_size_count{statement=\"event_insert\"}"), "{metrics}");
    }

    async fn batches_are_judged_in_capture_order_item_by_item_and_resends_write_nothing(app: TestApp) {
        let w = world(&app).await;
        let a = event_at(IN, ago(3000));
        let b = event_at(IN, ago(2000));
        let c = event_at(OUT, ago(1000));
        let mut bad = event_at(IN, ago(1500));
        bad["location"]["lat"] = json!(91);
        let mut reused = a.clone();
        reused["note"] = json!("edited");
        let mut unknown = event_at(IN, ago(1200));
        unknown["user_id"] = json!(w.employee_id);
        let batch = app.post("/v1/attendance/events:batch", &w.employee, json!({"events": [c, bad, a, reused, b, unknown, 7]}))
            .await.expect(200);
        let results = batch["results"].as_array().unwrap();
        let codes: Vec<u64> = results.iter().map(|r| r["status_code"].as_u64().unwrap()).collect();
        assert_eq!(codes, [201, 422, 201, 409, 201, 422, 422]);
        assert_eq!(results[0]["event"]["client_event_id"], c["client_event_id"]);
        assert_eq!(results[0]["error"], Value::Null);
        assert_eq!(results[0]["event"]["status"], "flagged");
        assert_eq!(results[1]["event"], Value::Null);
        assert_eq!(results[1]["error"]["code"], "validation_failed");
        assert_eq!(fields(&results[1]["error"]), ["location.lat"]);
        assert_eq!(results[3]["error"]["code"], "conflict");
        assert_eq!(fields(&results[5]["error"]), ["user_id"]);
        let stored = events(&app, &w.employee, "").await;
        let order: Vec<&Value> = stored.iter().map(|e| &e["client_event_id"]).collect();
        assert_eq!(order, [&a["client_event_id"], &b["client_event_id"], &c["client_event_id"]], "listed by captured_at");
        // The phone resends its queue, reordered and overlapping with a new event: only the new one is written;
        // a stored event's id sent with another body is that item's 409.
        let d = event_at(IN, ago(500));
        let mut edited = c.clone();
        edited["note"] = json!("edited after it was stored");
        let again = app.post("/v1/attendance/events:batch", &w.employee, json!({"events": [b, d, c, a, edited]})).await.expect(200);
        let codes: Vec<u64> = again["results"].as_array().unwrap().iter().map(|r| r["status_code"].as_u64().unwrap()).collect();
        assert_eq!(codes, [200, 201, 200, 200, 409]);
        assert_eq!(fields(&again["results"][4]["error"]), ["client_event_id"]);
        assert_eq!(again["results"][2]["event"], results[0]["event"], "a replay is the original answer");
        assert_eq!(events(&app, &w.employee, "").await.len(), 4);
        // Items are offline: an old item is not clock skew.
        assert_eq!(reasons(&again["results"][1]["event"]), Vec::<String>::new());
        let empty = app.post("/v1/attendance/events:batch", &w.employee, json!({"events": []})).await.expect(200);
        assert_eq!(empty, json!({"results": []}));
    }

    async fn bad_input_is_refused_by_field_and_writes_nothing(app: TestApp) {
        let w = world(&app).await;
        let cases: Vec<(&str, Value, &str)> = vec![
            ("/location/lat", json!(91), "location.lat"),
            ("/location/lon", json!(-181), "location.lon"),
            ("/location/accuracy_m", json!(-1), "location.accuracy_m"),
            ("/location/accuracy_m", json!("NaN"), "location.accuracy_m"),
            ("/location/lat", json!("NaN"), "location.lat"),
            ("/location/lon", json!("inf"), "location.lon"),
            ("/location/provider", json!("psychic"), "location.provider"),
            ("/kind", json!("lunch_break"), "kind"),
            ("/client_event_id", json!("not-a-uuid"), "client_event_id"),
            ("/captured_at", json!("tuesday"), "captured_at"),
            ("/captured_at", json!("2026-11-21 09:02"), "captured_at"),
            ("/captured_at", json!("1900-01-01T00:00:00Z"), "captured_at"),
            ("/captured_at", json!("9999-12-31T23:59:59Z"), "captured_at"),
            ("/user_id", json!(Uuid::now_v7()), "user_id"),
            ("/org_id", json!(Uuid::now_v7()), "org_id"),
            ("/status", json!("accepted"), "status"),
            ("/decision", json!({"verdict": "inside"}), "decision"),
            ("/location/speed", json!(3), "location.speed"),
        ];
        for (pointer, value, field) in cases {
            let mut body = event_at(IN, ago(5));
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let target = if parent.is_empty() { &mut body } else { body.pointer_mut(parent).unwrap() };
            target[key] = value.clone();
            let problem = app.post("/v1/attendance/events", &w.employee, body).await.problem(422, "validation_failed");
            assert_eq!(fields(&problem), [field], "{pointer} = {value}: {problem}");
        }
        let mut body = event_at(IN, ago(5));
        body.as_object_mut().unwrap().remove("location");
        let problem = app.post("/v1/attendance/events", &w.employee, body).await.problem(422, "validation_failed");
        assert_eq!(fields(&problem), ["location"]);
        let problem = raw_post(&app, "/v1/attendance/events", &w.employee, "application/json", b"{\"kind\": ".to_vec())
            .await.problem(400, "malformed_request");
        assert!(!problem["detail"].as_str().unwrap().contains("/work"), "no paths in errors");
        raw_post(&app, "/v1/attendance/events", &w.employee, "text/plain", event_at(IN, ago(5)).to_string().into_bytes())
            .await.problem(415, "unsupported_media_type");
        let mut huge = event_at(IN, ago(5));
        huge["note"] = json!("x".repeat(2 << 20));
        raw_post(&app, "/v1/attendance/events", &w.employee, "application/json", huge.to_string().into_bytes())
            .await.problem(413, "payload_too_large");
        let too_many: Vec<Value> = (0..501).map(|i| event_at(IN, ago(10 + i))).collect();
        let problem = app.post("/v1/attendance/events:batch", &w.employee, json!({"events": too_many}))
            .await.problem(422, "validation_failed");
        assert_eq!(fields(&problem), ["events"]);
        app.post("/v1/attendance/events:batch", &w.employee, json!({"items": []})).await.problem(422, "validation_failed");
        assert!(events(&app, &w.employee, "").await.is_empty(), "no row was written");
    }

    async fn everyone_sees_what_their_scope_allows_with_locations_for_direct_reports_only(app: TestApp) {
        let w = world(&app).await;
        let (manager_id, manager) = assigned_user(&app, &w.admin, "m@example.com", &["manager", "employee"], None, &w.site_id).await;
        let (direct_id, direct) = assigned_user(&app, &w.admin, "d@example.com", &["employee"], Some(&manager_id), &w.site_id).await;
        let (indirect_id, indirect) = assigned_user(&app, &w.admin, "i@example.com", &["employee"], Some(&direct_id), &w.site_id).await;
        let mine = check_in(&app, &manager, &event_at(IN, ago(30))).await;
        let direct_event = check_in(&app, &direct, &event_at(OUT, ago(20))).await;
        let indirect_event = check_in(&app, &indirect, &event_at(OUT, ago(10))).await;
        let outsider_event = check_in(&app, &w.employee, &event_at(IN, ago(5))).await;
        // The manager: their team (and themselves), locations of themselves and direct reports only.
        let seen = events(&app, &manager, "").await;
        let ids: Vec<&Value> = seen.iter().map(|e| &e["id"]).collect();
        assert_eq!(ids, [&mine["id"], &direct_event["id"], &indirect_event["id"]]);
        assert_eq!(seen[0]["location_redacted"], false);
        assert_eq!(seen[1], direct_event, "a direct report's location is visible");
        let redacted = &seen[2];
        assert_eq!(redacted["location"], Value::Null);
        assert_eq!(redacted["location_redacted"], true);
        assert_eq!(redacted["decision"]["distance_m"], Value::Null, "a distance would leak the location");
        assert_eq!(redacted["decision"]["verdict"], "outside", "the verdict is attendance data");
        assert_eq!(redacted["status"], "flagged");
        assert_eq!(redacted["photo_url"], Value::Null);
        let single = app.get(&format!("/v1/attendance/events/{}", indirect_event["id"].as_str().unwrap()), &manager).await.expect(200);
        assert_eq!(&single, redacted);
        assert_eq!(events(&app, &manager, &format!("?user_id={indirect_id}")).await, std::slice::from_ref(redacted));
        // Outside the team: 404, for the event and for a user_id filter alike.
        let outsider_path = format!("/v1/attendance/events/{}", outsider_event["id"].as_str().unwrap());
        app.get(&outsider_path, &manager).await.problem(404, "not_found");
        app.get(&format!("/v1/attendance/events?user_id={}", w.employee_id), &manager).await.problem(404, "not_found");
        app.get(&format!("/v1/attendance/events?user_id={}", Uuid::now_v7()), &manager).await.problem(404, "not_found");
        // An employee: their own events only, even of their own direct report.
        assert_eq!(events(&app, &direct, "").await, std::slice::from_ref(&direct_event));
        app.get(&format!("/v1/attendance/events/{}", indirect_event["id"].as_str().unwrap()), &direct).await.problem(404, "not_found");
        app.get(&format!("/v1/attendance/events?user_id={indirect_id}"), &direct).await.problem(404, "not_found");
        // HR: the whole org, without locations.
        let (_, hr) = app.user(&w.admin, "hr@example.com", &["hr"], None).await;
        let all = events(&app, &hr, "").await;
        assert_eq!(all.len(), 4);
        assert!(all.iter().all(|e| e["location"].is_null() && e["location_redacted"] == true && e["decision"]["distance_m"].is_null()));
        // An org that grants more: location.read:team makes the indirect report's visible.
        let mut grants = app.get("/v1/roles", &w.admin).await.expect(200)["items"].as_array().unwrap()
            .iter().find(|r| r["name"] == "manager").unwrap()["permissions"].as_array().unwrap().clone();
        grants.push(json!("attendance.location.read:team"));
        app.put("/v1/roles/manager", &w.admin, json!({"permissions": grants})).await.expect(200);
        let single = app.get(&format!("/v1/attendance/events/{}", indirect_event["id"].as_str().unwrap()), &manager).await.expect(200);
        assert_eq!(single, indirect_event, "takes effect on the next request");
        // No attendance.read at all: 403; another organisation: 404.
        app.get("/v1/attendance/events", &w.admin).await.problem(403, "forbidden");
        let other = app.second_org("admin2@example.com").await;
        let (_, other_hr) = app.user(&other, "hr2@example.com", &["hr"], None).await;
        app.get(&outsider_path, &other_hr).await.problem(404, "not_found");
        assert!(events(&app, &other_hr, "").await.is_empty());
        app.get(&format!("/v1/attendance/events?user_id={}", w.employee_id), &other_hr).await.problem(404, "not_found");
    }

    async fn lists_filter_and_page_in_capture_order(app: TestApp) {
        let w = world(&app).await;
        let mut sent = Vec::new();
        for i in 0..5 {
            let mut body = event_at(if i == 3 { OUT } else { IN }, ago(5000 - i * 600));
            if i % 2 == 1 {
                body["kind"] = json!("check_out");
            }
            sent.push(body);
        }
        // Sent newest first: the list still comes in captured_at order.
        let batch = app.post("/v1/attendance/events:batch", &w.employee, json!({"events": sent.iter().rev().collect::<Vec<_>>()})).await.expect(200);
        assert!(batch["results"].as_array().unwrap().iter().all(|r| r["status_code"] == 201));
        let ids = |items: &[Value]| items.iter().map(|e| e["client_event_id"].clone()).collect::<Vec<_>>();
        let all = events(&app, &w.employee, "").await;
        assert_eq!(ids(&all), sent.iter().map(|e| e["client_event_id"].clone()).collect::<Vec<_>>());
        let outs = events(&app, &w.employee, "?kind=check_out").await;
        assert_eq!(ids(&outs), [sent[1]["client_event_id"].clone(), sent[3]["client_event_id"].clone()]);
        let flagged = events(&app, &w.employee, "?status=flagged").await;
        assert_eq!(ids(&flagged), [sent[3]["client_event_id"].clone()]);
        let from = all[1]["captured_at"].as_str().unwrap().replace('+', "%2B");
        let to = all[3]["captured_at"].as_str().unwrap().replace('+', "%2B");
        let window = events(&app, &w.employee, &format!("?from={from}&to={to}")).await;
        assert_eq!(ids(&window), ids(&all[1..3]), "from inclusive, to exclusive");
        let mut pages = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = app.get(&format!("/v1/attendance/events?limit=2{cursor}"), &w.employee).await.expect(200);
            pages.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(pages, all);
        app.get("/v1/attendance/events?limit=100000", &w.employee).await.expect(200);
        for bad in ["?kind=nap", "?status=maybe", "?from=yesterday", "?limit=0", "?cursor=zzz", "?colour=red",
                    "?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"] {
            app.get(&format!("/v1/attendance/events{bad}"), &w.employee).await.problem(422, "validation_failed");
        }
    }

    async fn photos_attach_by_id_or_as_a_multipart_part(app: TestApp) {
        let w = world(&app).await;
        set_policy(&app, &w.admin, json!({"require_photo": true})).await;
        let photo = raw_post(&app, "/v1/photos", &w.employee, "image/jpeg", crate::photos::jpeg_with_exif()).await.expect(201);
        let photo_id = photo["photo_id"].as_str().unwrap().to_owned();
        let mut body = event_at(IN, ago(200));
        body["photo_id"] = json!(photo_id);
        let event = check_in(&app, &w.employee, &body).await;
        let id = event["id"].as_str().unwrap().to_owned();
        assert_eq!(reasons(&event), Vec::<String>::new(), "a photo came");
        assert_eq!(event["photo_url"], format!("/v1/attendance/events/{id}/photo"));
        let res = app.client.get(app.url(event["photo_url"].as_str().unwrap())).bearer_auth(&w.employee).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(res.headers()["content-type"], "image/jpeg");
        // A retry is the original answer, although the photo is now attached.
        assert_eq!(app.post("/v1/attendance/events", &w.employee, body.clone()).await.expect(200), event);
        // The photo cannot be attached twice, nor can someone else's be attached at all.
        let mut twice = event_at(IN, ago(100));
        twice["photo_id"] = json!(photo_id);
        let problem = app.post("/v1/attendance/events", &w.employee, twice).await.problem(422, "validation_failed");
        assert_eq!(fields(&problem), ["photo_id"]);
        let (_, other) = assigned_user(&app, &w.admin, "o@example.com", &["employee"], None, &w.site_id).await;
        let theirs = raw_post(&app, "/v1/photos", &other, "image/jpeg", crate::photos::jpeg_with_exif()).await.expect(201);
        let mut stolen = event_at(IN, ago(90));
        stolen["photo_id"] = theirs["photo_id"].clone();
        let problem = app.post("/v1/attendance/events", &w.employee, stolen).await.problem(422, "validation_failed");
        assert_eq!(fields(&problem), ["photo_id"]);
        let mut unknown = event_at(IN, ago(80));
        unknown["photo_id"] = json!(Uuid::now_v7());
        app.post("/v1/attendance/events", &w.employee, unknown).await.problem(422, "validation_failed");
        assert_eq!(events(&app, &w.employee, "").await.len(), 1, "refused events are not recorded");

        // Multipart: the event part (JSON), then the photo part.
        let form = |event: &Value| {
            reqwest::multipart::Form::new()
                .part("event", reqwest::multipart::Part::text(event.to_string()).mime_str("application/json").unwrap())
                .part("photo", reqwest::multipart::Part::bytes(crate::photos::jpeg_with_exif()).file_name("selfie.jpg").mime_str("image/jpeg").unwrap())
        };
        let multipart = event_at(IN, ago(60));
        let send = |f: reqwest::multipart::Form| app.client.post(app.url("/v1/attendance/events")).bearer_auth(&w.employee).multipart(f).send();
        let created = TestApp::answer(send(form(&multipart)).await.unwrap()).await.expect(201);
        assert_eq!(reasons(&created), Vec::<String>::new());
        let mid = created["id"].as_str().unwrap();
        assert_eq!(created["photo_url"], format!("/v1/attendance/events/{mid}/photo"));
        let replay = TestApp::answer(send(form(&multipart)).await.unwrap()).await.expect(200);
        assert_eq!(replay, created);
        // The same event sent as JSON without the photo is another request.
        app.post("/v1/attendance/events", &w.employee, multipart.clone()).await.problem(409, "conflict");
        // Only the event part: no photo, so the policy's reason.
        let bare = event_at(IN, ago(50));
        let only_event = reqwest::multipart::Form::new()
            .part("event", reqwest::multipart::Part::text(bare.to_string()).mime_str("application/json").unwrap());
        let flagged = TestApp::answer(send(only_event).await.unwrap()).await.expect(201);
        assert_eq!(reasons(&flagged), ["photo_required"]);
        assert_eq!(flagged["photo_url"], Value::Null);
        let no_event = reqwest::multipart::Form::new().text("note", "hello");
        let problem = TestApp::answer(send(no_event).await.unwrap()).await.problem(422, "validation_failed");
        assert_eq!(fields(&problem), ["event"]);
        let mut bad = event_at(IN, ago(40));
        bad["location"]["lat"] = json!(-91);
        let problem = TestApp::answer(send(form(&bad)).await.unwrap()).await.problem(422, "validation_failed");
        assert_eq!(fields(&problem), ["location.lat"]);
        let mut both = event_at(IN, ago(30));
        both["photo_id"] = theirs["photo_id"].clone();
        TestApp::answer(send(form(&both)).await.unwrap()).await.problem(422, "validation_failed");
        assert_eq!(events(&app, &w.employee, "").await.len(), 3);

        // Who sees the photo link: the subject and their direct manager; not HR by default.
        let (manager_id, manager) = app.user(&w.admin, "m@example.com", &["manager"], None).await;
        app.patch(&format!("/v1/users/{}", w.employee_id), &w.admin, json!({"manager_id": manager_id["id"]})).await.expect(200);
        let seen = app.get(&format!("/v1/attendance/events/{id}"), &manager).await.expect(200);
        assert_eq!(seen["photo_url"], event["photo_url"]);
        let (_, hr) = app.user(&w.admin, "hr@example.com", &["hr"], None).await;
        let seen = app.get(&format!("/v1/attendance/events/{id}"), &hr).await.expect(200);
        assert_eq!(seen["photo_url"], Value::Null);
        assert_eq!(seen["location_redacted"], true);
        // The link and the image follow one rule: granted the photos but not the locations
        // of the org, HR gets neither.
        let roles = app.get("/v1/roles", &w.admin).await.expect(200);
        let mut grants = roles["items"].as_array().unwrap().iter().find(|r| r["name"] == "hr").unwrap()["permissions"].clone();
        grants.as_array_mut().unwrap().push(json!("attendance.photo.read:org"));
        app.put("/v1/roles/hr", &w.admin, json!({"permissions": grants})).await.expect(200);
        let seen = app.get(&format!("/v1/attendance/events/{id}"), &hr).await.expect(200);
        assert_eq!(seen["photo_url"], Value::Null);
        app.get(&format!("/v1/attendance/events/{id}/photo"), &hr).await.problem(404, "not_found");
        grants.as_array_mut().unwrap().push(json!("attendance.location.read:org"));
        app.put("/v1/roles/hr", &w.admin, json!({"permissions": grants})).await.expect(200);
        let seen = app.get(&format!("/v1/attendance/events/{id}"), &hr).await.expect(200);
        assert_eq!(seen["photo_url"], event["photo_url"]);
        let res = app.client.get(app.url(&format!("/v1/attendance/events/{id}/photo"))).bearer_auth(&hr).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
    }

    async fn protobuf_in_and_out_is_the_same_event_as_json(app: TestApp) {
        use muster::proto::v1;
        use prost::Message;
        let w = world(&app).await;
        let json_body = event_at(IN, ago(100));
        let message = proto_event(&json_body);
        let send = |path: &str, body: Vec<u8>, accept: &str| {
            app.client.post(app.url(path)).bearer_auth(&w.employee)
                .header("content-type", "application/x-protobuf").header("accept", accept).body(body).send()
        };
        let res = send("/v1/attendance/events", message.encode_to_vec(), "application/x-protobuf").await.unwrap();
        assert_eq!(res.status().as_u16(), 201);
        assert_eq!(res.headers()["content-type"], "application/x-protobuf");
        let recorded = v1::RecordedEvent::decode(res.bytes().await.unwrap()).unwrap();
        assert_eq!(recorded.user_id, w.employee_id);
        assert_eq!(recorded.client_event_id, json_body["client_event_id"].as_str().unwrap());
        assert_eq!(recorded.status, "accepted");
        assert!(!recorded.location_redacted);
        let decision = recorded.decision.clone().unwrap();
        assert_eq!(decision.verdict, "inside");
        assert_eq!(decision.geofence_id.as_deref(), Some(w.fence_id.as_str()));
        assert_eq!(decision.distance_m, Some(0.0));
        assert_eq!(recorded.location.clone().unwrap().lat, 12.97);
        // The JSON form of the same event is the same request: the original answer.
        let json_answer = app.post("/v1/attendance/events", &w.employee, json_body.clone()).await.expect(200);
        assert_eq!(json_answer["id"], recorded.id.as_str());
        assert_eq!(json_answer["received_at"].as_str().unwrap(), recorded.received_at);
        assert_eq!(json_answer["captured_at"].as_str().unwrap(), recorded.captured_at);
        // Protobuf in, JSON out (no Accept), and a reused id with another body is 409 here too.
        let replay = send("/v1/attendance/events", message.encode_to_vec(), "application/json").await.unwrap();
        assert_eq!(TestApp::answer(replay).await.expect(200), json_answer);
        let mut changed = message.clone();
        changed.kind = "check_out".into();
        let res = send("/v1/attendance/events", changed.encode_to_vec(), "application/x-protobuf").await.unwrap();
        TestApp::answer(res).await.problem(409, "conflict");
        // Undecodable bytes are 400; a decodable message with bad fields names them.
        let res = send("/v1/attendance/events", vec![0xff, 0xff, 0xff], "application/x-protobuf").await.unwrap();
        TestApp::answer(res).await.problem(400, "malformed_request");
        let mut bad = proto_event(&event_at(IN, ago(50)));
        bad.kind = "nap".into();
        bad.location.as_mut().unwrap().lat = f64::NAN;
        let res = send("/v1/attendance/events", bad.encode_to_vec(), "application/x-protobuf").await.unwrap();
        assert_eq!(fields(&TestApp::answer(res).await.problem(422, "validation_failed")), ["kind"]);
        let mut bad = proto_event(&event_at(IN, ago(50)));
        bad.location.as_mut().unwrap().lat = f64::NAN;
        bad.location.as_mut().unwrap().accuracy_m = Some(f64::INFINITY);
        let res = send("/v1/attendance/events", bad.encode_to_vec(), "application/x-protobuf").await.unwrap();
        assert_eq!(fields(&TestApp::answer(res).await.problem(422, "validation_failed")), ["location.lat", "location.accuracy_m"]);
        let mut bad = proto_event(&event_at(IN, ago(50)));
        bad.location = None;
        let res = send("/v1/attendance/events", bad.encode_to_vec(), "application/x-protobuf").await.unwrap();
        assert_eq!(fields(&TestApp::answer(res).await.problem(422, "validation_failed")), ["location"]);
        // A batch in protobuf: results in protobuf, a bad item failing alone.
        let good = proto_event(&event_at(IN, ago(40)));
        let mut odd = proto_event(&event_at(IN, ago(30)));
        odd.captured_at = "9999-01-01T00:00:00Z".into();
        let batch = v1::AttendanceEventBatch { events: vec![good.clone(), odd, message.clone()] };
        let res = send("/v1/attendance/events:batch", batch.encode_to_vec(), "application/x-protobuf").await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let results = v1::BatchResult::decode(res.bytes().await.unwrap()).unwrap().results;
        let codes: Vec<u32> = results.iter().map(|r| r.status_code).collect();
        assert_eq!(codes, [201, 422, 200]);
        assert_eq!(results[0].event.as_ref().unwrap().client_event_id, good.client_event_id);
        let problem = results[1].error.as_ref().unwrap();
        assert_eq!(problem.code, "validation_failed");
        assert_eq!(problem.errors[0].field, "captured_at");
        assert_eq!(results[2].event.as_ref().unwrap().id, recorded.id);
        // Reads in protobuf too.
        let get = |path: String| app.client.get(app.url(&path)).bearer_auth(&w.employee).header("accept", "application/x-protobuf").send();
        let res = get(format!("/v1/attendance/events/{}", recorded.id)).await.unwrap();
        assert_eq!(v1::RecordedEvent::decode(res.bytes().await.unwrap()).unwrap(), recorded);
        let res = get("/v1/attendance/events?limit=1".into()).await.unwrap();
        let page = v1::RecordedEventPage::decode(res.bytes().await.unwrap()).unwrap();
        assert_eq!(page.items.len(), 1);
        assert!(page.next_cursor.is_some());
        assert_eq!(events(&app, &w.employee, "").await.len(), 2);
    }

    async fn simulate_reports_which_recorded_events_a_shrunken_fence_would_change(app: TestApp) {
        let w = world(&app).await;
        let centre = check_in(&app, &w.employee, &event_at(IN, ago(250))).await;
        // 400 m north-east of the centre, still inside the square.
        let edge = check_in(&app, &w.employee, &event_at((12.9736, 77.5920), ago(150))).await;
        let outside = check_in(&app, &w.employee, &event_at(OUT, ago(20))).await;
        assert_eq!(centre["decision"]["verdict"], "inside");
        assert_eq!(edge["decision"]["verdict"], "inside");
        assert_eq!(outside["decision"]["verdict"], "outside");
        let from = (Utc::now() - TimeDelta::hours(1)).to_rfc3339();
        let to = (Utc::now() + TimeDelta::hours(1)).to_rfc3339();
        let shrunk = json!({"type": "Circle", "center": [77.59, 12.97], "radius_m": 200});
        let result = app.post(&format!("/v1/geofences/{}:simulate", w.fence_id), &w.admin, json!({"geometry": shrunk, "from": from, "to": to}))
            .await.expect(200);
        assert_eq!(result["events_considered"], 3);
        assert_eq!(result["changed"], 1);
        assert_eq!(result["changed_event_ids"], json!([edge["id"]]));
        // Growing it to take in the outside point changes that one instead.
        let grown = json!({"type": "Circle", "center": [77.59, 12.975], "radius_m": 1200});
        let result = app.post(&format!("/v1/geofences/{}:simulate", w.fence_id), &w.admin, json!({"geometry": grown, "from": from, "to": to}))
            .await.expect(200);
        assert_eq!(result["changed_event_ids"], json!([outside["id"]]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_bodies_over_the_byte_limit_are_413() {
    let Some(app) = TestApp::spawn_with(crate::common::Backend::Sqlite, |s| {
        s.attendance_batch_body_limit_bytes = 2048;
    })
    .await
    else {
        return;
    };
    let w = world(&app).await;
    let events: Vec<Value> = (0..20).map(|i| event_at(IN, ago(100 + i))).collect();
    app.post("/v1/attendance/events:batch", &w.employee, json!({"events": events}))
        .await
        .problem(413, "payload_too_large");
    assert!(events_of(&app, &w.employee).await.is_empty());
}

async fn events_of(app: &TestApp, token: &str) -> Vec<Value> {
    events(app, token, "").await
}
