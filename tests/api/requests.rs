//! Attendance requests over HTTP: filing, every refusal, who sees and decides what,
//! approvals racing each other, the event an approval writes, the audit trail, the photo,
//! and what reports and privacy make of it.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::TestApp;
use crate::photos::{jpeg_with_exif, upload};
use crate::reports::report;

/// Who takes part: an org in UTC with a reporting tree
/// `boss <- manager <- {employee, peer}`, an HR user and an auditor.
struct World {
    admin: String,
    boss: Person,
    manager: Person,
    employee: Person,
    peer: Person,
    hr: Person,
    auditor: Person,
}

struct Person {
    id: String,
    token: String,
}

async fn person(app: &TestApp, admin: &str, email: &str, roles: &[&str], manager: Option<&Person>) -> Person {
    let (user, token) = app.user(admin, email, roles, manager.map(|m| m.id.as_str())).await;
    Person {
        id: user["id"].as_str().unwrap().to_owned(),
        token,
    }
}

async fn world(app: &TestApp) -> World {
    let admin = app.admin().await;
    let boss = person(app, &admin, "boss@example.com", &["employee", "manager"], None).await;
    let manager = person(
        app,
        &admin,
        "manager@example.com",
        &["employee", "manager"],
        Some(&boss),
    )
    .await;
    let employee = person(app, &admin, "employee@example.com", &["employee"], Some(&manager)).await;
    let peer = person(app, &admin, "peer@example.com", &["employee"], Some(&manager)).await;
    let hr = person(app, &admin, "hr@example.com", &["employee", "hr"], None).await;
    let auditor = person(app, &admin, "auditor@example.com", &["auditor"], None).await;
    World {
        admin,
        boss,
        manager,
        employee,
        peer,
        hr,
        auditor,
    }
}

fn day(days_ago: i64) -> NaiveDate {
    (Utc::now() - Duration::days(days_ago)).date_naive()
}

fn missed(kind: &str, date: NaiveDate, time: &str) -> Value {
    json!({"date": date.to_string(), "kind": kind, "time": time, "reason": "my phone died"})
}

async fn file(app: &TestApp, token: &str, body: Value) -> Value {
    app.post("/v1/attendance/requests", token, body).await.expect(201)
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn approve(app: &TestApp, token: &str, request: &str, body: Value) -> crate::common::Answer {
    app.post(&format!("/v1/attendance/requests/{request}:approve"), token, body)
        .await
}

/// The ids of a list of requests, as `token` sees it with `query`.
async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    ids(&app
        .get(&format!("/v1/attendance/requests{query}"), token)
        .await
        .expect(200))
}

fn field(problem: &Value) -> String {
    problem["errors"][0]["field"].as_str().unwrap_or_default().to_owned()
}

fn ids(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(id).collect()
}

/// A `kind` event with a location at `captured_at`, as the phone sends it. Nobody has a
/// geofence here, so the default policy (`flag`) flags it.
async fn record(app: &TestApp, token: &str, kind: &str, captured_at: DateTime<Utc>) -> Value {
    let body = json!({
        "client_event_id": Uuid::now_v7(), "kind": kind, "captured_at": captured_at.to_rfc3339(),
        "location": {"lat": 12.97, "lon": 77.59, "accuracy_m": 10.0},
    });
    app.post("/v1/attendance/events", token, body).await.expect(201)
}

/// The instant of `hh:mm` UTC on `date`.
fn utc(date: NaiveDate, hh_mm: &str) -> DateTime<Utc> {
    format!("{date}T{hh_mm}:00Z").parse().unwrap()
}

/// The body of a correction of `event` to `time` on `date`.
fn correction(event: &Value, date: NaiveDate, time: &str) -> Value {
    json!({
        "date": date.to_string(), "kind": "correction", "time": time, "event_id": event["id"],
        "reason": "I was inside, GPS drifted",
    })
}

/// The employee's row of `date` in the manager's team report.
async fn report_row(app: &TestApp, w: &World, date: NaiveDate) -> Value {
    report(app, &w.manager.token, &format!("from={date}&to={date}&scope=team"))
        .await
        .into_iter()
        .find(|r| r["user_id"] == w.employee.id.as_str())
        .expect("the employee's row")
}

async fn set_policy(app: &TestApp, admin: &str, change: Value) {
    let mut policy = app.get("/v1/policy", admin).await.expect(200);
    for (k, v) in change.as_object().unwrap() {
        policy[k] = v.clone();
    }
    app.put("/v1/policy", admin, policy).await.expect(200);
}

async fn audit(app: &TestApp, admin: &str, action: &str, object: &str) -> Vec<Value> {
    app.get(&format!("/v1/audit?action={action}"), admin).await.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["object_id"] == object)
        .cloned()
        .collect()
}

backend_tests! {
    async fn a_missed_check_in_is_filed_approved_and_written_as_an_event(app: TestApp) {
        let w = world(&app).await;
        let date = day(1);
        let filed = app.post("/v1/attendance/requests", &w.employee.token, missed("missed_check_in", date, "09:05")).await;
        let location = filed.headers.get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let filed = filed.expect(201);
        let request = id(&filed);
        assert_eq!(location.as_deref(), Some(format!("/v1/attendance/requests/{request}").as_str()));
        let proposed = format!("{date}T09:05:00Z");
        assert_eq!(filed["user_id"], w.employee.id.as_str());
        assert_eq!(filed["date"], date.to_string());
        assert_eq!(filed["kind"], "missed_check_in");
        assert_eq!(filed["time"], "09:05");
        assert_eq!(DateTime::parse_from_rfc3339(filed["proposed_at"].as_str().unwrap()).unwrap(), DateTime::parse_from_rfc3339(&proposed).unwrap());
        assert_eq!(filed["reason"], "my phone died");
        assert_eq!(filed["status"], "pending");
        for empty in ["event_id", "photo_id", "photo_url", "decided_by", "decided_at", "comment", "result_event_id"] {
            assert_eq!(filed[empty], Value::Null, "{empty}");
        }
        // Pending: nothing was written to the events yet.
        let events = app.get("/v1/attendance/events", &w.employee.token).await.expect(200);
        assert_eq!(events["items"], json!([]));
        // The direct manager sees it in their list and decides it.
        let inbox = app.get("/v1/attendance/requests?status=pending", &w.manager.token).await.expect(200);
        assert_eq!(ids(&inbox), std::slice::from_ref(&request));
        let approved = approve(&app, &w.manager.token, &request, json!({"comment": "ok, seen you at the desk"})).await.expect(200);
        assert_eq!(approved["status"], "approved");
        assert_eq!(approved["decided_by"], w.manager.id.as_str());
        assert_eq!(approved["comment"], "ok, seen you at the desk");
        assert!(approved["decided_at"].is_string());
        let event_id = approved["result_event_id"].as_str().expect("an event was written").to_owned();
        // The requester sees the whole decision.
        let seen = app.get(&format!("/v1/attendance/requests/{request}"), &w.employee.token).await.expect(200);
        assert_eq!(seen, approved);
        // The event: the request's, at the proposed time, accepted, with no location.
        let event = app.get(&format!("/v1/attendance/events/{event_id}"), &w.employee.token).await.expect(200);
        assert_eq!(event["request_id"], request.as_str());
        assert_eq!(event["source"], "request");
        assert_eq!(event["user_id"], w.employee.id.as_str());
        assert_eq!(event["kind"], "check_in");
        assert_eq!(DateTime::parse_from_rfc3339(event["captured_at"].as_str().unwrap()).unwrap(), DateTime::parse_from_rfc3339(&proposed).unwrap());
        assert_eq!(event["status"], "accepted");
        assert_eq!(event["location"], Value::Null);
        assert_eq!(event["photo_url"], Value::Null);
        assert_eq!(event["decision"]["verdict"], "no_geofence");
        assert_eq!(event["decision"]["reasons"], json!([]));
        assert_eq!(event["decision"]["geofence_id"], Value::Null);
        // The protobuf form carries the same.
        let res = app.client.get(app.url(&format!("/v1/attendance/events/{event_id}"))).bearer_auth(&w.employee.token)
            .header("accept", "application/x-protobuf").send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let proto = <muster::proto::v1::RecordedEvent as prost::Message>::decode(res.bytes().await.unwrap()).unwrap();
        assert_eq!(proto.request_id.as_deref(), Some(request.as_str()));
        assert_eq!(proto.source, "request");
        assert!(proto.location.is_none());
        // A decision is final, whoever tries next.
        let again = approve(&app, &w.manager.token, &request, json!({})).await.problem(409, "conflict");
        assert_eq!(field(&again), "status");
        app.post(&format!("/v1/attendance/requests/{request}:reject"), &w.hr.token, json!({"comment": "no"})).await.problem(409, "conflict");
        app.post(&format!("/v1/attendance/requests/{request}:cancel"), &w.employee.token, json!({})).await.problem(409, "conflict");
        let events = app.get("/v1/attendance/events", &w.employee.token).await.expect(200);
        assert_eq!(ids(&events), std::slice::from_ref(&event_id), "one event, written once");
        // Each step is in the audit trail, about the requester.
        let created = audit(&app, &w.admin, "attendance_request.created", &request).await;
        assert_eq!(created.len(), 1);
        assert_eq!(created[0]["actor_id"], w.employee.id.as_str());
        assert_eq!(created[0]["subject_id"], w.employee.id.as_str());
        assert_eq!(created[0]["detail"]["kind"], "missed_check_in");
        let decided = audit(&app, &w.admin, "attendance_request.approved", &request).await;
        assert_eq!(decided.len(), 1);
        assert_eq!(decided[0]["actor_id"], w.manager.id.as_str());
        assert_eq!(decided[0]["subject_id"], w.employee.id.as_str());
        assert_eq!(decided[0]["detail"]["result_event_id"], event_id.as_str());
    }

    async fn times_are_local_to_the_users_site(app: TestApp) {
        let w = world(&app).await;
        let site = app.post("/v1/sites", &w.admin, json!({"name": "Bangalore", "timezone": "Asia/Kolkata"})).await.expect(201);
        app.patch(&format!("/v1/users/{}", w.employee.id), &w.admin, json!({"site_ids": [site["id"]]})).await.expect(200);
        let kolkata: chrono_tz::Tz = "Asia/Kolkata".parse().unwrap();
        let date = (Utc::now().with_timezone(&kolkata) - Duration::days(1)).date_naive();
        let filed = file(&app, &w.employee.token, missed("missed_check_out", date, "18:30")).await;
        let expected = format!("{date}T18:30:00+05:30");
        assert_eq!(DateTime::parse_from_rfc3339(filed["proposed_at"].as_str().unwrap()).unwrap(), DateTime::parse_from_rfc3339(&expected).unwrap());
        let approved = approve(&app, &w.manager.token, &id(&filed), json!({})).await.expect(200);
        assert_eq!(approved["comment"], Value::Null, "an empty object approves without a comment");
        let event = app.get(&format!("/v1/attendance/events/{}", approved["result_event_id"].as_str().unwrap()), &w.employee.token).await.expect(200);
        assert_eq!(event["kind"], "check_out");
        assert_eq!(DateTime::parse_from_rfc3339(event["captured_at"].as_str().unwrap()).unwrap(), DateTime::parse_from_rfc3339(&expected).unwrap());
    }

    async fn filing_refuses_bad_input_naming_the_field(app: TestApp) {
        let w = world(&app).await;
        let token = &w.employee.token;
        let post = |body: Value| app.post("/v1/attendance/requests", token, body);
        app.send(Method::POST, "/v1/attendance/requests", None, Some(&missed("missed_check_in", day(1), "09:00"))).await.problem(401, "unauthorized");
        // Without the permission, the body is not even looked at.
        app.post("/v1/attendance/requests", &w.auditor.token, json!({"nonsense": true})).await.problem(403, "forbidden");
        let problem = post(json!({"date": "2026-1-5", "kind": "correction", "time": "9:00", "reason": "  "})).await.problem(422, "validation_failed");
        let fields: Vec<&str> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["date", "time", "event_id", "reason"]);
        assert_eq!(field(&post(json!({"date": day(1).to_string(), "kind": "lunch", "time": "09:00", "reason": "x"})).await.problem(422, "validation_failed")), "kind");
        assert_eq!(field(&post(json!({"date": day(1).to_string(), "kind": "missed_check_in", "time": "09:00"})).await.problem(422, "validation_failed")), "reason");
        let mut long = missed("missed_check_in", day(1), "09:00");
        long["reason"] = json!("x".repeat(1001));
        assert_eq!(field(&post(long).await.problem(422, "validation_failed")), "reason");
        let mut own_id = missed("missed_check_in", day(1), "09:00");
        own_id["user_id"] = json!(w.peer.id);
        assert_eq!(field(&post(own_id).await.problem(422, "validation_failed")), "user_id", "identity comes from the token");
        let mut event_on_missed = missed("missed_check_in", day(1), "09:00");
        event_on_missed["event_id"] = json!(Uuid::now_v7());
        assert_eq!(field(&post(event_on_missed).await.problem(422, "validation_failed")), "event_id");
        // In the future: a later day, or a later time today.
        assert_eq!(field(&post(missed("missed_check_in", day(-1), "09:00")).await.problem(422, "validation_failed")), "date");
        let soon = Utc::now() + Duration::minutes(5);
        let later_today = post(missed("missed_check_in", soon.date_naive(), &soon.format("%H:%M").to_string())).await.problem(422, "validation_failed");
        let expected = if soon.date_naive() == Utc::now().date_naive() { "time" } else { "date" };
        assert_eq!(field(&later_today), expected);
        // Too far back for the policy, until the policy reaches further.
        let problem = post(missed("missed_check_in", day(31), "09:00")).await.problem(422, "validation_failed");
        assert_eq!(field(&problem), "date");
        assert!(problem["errors"][0]["message"].as_str().unwrap().contains("request_max_age_days"));
        file(&app, token, missed("missed_check_in", day(30), "09:00")).await;
        set_policy(&app, &w.admin, json!({"request_max_age_days": 60})).await;
        file(&app, token, missed("missed_check_in", day(31), "09:00")).await;
        // Nothing refused was stored.
        let mine = app.get("/v1/attendance/requests", token).await.expect(200);
        assert_eq!(mine["items"].as_array().unwrap().len(), 2);
        let created = app.get("/v1/audit?action=attendance_request.created", &w.admin).await.expect(200);
        assert_eq!(created["items"].as_array().unwrap().len(), 2);
    }

    async fn one_pending_request_per_day_and_kind(app: TestApp) {
        let w = world(&app).await;
        let token = &w.employee.token;
        let first = file(&app, token, missed("missed_check_in", day(2), "09:00")).await;
        let problem = app.post("/v1/attendance/requests", token, missed("missed_check_in", day(2), "09:30")).await.problem(409, "conflict");
        assert_eq!(field(&problem), "kind");
        // Another kind, or another day, or another person is no clash.
        file(&app, token, missed("missed_check_out", day(2), "18:00")).await;
        file(&app, token, missed("missed_check_in", day(3), "09:00")).await;
        file(&app, &w.peer.token, missed("missed_check_in", day(2), "09:00")).await;
        // Once the first is decided (here: withdrawn), the day and kind are free again.
        let cancelled = app.post(&format!("/v1/attendance/requests/{}:cancel", id(&first)), token, json!({})).await.expect(200);
        assert_eq!(cancelled["status"], "cancelled");
        assert_eq!(cancelled["decided_by"], w.employee.id.as_str());
        assert!(cancelled["decided_at"].is_string());
        assert_eq!(audit(&app, &w.admin, "attendance_request.cancelled", &id(&first)).await.len(), 1);
        file(&app, token, missed("missed_check_in", day(2), "09:30")).await;
        // Concurrent twins: the database's key lets one through.
        let body = missed("missed_check_out", day(4), "18:00");
        let answers = futures_util::future::join_all((0..6).map(|_| app.post("/v1/attendance/requests", token, body.clone()))).await;
        let mut statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409, 409, 409, 409, 409]);
    }

    async fn corrections_name_a_flagged_or_rejected_event_of_ones_own(app: TestApp) {
        let w = world(&app).await;
        let yesterday = day(1);
        let at = yesterday.and_hms_opt(8, 0, 0).unwrap().and_utc();
        // Without a geofence the flag policy flags the check-in; with the mode off it is accepted.
        let flagged = record(&app, &w.employee.token, "check_in", at).await;
        assert_eq!(flagged["status"], "flagged");
        set_policy(&app, &w.admin, json!({"geofence_mode": "off"})).await;
        let accepted = record(&app, &w.employee.token, "check_in", at + Duration::hours(1)).await;
        assert_eq!(accepted["status"], "accepted");
        let peers = record(&app, &w.peer.token, "check_in", at).await;
        let post = |body: Value| app.post("/v1/attendance/requests", &w.employee.token, body);
        let problem = post(correction(&peers, yesterday, "09:00")).await.problem(422, "validation_failed");
        assert_eq!(field(&problem), "event_id");
        let unknown = json!({"id": Uuid::now_v7()});
        assert_eq!(problem["errors"][0]["message"], post(correction(&unknown, yesterday, "09:00")).await.problem(422, "validation_failed")["errors"][0]["message"], "another's event reads like none");
        assert_eq!(field(&post(correction(&accepted, yesterday, "09:00")).await.problem(422, "validation_failed")), "event_id");
        assert_eq!(field(&post(correction(&flagged, day(2), "09:00")).await.problem(422, "validation_failed")), "event_id", "the event is of another day");
        let filed = file(&app, &w.employee.token, correction(&flagged, yesterday, "09:00")).await;
        assert_eq!(filed["event_id"], flagged["id"]);
        let approved = approve(&app, &w.manager.token, &id(&filed), json!({})).await.expect(200);
        let event = app.get(&format!("/v1/attendance/events/{}", approved["result_event_id"].as_str().unwrap()), &w.employee.token).await.expect(200);
        assert_eq!(event["kind"], "check_in", "the corrected event's kind");
        assert_eq!(event["request_id"], filed["id"]);
        // The original stays exactly as it was (append-only).
        let original = app.get(&format!("/v1/attendance/events/{}", flagged["id"].as_str().unwrap()), &w.employee.token).await.expect(200);
        assert_eq!(original, flagged);
        assert_eq!(original["source"], "device");
    }

    async fn approvers_are_the_direct_manager_or_whom_the_org_grants(app: TestApp) {
        let w = world(&app).await;
        let request = id(&file(&app, &w.employee.token, missed("missed_check_in", day(1), "09:00")).await);
        let path = format!("/v1/attendance/requests/{request}");
        // The requester and the direct manager see it; hr (approve:org) too.
        for p in [&w.employee, &w.manager, &w.hr] {
            app.get(&path, &p.token).await.expect(200);
        }
        // A peer, the skip-level boss (approve:direct only), an auditor and another org do not.
        let other_org = app.second_org("admin@other.example").await;
        for token in [&w.peer.token, &w.boss.token, &w.auditor.token, &other_org] {
            app.get(&path, token).await.problem(404, "not_found");
        }
        assert_eq!(listed(&app, &w.manager.token, "").await, std::slice::from_ref(&request));
        assert_eq!(listed(&app, &w.hr.token, "").await, std::slice::from_ref(&request));
        assert!(listed(&app, &w.peer.token, "").await.is_empty());
        assert!(listed(&app, &w.boss.token, "").await.is_empty());
        assert!(listed(&app, &other_org, "").await.is_empty());
        app.get(&format!("/v1/attendance/requests?user_id={}", w.employee.id), &w.peer.token).await.problem(404, "not_found");
        app.get(&format!("/v1/attendance/requests?user_id={}", w.employee.id), &w.boss.token).await.problem(404, "not_found");
        assert_eq!(ids(&app.get(&format!("/v1/attendance/requests?user_id={}", w.employee.id), &w.manager.token).await.expect(200)), std::slice::from_ref(&request));
        // Deciding: no approval permission is 403, a requester beyond one's scope 404.
        approve(&app, &w.peer.token, &request, json!({})).await.problem(403, "forbidden");
        approve(&app, &other_org, &request, json!({})).await.problem(403, "forbidden");
        // Another organisation's HR holds approve:org, but over their own organisation only.
        let (_, other_hr) = app.user(&other_org, "hr@other.example", &["employee", "hr"], None).await;
        approve(&app, &other_hr, &request, json!({})).await.problem(404, "not_found");
        app.post(&format!("{path}:reject"), &other_hr, json!({"comment": "no"})).await.problem(404, "not_found");
        approve(&app, &w.boss.token, &request, json!({})).await.problem(404, "not_found");
        app.post(&format!("{path}:cancel"), &w.peer.token, json!({})).await.problem(404, "not_found");
        app.post(&format!("{path}:cancel"), &w.manager.token, json!({})).await.problem(403, "forbidden");
        // The org widens the managers' reach to their whole team: now the boss may decide.
        let roles = app.get("/v1/roles", &w.admin).await.expect(200);
        let mut grants = roles["items"].as_array().unwrap().iter().find(|r| r["name"] == "manager").unwrap()["permissions"].as_array().unwrap().clone();
        grants.push(json!("attendance.requests.approve:team"));
        app.put("/v1/roles/manager", &w.admin, json!({"permissions": grants})).await.expect(200);
        assert_eq!(listed(&app, &w.boss.token, "").await, std::slice::from_ref(&request));
        let rejected = app.post(&format!("{path}:reject"), &w.boss.token, json!({"comment": "you were on leave"})).await.expect(200);
        assert_eq!(rejected["status"], "rejected");
        assert_eq!(rejected["decided_by"], w.boss.id.as_str());
        assert_eq!(rejected["result_event_id"], Value::Null);
        assert_eq!(audit(&app, &w.admin, "attendance_request.rejected", &request).await.len(), 1);
        let events = app.get("/v1/attendance/events", &w.employee.token).await.expect(200);
        assert_eq!(events["items"], json!([]), "a rejection writes no event");
    }

    async fn nobody_decides_their_own_request(app: TestApp) {
        let w = world(&app).await;
        // HR may decide anyone's (approve:org), but not their own; nor may a manager.
        for p in [&w.hr, &w.manager] {
            let request = id(&file(&app, &p.token, missed("missed_check_in", day(1), "09:00")).await);
            approve(&app, &p.token, &request, json!({})).await.problem(403, "forbidden");
            app.post(&format!("/v1/attendance/requests/{request}:reject"), &p.token, json!({"comment": "no"})).await.problem(403, "forbidden");
            assert_eq!(app.get(&format!("/v1/attendance/requests/{request}"), &p.token).await.expect(200)["status"], "pending");
        }
        // The manager's own request is the boss's to decide (and HR's).
        let theirs = ids(&app.get(&format!("/v1/attendance/requests?user_id={}", w.manager.id), &w.boss.token).await.expect(200));
        approve(&app, &w.boss.token, &theirs[0], json!({})).await.expect(200);
    }

    async fn rejections_need_a_comment_and_comments_have_limits(app: TestApp) {
        let w = world(&app).await;
        let request = id(&file(&app, &w.employee.token, missed("missed_check_in", day(1), "09:00")).await);
        let reject_path = format!("/v1/attendance/requests/{request}:reject");
        let reject = |body: Value| app.post(&reject_path, &w.manager.token, body);
        assert_eq!(field(&reject(json!({})).await.problem(422, "validation_failed")), "comment");
        assert_eq!(field(&reject(json!({"comment": " "})).await.problem(422, "validation_failed")), "comment");
        assert_eq!(field(&reject(json!({"comment": "x".repeat(1001)})).await.problem(422, "validation_failed")), "comment");
        assert_eq!(field(&reject(json!({"reason": "no"})).await.problem(422, "validation_failed")), "reason");
        assert_eq!(field(&approve(&app, &w.manager.token, &request, json!({"comment": ""})).await.problem(422, "validation_failed")), "comment");
        // An approval may come with no body at all.
        let res = app.client.post(app.url(&format!("/v1/attendance/requests/{request}:approve"))).bearer_auth(&w.manager.token).send().await.unwrap();
        let approved = TestApp::answer(res).await.expect(200);
        assert_eq!(approved["status"], "approved");
        // Unknown ids are 404, whatever the action.
        let unknown = Uuid::now_v7();
        approve(&app, &w.manager.token, &unknown.to_string(), json!({})).await.problem(404, "not_found");
        app.post(&format!("/v1/attendance/requests/{unknown}:cancel"), &w.employee.token, json!({})).await.problem(404, "not_found");
        app.get("/v1/attendance/requests/not-a-uuid", &w.employee.token).await.problem(404, "not_found");
        let bad = app.get("/v1/attendance/requests?from=2026-13-01", &w.employee.token).await.problem(422, "validation_failed");
        assert_eq!(field(&bad), "from");
        let bad = app.get("/v1/attendance/requests?status=bogus", &w.employee.token).await.problem(422, "validation_failed");
        assert_eq!(field(&bad), "status");
        let bad = app.get("/v1/attendance/requests?from=2026-11-02&to=2026-11-01", &w.employee.token).await.problem(422, "validation_failed");
        assert_eq!(field(&bad), "to");
    }

    async fn lists_filter_and_page(app: TestApp) {
        let w = world(&app).await;
        let mut filed = Vec::new();
        for d in 1..=5 {
            filed.push(id(&file(&app, &w.employee.token, missed("missed_check_in", day(d), "09:00")).await));
        }
        approve(&app, &w.manager.token, &filed[0], json!({})).await.expect(200);
        let m = &w.manager.token;
        assert_eq!(listed(&app, m, "").await, filed, "in the order filed");
        assert_eq!(listed(&app, m, "?status=approved").await, [filed[0].clone()]);
        assert_eq!(listed(&app, m, "?status=pending").await, filed[1..].to_vec());
        assert_eq!(listed(&app, m, &format!("?from={}&to={}", day(4), day(2))).await, filed[1..4].to_vec());
        let first = app.get("/v1/attendance/requests?limit=2", &w.manager.token).await.expect(200);
        assert_eq!(ids(&first), filed[..2].to_vec());
        let cursor = first["next_cursor"].as_str().unwrap();
        let rest = app.get(&format!("/v1/attendance/requests?limit=10&cursor={cursor}"), &w.manager.token).await.expect(200);
        assert_eq!(ids(&rest), filed[2..].to_vec());
        assert_eq!(rest["next_cursor"], Value::Null);
    }

    async fn concurrent_approvals_make_one_decision(app: TestApp) {
        let w = world(&app).await;
        for d in 1..=4 {
            let request = id(&file(&app, &w.employee.token, missed("missed_check_in", day(d), "09:00")).await);
            // Two approvers (the manager and HR), several times each, all at once.
            let (approve_path, reject_path) = (format!("/v1/attendance/requests/{request}:approve"), format!("/v1/attendance/requests/{request}:reject"));
            let answers = futures_util::future::join_all((0..6).map(|i| {
                let token = if i % 2 == 0 { &w.manager.token } else { &w.hr.token };
                if i % 3 == 2 {
                    app.post(&reject_path, token, json!({"comment": "no"}))
                } else {
                    app.post(&approve_path, token, json!({}))
                }
            }))
            .await;
            let won: Vec<&crate::common::Answer> = answers.iter().filter(|a| a.status == 200).collect();
            assert_eq!(won.len(), 1, "{:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
            assert!(answers.iter().all(|a| a.status == 200 || a.status == 409));
            let decided = app.get(&format!("/v1/attendance/requests/{request}"), &w.employee.token).await.expect(200);
            assert_eq!(decided, won[0].body, "the winner's decision stands");
            let decisions = audit(&app, &w.admin, "attendance_request.approved", &request).await.len()
                + audit(&app, &w.admin, "attendance_request.rejected", &request).await.len();
            assert_eq!(decisions, 1, "one decision audited");
        }
        // Exactly one event per approved request, none for the rejected ones.
        let approved: Vec<Value> = app.get("/v1/attendance/requests?status=approved", &w.employee.token).await.expect(200)["items"].as_array().unwrap().clone();
        let events = app.get("/v1/attendance/events", &w.employee.token).await.expect(200);
        let mut from_events: Vec<String> = events["items"].as_array().unwrap().iter().map(|e| e["request_id"].as_str().unwrap().to_owned()).collect();
        let mut approved_ids: Vec<String> = approved.iter().map(id).collect();
        from_events.sort();
        approved_ids.sort();
        assert_eq!(from_events, approved_ids);
    }

    async fn a_requests_photo_is_the_requesters_and_shown_like_an_events(app: TestApp) {
        let w = world(&app).await;
        let photo = upload(&app, &w.employee.token, "image/jpeg", jpeg_with_exif()).await.expect(201);
        let peers = upload(&app, &w.peer.token, "image/jpeg", jpeg_with_exif()).await.expect(201);
        let mut body = missed("missed_check_in", day(1), "09:00");
        body["photo_id"] = peers["photo_id"].clone();
        assert_eq!(field(&app.post("/v1/attendance/requests", &w.employee.token, body.clone()).await.problem(422, "validation_failed")), "photo_id");
        body["photo_id"] = photo["photo_id"].clone();
        let filed = file(&app, &w.employee.token, body.clone()).await;
        let request = id(&filed);
        assert_eq!(filed["photo_id"], photo["photo_id"]);
        let photo_path = format!("/v1/attendance/requests/{request}/photo");
        assert_eq!(filed["photo_url"], photo_path.as_str());
        // Used once: neither another request nor a check-in may take it.
        let mut again = missed("missed_check_out", day(1), "18:00");
        again["photo_id"] = photo["photo_id"].clone();
        assert_eq!(field(&app.post("/v1/attendance/requests", &w.employee.token, again).await.problem(422, "validation_failed")), "photo_id");
        let check_in = json!({
            "client_event_id": Uuid::now_v7(), "kind": "check_in", "captured_at": Utc::now().to_rfc3339(),
            "location": {"lat": 12.97, "lon": 77.59}, "photo_id": photo["photo_id"],
        });
        assert_eq!(field(&app.post("/v1/attendance/events", &w.employee.token, check_in).await.problem(422, "validation_failed")), "photo_id");
        // The direct manager sees the photo (attendance.photo.read:direct), audited; HR, who
        // may decide but has no photo scope, gets no link and a 404.
        let seen = app.get(&format!("/v1/attendance/requests/{request}"), &w.manager.token).await.expect(200);
        assert_eq!(seen["photo_url"], photo_path.as_str());
        let res = app.client.get(app.url(&photo_path)).bearer_auth(&w.manager.token).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(res.headers()["content-type"], "image/jpeg");
        let disclosed = audit(&app, &w.admin, "photo.disclosed", &request).await;
        assert_eq!(disclosed.len(), 1);
        assert_eq!(disclosed[0]["actor_id"], w.manager.id.as_str());
        assert_eq!(disclosed[0]["subject_id"], w.employee.id.as_str());
        let by_hr = app.get(&format!("/v1/attendance/requests/{request}"), &w.hr.token).await.expect(200);
        assert_eq!(by_hr["photo_id"], photo["photo_id"]);
        assert_eq!(by_hr["photo_url"], Value::Null);
        app.get(&photo_path, &w.hr.token).await.problem(404, "not_found");
        app.get(&photo_path, &w.peer.token).await.problem(404, "not_found");
        // The requester's own photo is no disclosure.
        let res = app.client.get(app.url(&photo_path)).bearer_auth(&w.employee.token).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(audit(&app, &w.admin, "photo.disclosed", &request).await.len(), 1);
    }

    async fn reports_count_the_approved_events(app: TestApp) {
        let w = world(&app).await;
        let date = day(1);
        let absent = report_row(&app, &w, date).await;
        assert_eq!((&absent["status"], &absent["corrected"]), (&json!("absent"), &json!(false)));
        let inn = id(&file(&app, &w.employee.token, missed("missed_check_in", date, "09:00")).await);
        let out = id(&file(&app, &w.employee.token, missed("missed_check_out", date, "17:30")).await);
        assert_eq!(report_row(&app, &w, date).await["status"], "absent", "pending requests count for nothing");
        approve(&app, &w.manager.token, &inn, json!({})).await.expect(200);
        assert_eq!(report_row(&app, &w, date).await["status"], "incomplete");
        approve(&app, &w.manager.token, &out, json!({})).await.expect(200);
        let day_row = report_row(&app, &w, date).await;
        assert_eq!(day_row["status"], "present");
        assert_eq!(day_row["first_in"], format!("{date}T09:00:00Z"));
        assert_eq!(day_row["last_out"], format!("{date}T17:30:00Z"));
        assert_eq!(day_row["worked_minutes"], 510);
        assert_eq!(day_row["events"], 2);
        assert_eq!(day_row["first_in_lat"], Value::Null);
        assert_eq!(day_row["corrected"], true);
        let csv = app.get(&format!("/v1/reports/attendance?from={date}&to={date}&scope=team&format=csv"), &w.manager.token).await;
        assert_eq!(csv.status, 200);
        let line = csv.text.lines().find(|l| l.starts_with(w.employee.id.as_str())).expect("the employee's CSV row");
        // `corrected` is the 16th column; the shift columns follow it (all empty or 0 here).
        assert!(line.ends_with(",true,,,,,0,0,0"), "corrected, then the shift columns: {line}");
    }

    async fn a_corrected_check_out_replaces_the_flagged_one_in_reports(app: TestApp) {
        let w = world(&app).await;
        let date = day(1);
        let token = &w.employee.token;
        record(&app, token, "check_in", utc(date, "09:00")).await;
        let out = record(&app, token, "check_out", utc(date, "17:00")).await;
        assert_eq!(out["status"], "flagged");
        let before = report_row(&app, &w, date).await;
        assert_eq!((&before["worked_minutes"], &before["corrected"]), (&json!(480), &json!(false)));
        let request = id(&file(&app, token, correction(&out, date, "18:00")).await);
        approve(&app, &w.manager.token, &request, json!({})).await.expect(200);
        // The day as corrected: the pair runs to 18:00, not to 17:00 with 18:00 beside it.
        let after = report_row(&app, &w, date).await;
        assert_eq!(after["last_out"], format!("{date}T18:00:00Z"));
        assert_eq!(after["worked_minutes"], 540);
        assert_eq!(after["corrected"], true);
        assert_eq!(after["status"], "present");
        assert_eq!((&after["events"], &after["flagged"]), (&json!(3), &json!(2)), "the original is still one of the day's events");
        // Stored and listed as it was.
        let listed = app.get("/v1/attendance/events", token).await.expect(200);
        assert!(listed["items"].as_array().unwrap().contains(&out), "the original is listed unchanged");
    }

    async fn a_corrected_check_in_moves_the_days_start_in_reports(app: TestApp) {
        let w = world(&app).await;
        let date = day(1);
        let token = &w.employee.token;
        let inn = record(&app, token, "check_in", utc(date, "08:00")).await;
        assert_eq!(inn["status"], "flagged");
        record(&app, token, "check_out", utc(date, "17:00")).await;
        let request = id(&file(&app, token, correction(&inn, date, "09:30")).await);
        approve(&app, &w.manager.token, &request, json!({})).await.expect(200);
        let row = report_row(&app, &w, date).await;
        assert_eq!(row["first_in"], format!("{date}T09:30:00Z"));
        assert_eq!(row["worked_minutes"], 450, "paid from the corrected time, not from 08:00");
        assert_eq!(row["first_in_lat"], Value::Null, "the correction has no location");
        assert_eq!(row["corrected"], true);
    }

    async fn an_event_is_corrected_once(app: TestApp) {
        let w = world(&app).await;
        let token = &w.employee.token;
        let date = day(1);
        let inn = record(&app, token, "check_in", utc(date, "08:00")).await;
        let first = id(&file(&app, token, correction(&inn, date, "09:00")).await);
        approve(&app, &w.manager.token, &first, json!({})).await.expect(200);
        // A second correction of the same event is refused, and nothing of it is stored.
        let problem = app.post("/v1/attendance/requests", token, correction(&inn, date, "09:15")).await.problem(409, "conflict");
        assert_eq!(field(&problem), "event_id");
        assert_eq!(listed(&app, token, "").await, [first]);
        assert_eq!(app.get("/v1/audit?action=attendance_request.created", &w.admin).await.expect(200)["items"].as_array().unwrap().len(), 1);
        // Two corrections of one event pending at once: possible when the user's zone moves
        // between the filings (the event falls on another local date, so the one-pending key
        // of day and kind does not meet). 23:30 UTC is 05:00 the next day in Kolkata.
        let late = record(&app, token, "check_in", utc(day(2), "23:30")).await;
        let in_utc = id(&file(&app, token, correction(&late, day(2), "23:45")).await);
        let site = app.post("/v1/sites", &w.admin, json!({"name": "Bangalore", "timezone": "Asia/Kolkata"})).await.expect(201);
        app.patch(&format!("/v1/users/{}", w.employee.id), &w.admin, json!({"site_ids": [site["id"]]})).await.expect(200);
        let in_kolkata = id(&file(&app, token, correction(&late, date, "06:00")).await);
        // Approved at once, by two approvers: the database lets one through.
        let paths = [&in_utc, &in_kolkata].map(|r| format!("/v1/attendance/requests/{r}:approve"));
        let answers = futures_util::future::join(
            app.post(&paths[0], &w.manager.token, json!({})),
            app.post(&paths[1], &w.hr.token, json!({})),
        )
        .await;
        let mut statuses = [answers.0.status.as_u16(), answers.1.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409]);
        let (won, lost, lost_answer) = if answers.0.status == 409 {
            (&in_kolkata, &in_utc, answers.0)
        } else {
            (&in_utc, &in_kolkata, answers.1)
        };
        assert_eq!(field(&lost_answer.problem(409, "conflict")), "event_id");
        // One event corrects it; the loser wrote nothing, is unaudited and still pending.
        let events = app.get("/v1/attendance/events", token).await.expect(200);
        let written: Vec<&Value> = events["items"].as_array().unwrap().iter().filter(|e| e["request_id"] == won.as_str() || e["request_id"] == lost.as_str()).collect();
        assert_eq!(written.len(), 1);
        assert_eq!(written[0]["request_id"], won.as_str());
        assert!(audit(&app, &w.admin, "attendance_request.approved", lost).await.is_empty());
        assert_eq!(app.get(&format!("/v1/attendance/requests/{lost}"), token).await.expect(200)["status"], "pending");
    }

    async fn export_holds_requests_and_erasure_keeps_their_skeleton(app: TestApp) {
        let w = world(&app).await;
        let request = id(&file(&app, &w.employee.token, missed("missed_check_in", day(1), "09:00")).await);
        app.post(&format!("/v1/attendance/requests/{request}:reject"), &w.manager.token, json!({"comment": "no proof"})).await.expect(200);
        let export = app.get("/v1/me/export", &w.employee.token).await.expect(200);
        let exported = export["attendance_requests"].as_array().unwrap();
        assert_eq!(exported.len(), 1);
        assert_eq!(exported[0]["id"], request.as_str());
        assert_eq!(exported[0]["reason"], "my phone died");
        assert_eq!(exported[0]["comment"], "no proof");
        app.post(&format!("/v1/users/{}/erase", w.employee.id), &w.admin, json!({})).await.expect(202);
        let erased = app.get(&format!("/v1/attendance/requests/{request}"), &w.employee.token).await.expect(200);
        assert_eq!(erased["reason"], Value::Null);
        assert_eq!(erased["comment"], Value::Null);
        assert_eq!(erased["status"], "rejected");
        assert_eq!(erased["date"], day(1).to_string());
        assert_eq!(erased["decided_by"], w.manager.id.as_str());
    }
}

/// The published contract of the request routes: every path and method, the path and query
/// parameters as such, bearer security, and problem documents for every error status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_routes_are_in_the_openapi_document() {
    let app = TestApp::spawn(crate::common::Backend::Sqlite).await.unwrap();
    let spec = app.send(Method::GET, "/openapi.json", None, None).await.expect(200);
    let routes = [
        ("/v1/attendance/requests", "post", &[][..]),
        (
            "/v1/attendance/requests",
            "get",
            &["user_id", "status", "from", "to", "limit", "cursor"][..],
        ),
        ("/v1/attendance/requests/{id}", "get", &["id"][..]),
        ("/v1/attendance/requests/{id}/photo", "get", &["id"][..]),
        ("/v1/attendance/requests/{id}:approve", "post", &["id"][..]),
        ("/v1/attendance/requests/{id}:reject", "post", &["id"][..]),
        ("/v1/attendance/requests/{id}:cancel", "post", &["id"][..]),
    ];
    for (path, method, params) in routes {
        let op = &spec["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is missing");
        assert!(
            op["operationId"].as_str().unwrap().contains("attendance_request"),
            "{method} {path}: an operationId of its own"
        );
        assert_eq!(op["security"], json!([{"bearer": []}]), "{method} {path}");
        let declared: Vec<&str> = op["parameters"]
            .as_array()
            .map(|a| a.iter().map(|p| p["name"].as_str().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(declared, params, "{method} {path}");
        for p in op["parameters"].as_array().into_iter().flatten() {
            let expected = if p["name"] == "id" { "path" } else { "query" };
            assert_eq!(p["in"], expected, "{method} {path}: {p}");
        }
        // Every error answer's form (problem+json, by reference) is `contract`'s rule for all
        // operations; here only that the operation declares what a caller needs.
        let responses = op["responses"].as_object().unwrap();
        assert!(responses.contains_key("401"), "{method} {path} documents 401");
    }
    let kinds = &spec["components"]["schemas"]["RequestKind"]["enum"];
    assert_eq!(kinds, &json!(["missed_check_in", "missed_check_out", "correction"]));
    assert!(spec["components"]["schemas"]["RequestView"]["properties"]["result_event_id"].is_object());
}
