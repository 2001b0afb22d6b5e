//! Who sees whom: the reporting tree (three levels and a second tenant), the batch relation
//! query, and every default role against every read endpoint, before and after the tree
//! or the grants change.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

use crate::common::{Answer, TestApp};

/// A square of about 1.1 km around (12.97, 77.59), Bangalore (as in the geofence tests).
pub fn square() -> Value {
    json!({"type": "Polygon", "coordinates": [[[77.585, 12.965], [77.595, 12.965], [77.595, 12.975], [77.585, 12.975], [77.585, 12.965]]]})
}

pub const INSIDE: (f64, f64) = (12.97, 77.59);
/// About 556 m north of the square.
pub const OUTSIDE: (f64, f64) = (12.98, 77.59);

/// Records events as the owner of `token`, through the offline batch (so past times are
/// not clock skew): `(kind, captured_at, point)`. Returns the event views.
pub async fn record(app: &TestApp, token: &str, events: &[(&str, &str, (f64, f64))]) -> Vec<Value> {
    let items: Vec<Value> = events
        .iter()
        .map(|(kind, at, (lat, lon))| {
            json!({
                "client_event_id": uuid::Uuid::now_v7(), "kind": kind, "captured_at": at,
                "location": {"lat": lat, "lon": lon, "accuracy_m": 10.0, "provider": "gps", "is_mock": false},
            })
        })
        .collect();
    let answer = app
        .post("/v1/attendance/events:batch", token, json!({"events": items}))
        .await
        .expect(200);
    answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            assert_eq!(r["status_code"], 201, "{r}");
            r["event"].clone()
        })
        .collect()
}

/// A site in Asia/Kolkata fenced by `square()`, assigned to `users`; and a policy that keeps
/// old test dates from being flagged as stale offline events.
pub async fn fenced_site(app: &TestApp, admin: &str, users: &[&Person]) -> String {
    let site = app
        .post(
            "/v1/sites",
            admin,
            json!({"name": "Bangalore", "timezone": "Asia/Kolkata"}),
        )
        .await
        .expect(201);
    let site_id = site["id"].as_str().unwrap().to_owned();
    app.post(
        "/v1/geofences",
        admin,
        json!({"site_id": site_id, "name": "Campus", "geometry": square()}),
    )
    .await
    .expect(201);
    for u in users {
        app.patch(&format!("/v1/users/{}", u.id), admin, json!({"site_ids": [site_id]}))
            .await
            .expect(200);
    }
    let mut policy = app.get("/v1/policy", admin).await.expect(200);
    policy["offline_max_age_h"] = json!(1_000_000);
    app.put("/v1/policy", admin, policy).await.expect(200);
    site_id
}

/// A GET with a chosen request id, to find the audit entries it caused.
pub async fn get_as_request(app: &TestApp, path: &str, token: &str, request_id: &str) -> Answer {
    let res = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .header("x-request-id", request_id)
        .send()
        .await
        .expect("request sent");
    TestApp::answer(res).await
}

/// Location disclosures recorded for one request: subject name -> entries.
pub async fn disclosed_in(app: &TestApp, t: &Tree, request_id: &str) -> BTreeMap<&'static str, usize> {
    let trail = app
        .get("/v1/audit?action=location.disclosed&limit=1000", &t.admin.token)
        .await
        .expect(200);
    let mut subjects = BTreeMap::new();
    for e in trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["request_id"] == request_id)
    {
        *subjects
            .entry(t.name_of(e["subject_id"].as_str().unwrap()))
            .or_insert(0) += 1;
    }
    subjects
}

/// One user of the fixture, logged in.
pub struct Person {
    pub id: String,
    pub token: String,
}

/// The fixture:
///
/// ```text
/// org A:  admin (org_admin)   hr (employee, hr)   auditor (auditor)   outsider (employee)
///         top (employee, manager)
///         ├── mid (employee, manager)
///         │   └── leaf (employee)
///         └── peer (employee)
/// org B:  b_admin (org_admin)  b_user (employee)
/// ```
pub struct Tree {
    pub org_id: String,
    pub admin: Person,
    pub hr: Person,
    pub auditor: Person,
    pub outsider: Person,
    pub top: Person,
    pub mid: Person,
    pub leaf: Person,
    pub peer: Person,
    pub b_admin: Person,
    pub b_user: Person,
}

async fn person(app: &TestApp, admin: &str, email: &str, roles: &[&str], manager: Option<&Person>) -> Person {
    let (user, token) = app.user(admin, email, roles, manager.map(|m| m.id.as_str())).await;
    Person {
        id: user["id"].as_str().expect("id").to_owned(),
        token,
    }
}

impl Tree {
    pub async fn build(app: &TestApp) -> Tree {
        let admin_token = app.admin().await;
        let me = app.get("/v1/me", &admin_token).await.expect(200);
        let admin = Person {
            id: me["id"].as_str().unwrap().to_owned(),
            token: admin_token.clone(),
        };
        let a = admin_token.as_str();
        let top = person(app, a, "top@example.com", &["employee", "manager"], None).await;
        let mid = person(app, a, "mid@example.com", &["employee", "manager"], Some(&top)).await;
        let leaf = person(app, a, "leaf@example.com", &["employee"], Some(&mid)).await;
        let peer = person(app, a, "peer@example.com", &["employee"], Some(&top)).await;
        let outsider = person(app, a, "outsider@example.com", &["employee"], None).await;
        let hr = person(app, a, "hr@example.com", &["employee", "hr"], None).await;
        let auditor = person(app, a, "auditor@example.com", &["auditor"], None).await;
        let b_token = app.second_org("b-admin@example.com").await;
        let b_me = app.get("/v1/me", &b_token).await.expect(200);
        let b_admin = Person {
            id: b_me["id"].as_str().unwrap().to_owned(),
            token: b_token.clone(),
        };
        let b_user = person(app, &b_token, "b-user@example.com", &["employee"], None).await;
        Tree {
            org_id: me["org_id"].as_str().unwrap().to_owned(),
            admin,
            hr,
            auditor,
            outsider,
            top,
            mid,
            leaf,
            peer,
            b_admin,
            b_user,
        }
    }

    /// Every user of both organisations, by short name.
    pub fn everyone(&self) -> [(&'static str, &Person); 10] {
        [
            ("admin", &self.admin),
            ("hr", &self.hr),
            ("auditor", &self.auditor),
            ("outsider", &self.outsider),
            ("top", &self.top),
            ("mid", &self.mid),
            ("leaf", &self.leaf),
            ("peer", &self.peer),
            ("b_admin", &self.b_admin),
            ("b_user", &self.b_user),
        ]
    }

    pub fn name_of(&self, id: &str) -> &'static str {
        self.everyone()
            .into_iter()
            .find(|(_, p)| p.id == id)
            .map(|(n, _)| n)
            .unwrap_or("?")
    }

    /// Short names of the users in a list answer's items (by `key`, `id` or `user_id`).
    pub fn names(&self, items: &Value, key: &str) -> BTreeSet<&'static str> {
        items
            .as_array()
            .expect("items")
            .iter()
            .map(|i| self.name_of(i[key].as_str().unwrap_or_default()))
            .collect()
    }
}

pub fn set(names: &[&'static str]) -> BTreeSet<&'static str> {
    names.iter().copied().collect()
}

/// What `GET /v1/users` shows each viewer: `None` is 403.
async fn assert_user_lists(app: &TestApp, t: &Tree, expected: &[(&str, Option<&[&'static str]>)]) {
    for (viewer, want) in expected {
        let person = t.by_name(viewer);
        let answer = app.get("/v1/users?limit=1000", &person.token).await;
        match want {
            None => {
                answer.problem(403, "forbidden");
            }
            Some(names) => {
                let body = answer.expect(200);
                assert_eq!(t.names(&body["items"], "id"), set(names), "GET /v1/users as {viewer}");
            }
        }
        // One user at a time: what the list shows is 200, everything else is 404, never 403.
        for (name, subject) in t.everyone() {
            let status = app
                .get(&format!("/v1/users/{}", subject.id), &person.token)
                .await
                .status
                .as_u16();
            let visible = name == *viewer || want.is_some_and(|names| names.contains(&name));
            assert_eq!(
                status,
                if visible { 200 } else { 404 },
                "GET /v1/users/{name} as {viewer}"
            );
        }
    }
}

const ORG_A: &[&str] = &["admin", "hr", "auditor", "outsider", "top", "mid", "leaf", "peer"];

/// What a viewer gets of a subject's events: 404, the event without its location, or all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sight {
    Hidden,
    Redacted,
    Located,
}
use Sight::{Hidden as H, Located as L, Redacted as R};

/// The subjects with events, in the order of the expectation arrays.
const SUBJECTS: [&str; 4] = ["top", "mid", "leaf", "peer"];

/// Viewers whose role has no `attendance.read:*` at all: the event list is 403 for them.
const NO_ATTENDANCE: [&str; 3] = ["admin", "auditor", "b_admin"];
/// Viewers with `reports.read:*`; everyone else gets 403 from the report.
const REPORTERS: [&str; 3] = ["top", "mid", "hr"];

impl Tree {
    pub fn by_name(&self, name: &str) -> &Person {
        self.everyone().into_iter().find(|(n, _)| *n == name).unwrap().1
    }
}

/// Asserts what every viewer sees of every subject's check-in: by id, in the event list, in
/// the JSON report and in the CSV report.
async fn assert_sights(app: &TestApp, t: &Tree, check_ins: &BTreeMap<&str, String>, expected: &[(&str, [Sight; 4])]) {
    for (viewer, sights) in expected {
        let token = &t.by_name(viewer).token;
        let want: BTreeMap<&str, Sight> = SUBJECTS.iter().copied().zip(sights.iter().copied()).collect();
        for (subject, sight) in &want {
            let answer = app
                .get(&format!("/v1/attendance/events/{}", check_ins[subject]), token)
                .await;
            let context = format!("{viewer} reading {subject}'s event");
            match sight {
                // Without any attendance grant the endpoint itself is refused (403, before any
                // lookup); with one, what the caller may not see does not exist (404).
                H if NO_ATTENDANCE.contains(viewer) => {
                    answer.problem(403, "forbidden");
                }
                H => {
                    answer.problem(404, "not_found");
                }
                R => {
                    let e = answer.expect(200);
                    assert!(
                        e["location"].is_null() && e["location_redacted"] == true,
                        "{context}: {e}"
                    );
                }
                L => {
                    let e = answer.expect(200);
                    assert_eq!(e["location"]["lat"], INSIDE.0, "{context}: {e}");
                    assert_eq!(e["location_redacted"], false, "{context}");
                }
            }
        }
        // The list shows the same, and nothing else (no other tenant, no invisible user).
        let list = app.get("/v1/attendance/events?limit=1000", token).await;
        if NO_ATTENDANCE.contains(viewer) {
            list.problem(403, "forbidden");
        } else {
            let items = list.expect(200)["items"].as_array().unwrap().clone();
            let seen: BTreeSet<&str> = items
                .iter()
                .map(|e| t.name_of(e["user_id"].as_str().unwrap()))
                .collect();
            let visible: BTreeSet<&str> = want.iter().filter(|(_, s)| **s != H).map(|(n, _)| *n).collect();
            assert_eq!(seen, visible, "{viewer}'s event list");
            for e in &items {
                let sight = want[t.name_of(e["user_id"].as_str().unwrap())];
                assert_eq!(e["location"].is_null(), sight != L, "{viewer}'s list: {e}");
            }
        }
        // Reports: the same locations in JSON and CSV; invisible users are not in the report.
        let query = "from=2026-11-20&to=2026-11-20";
        if !REPORTERS.contains(viewer) {
            app.get(&format!("/v1/reports/attendance?{query}"), token)
                .await
                .problem(403, "forbidden");
            continue;
        }
        let json_rows = crate::reports::report(app, token, query).await;
        let csv_rows = crate::reports::report_csv(app, token, query).await;
        for (format, rows, null) in [("json", &json_rows, Value::Null), ("csv", &csv_rows, json!(""))] {
            for (subject, sight) in &want {
                let row = rows
                    .iter()
                    .find(|r| t.name_of(r["user_id"].as_str().unwrap()) == *subject);
                match (sight, row) {
                    (H, None) => {}
                    (H, Some(r)) => panic!("{viewer}'s {format} report shows {subject}: {r}"),
                    (_, None) => panic!("{viewer}'s {format} report lacks {subject}"),
                    (R, Some(r)) => {
                        assert_eq!(r["status"], "present", "{viewer}/{format}/{subject}: {r}");
                        for column in [
                            "first_in_lat",
                            "first_in_lon",
                            "first_in_accuracy_m",
                            "first_in_geofence",
                        ] {
                            assert_eq!(r[column], null, "{viewer}/{format}/{subject}: {r}");
                        }
                    }
                    (L, Some(r)) => {
                        assert_eq!(r["status"], "present", "{viewer}/{format}/{subject}: {r}");
                        assert_ne!(r["first_in_lat"], null, "{viewer}/{format}/{subject}: {r}");
                        assert_ne!(r["first_in_geofence"], null, "{viewer}/{format}/{subject}: {r}");
                    }
                }
            }
        }
    }
}

const BASELINE: [(&str, [Sight; 4]); 9] = [
    //            top mid leaf peer
    ("admin", [H, H, H, H]),
    ("hr", [R, R, R, R]),
    ("auditor", [H, H, H, H]),
    ("outsider", [H, H, H, H]),
    ("top", [L, L, R, L]),
    ("mid", [H, L, L, H]),
    ("leaf", [H, H, L, H]),
    ("peer", [H, H, H, L]),
    ("b_admin", [H, H, H, H]),
];

backend_tests! {
    async fn relations_are_answered_for_a_batch_in_one_query(app: TestApp) {
        let t = Tree::build(&app).await;
        let repo = muster::startup::open_repo(&app.settings).await.expect("repo");
        let org: uuid::Uuid = t.org_id.parse().unwrap();
        let id = |p: &Person| -> uuid::Uuid { p.id.parse().unwrap() };
        let subjects: Vec<uuid::Uuid> = t.everyone().iter().map(|(_, p)| id(p)).collect();
        use muster::access::Relation::*;
        let of = |viewer: &Person| {
            let repo = repo.clone();
            let subjects = subjects.clone();
            let viewer = id(viewer);
            async move { repo.relations(org, viewer, &subjects).await.expect("relations") }
        };
        let top = of(&t.top).await;
        assert_eq!(top.len(), 8, "the other tenant's users are not related at all");
        assert_eq!(top[&id(&t.top)], Myself);
        assert_eq!(top[&id(&t.mid)], Direct);
        assert_eq!(top[&id(&t.peer)], Direct);
        assert_eq!(top[&id(&t.leaf)], Team);
        assert_eq!(top[&id(&t.outsider)], Org);
        assert_eq!(top[&id(&t.admin)], Org);
        assert!(!top.contains_key(&id(&t.b_user)));
        let mid = of(&t.mid).await;
        assert_eq!(mid[&id(&t.leaf)], Direct);
        assert_eq!(mid[&id(&t.top)], Org, "a manager is not in their report's team");
        assert_eq!(mid[&id(&t.peer)], Org);
        let leaf = of(&t.leaf).await;
        assert_eq!(leaf[&id(&t.leaf)], Myself);
        assert!(leaf.iter().filter(|(k, _)| **k != id(&t.leaf)).all(|(_, r)| *r == Org));
        assert!(repo.relations(org, id(&t.top), &[]).await.unwrap().is_empty());
        // Large batches (more than one statement's worth) answer for the known users only.
        let mut many: Vec<uuid::Uuid> = (0..2500).map(|_| uuid::Uuid::now_v7()).collect();
        many.push(id(&t.leaf));
        many.push(id(&t.b_user));
        let big = repo.relations(org, id(&t.top), &many).await.expect("relations");
        assert_eq!(big.len(), 1);
        assert_eq!(big[&id(&t.leaf)], Team);
        // The single-subject check agrees with the batch.
        assert!(repo.is_in_team(org, id(&t.top), id(&t.leaf)).await.unwrap());
        assert!(!repo.is_in_team(org, id(&t.mid), id(&t.peer)).await.unwrap());
        // Moving leaf under peer changes the answer at once.
        app.patch(&format!("/v1/users/{}", t.leaf.id), &t.admin.token, json!({"manager_id": t.peer.id})).await.expect(200);
        let top = of(&t.top).await;
        assert_eq!(top[&id(&t.leaf)], Team);
        assert_eq!(of(&t.mid).await[&id(&t.leaf)], Org);
        assert_eq!(of(&t.peer).await[&id(&t.leaf)], Direct);
    }

    async fn every_role_sees_exactly_its_users(app: TestApp) {
        let t = Tree::build(&app).await;
        assert_user_lists(&app, &t, &[
            ("admin", Some(ORG_A)),
            ("hr", Some(ORG_A)),
            ("auditor", None),
            ("outsider", None),
            ("top", Some(&["top", "mid", "leaf", "peer"])),
            ("mid", Some(&["mid", "leaf"])),
            ("leaf", None),
            ("peer", None),
            ("b_admin", Some(&["b_admin", "b_user"])),
            ("b_user", None),
        ]).await;
        // leaf moves from mid to peer, and peer becomes a manager: the very next requests follow.
        app.patch(&format!("/v1/users/{}", t.leaf.id), &t.admin.token, json!({"manager_id": t.peer.id})).await.expect(200);
        app.patch(&format!("/v1/users/{}", t.peer.id), &t.admin.token, json!({"roles": ["employee", "manager"]})).await.expect(200);
        assert_user_lists(&app, &t, &[
            ("top", Some(&["top", "mid", "leaf", "peer"])),
            ("mid", Some(&["mid"])),
            ("peer", Some(&["peer", "leaf"])),
            ("leaf", None),
        ]).await;
    }

    async fn audit_and_disclosures_are_scoped(app: TestApp) {
        let t = Tree::build(&app).await;
        for (name, p) in t.everyone() {
            let audit = app.get("/v1/audit", &p.token).await;
            if matches!(name, "admin" | "auditor" | "b_admin") {
                let body = audit.expect(200);
                // Each org's trail holds its own users only.
                let subjects = t.names(&body["items"], "subject_id");
                let foreign = if name == "b_admin" { "top" } else { "b_user" };
                assert!(!subjects.contains(foreign), "{name} sees {foreign} in the audit trail");
            } else {
                audit.problem(403, "forbidden");
            }
            // Everyone may ask who saw their data; nobody has seen anything yet.
            let mine = app.get("/v1/me/disclosures", &p.token).await.expect(200);
            assert!(mine["items"].as_array().unwrap().is_empty(), "{name}");
        }
        // The filters of the trail.
        let admin = &t.admin.token;
        let created = app.get(&format!("/v1/audit?action=user.created&subject_id={}", t.leaf.id), admin).await.expect(200);
        assert_eq!(created["items"].as_array().unwrap().len(), 1);
        assert_eq!(created["items"][0]["actor_id"], t.admin.id.as_str());
        let by_admin = app.get(&format!("/v1/audit?actor_id={}&action=user.created", t.admin.id), admin).await.expect(200);
        assert_eq!(by_admin["items"].as_array().unwrap().len(), 7);
        let future = app.get("/v1/audit?from=2999-01-01T00:00:00Z", admin).await.expect(200);
        assert!(future["items"].as_array().unwrap().is_empty());
        let past = app.get("/v1/audit?to=2000-01-01T00:00:00Z", admin).await.expect(200);
        assert!(past["items"].as_array().unwrap().is_empty());
        app.get("/v1/audit?action=nonsense", admin).await.problem(422, "validation_failed");
    }

    async fn every_role_sees_exactly_its_events_locations_and_reports(app: TestApp) {
        let t = Tree::build(&app).await;
        fenced_site(&app, &t.admin.token, &[&t.top, &t.mid, &t.leaf, &t.peer]).await;
        let mut check_ins = BTreeMap::new();
        for name in SUBJECTS {
            // 09:00 to 17:30 in Bangalore on 2026-11-20.
            let events = record(&app, &t.by_name(name).token, &[
                ("check_in", "2026-11-20T09:00:00+05:30", INSIDE),
                ("check_out", "2026-11-20T17:30:00+05:30", INSIDE),
            ]).await;
            check_ins.insert(name, events[0]["id"].as_str().unwrap().to_owned());
        }
        let b_events = record(&app, &t.b_user.token, &[("check_in", "2026-11-20T09:00:00+05:30", INSIDE)]).await;
        assert_sights(&app, &t, &check_ins, &BASELINE).await;
        // Another tenant's event is 404 to everyone here who may read events at all.
        for (name, p) in t.everyone().into_iter().filter(|(n, _)| !n.starts_with("b_") && !NO_ATTENDANCE.contains(n)) {
            let answer = app.get(&format!("/v1/attendance/events/{}", b_events[0]["id"].as_str().unwrap()), &p.token).await;
            assert_eq!(answer.status.as_u16(), 404, "{name}");
        }

        // Widening managers' location scope to their whole team shows top leaf's location...
        let roles = app.get("/v1/roles", &t.admin.token).await.expect(200);
        let manager: Vec<Value> = roles["items"].as_array().unwrap().iter().find(|r| r["name"] == "manager").unwrap()["permissions"].as_array().unwrap().clone();
        let mut widened = manager.clone();
        widened.push(json!("attendance.location.read:team"));
        app.put("/v1/roles/manager", &t.admin.token, json!({"permissions": widened})).await.expect(200);
        let mut wide = BASELINE;
        wide[4].1 = [L, L, L, L];
        assert_sights(&app, &t, &check_ins, &wide).await;
        // ...and taking it back hides it again, at the next request.
        app.put("/v1/roles/manager", &t.admin.token, json!({"permissions": manager})).await.expect(200);
        assert_sights(&app, &t, &check_ins, &BASELINE).await;

        // leaf moves from mid to top: top now sees leaf as a direct report, mid not at all.
        app.patch(&format!("/v1/users/{}", t.leaf.id), &t.admin.token, json!({"manager_id": t.top.id})).await.expect(200);
        let mut moved = BASELINE;
        moved[4].1 = [L, L, L, L];
        moved[5].1 = [H, L, H, H];
        assert_sights(&app, &t, &check_ins, &moved).await;
    }

    async fn each_response_audits_one_disclosure_per_other_subject(app: TestApp) {
        let t = Tree::build(&app).await;
        fenced_site(&app, &t.admin.token, &[&t.top, &t.mid, &t.leaf, &t.peer]).await;
        let mut check_ins = BTreeMap::new();
        for name in SUBJECTS {
            let events = record(&app, &t.by_name(name).token, &[
                ("check_in", "2026-11-20T09:00:00+05:30", INSIDE),
                ("check_out", "2026-11-20T13:00:00+05:30", INSIDE),
                ("check_in", "2026-11-20T14:00:00+05:30", INSIDE),
                ("check_out", "2026-11-20T18:00:00+05:30", INSIDE),
            ]).await;
            check_ins.insert(name, events[0]["id"].as_str().unwrap().to_owned());
        }
        let top = &t.top.token;
        // A list with four events each of mid and peer (top's own and leaf's redacted ones
        // are not disclosures): one entry per subject, stamped with the request id.
        get_as_request(&app, "/v1/attendance/events?limit=1000", top, "list-by-top").await.expect(200);
        assert_eq!(disclosed_in(&app, &t, "list-by-top").await, BTreeMap::from([("mid", 1), ("peer", 1)]));
        get_as_request(&app, &format!("/v1/attendance/events/{}", check_ins["peer"]), top, "get-by-top").await.expect(200);
        assert_eq!(disclosed_in(&app, &t, "get-by-top").await, BTreeMap::from([("peer", 1)]));
        get_as_request(&app, &format!("/v1/attendance/events/{}", check_ins["leaf"]), top, "redacted-get").await.expect(200);
        assert!(disclosed_in(&app, &t, "redacted-get").await.is_empty());
        get_as_request(&app, "/v1/reports/attendance?from=2026-11-19&to=2026-11-21", top, "report-by-top").await.expect(200);
        assert_eq!(disclosed_in(&app, &t, "report-by-top").await, BTreeMap::from([("mid", 1), ("peer", 1)]));
        let csv = get_as_request(&app, "/v1/reports/attendance?from=2026-11-19&to=2026-11-21&format=csv", &t.mid.token, "csv-by-mid").await;
        assert_eq!(csv.status.as_u16(), 200);
        assert_eq!(disclosed_in(&app, &t, "csv-by-mid").await, BTreeMap::from([("leaf", 1)]));
        // HR sees events and reports without locations: nothing disclosed.
        get_as_request(&app, "/v1/attendance/events?limit=1000", &t.hr.token, "list-by-hr").await.expect(200);
        get_as_request(&app, "/v1/reports/attendance?from=2026-11-20&to=2026-11-20", &t.hr.token, "report-by-hr").await.expect(200);
        assert!(disclosed_in(&app, &t, "list-by-hr").await.is_empty());
        assert!(disclosed_in(&app, &t, "report-by-hr").await.is_empty());
        // Reading one's own data is no disclosure.
        get_as_request(&app, "/v1/attendance/events?limit=1000", &t.leaf.token, "own-list").await.expect(200);
        assert!(disclosed_in(&app, &t, "own-list").await.is_empty());

        // Each subject sees who looked, through which request; the trail filters agree.
        let mine = app.get("/v1/me/disclosures", &t.peer.token).await.expect(200);
        let requests: BTreeSet<&str> = mine["items"].as_array().unwrap().iter().map(|e| {
            assert_eq!(e["actor_id"], t.top.id.as_str());
            assert_eq!(e["subject_id"], t.peer.id.as_str());
            assert_eq!(e["action"], "location.disclosed");
            assert!(e.get("ip").is_none(), "the subject does not learn the looker's address");
            e["request_id"].as_str().unwrap()
        }).collect();
        assert_eq!(requests, BTreeSet::from(["list-by-top", "get-by-top", "report-by-top"]));
        let leafs = app.get("/v1/me/disclosures", &t.leaf.token).await.expect(200);
        assert_eq!(t.names(&leafs["items"], "actor_id"), set(&["mid"]));
        for (name, p) in [("hr", &t.hr), ("outsider", &t.outsider), ("b_user", &t.b_user)] {
            let none = app.get("/v1/me/disclosures", &p.token).await.expect(200);
            assert!(none["items"].as_array().unwrap().is_empty(), "{name}");
        }
        let by_top = app.get(&format!("/v1/audit?actor_id={}&subject_id={}&action=location.disclosed", t.top.id, t.mid.id), &t.admin.token).await.expect(200);
        assert_eq!(by_top["items"].as_array().unwrap().len(), 2, "the list and the report");
        let auditor = app.get(&format!("/v1/audit?subject_id={}&action=location.disclosed", t.leaf.id), &t.auditor.token).await.expect(200);
        assert_eq!(auditor["items"].as_array().unwrap().len(), 1);
        let later = app.get("/v1/audit?action=location.disclosed&from=2999-01-01T00:00:00Z", &t.admin.token).await.expect(200);
        assert!(later["items"].as_array().unwrap().is_empty());
        // The other tenant's trail holds none of it.
        let other = app.get("/v1/audit?action=location.disclosed", &t.b_admin.token).await.expect(200);
        assert!(other["items"].as_array().unwrap().is_empty());
        // HR exporting leaf's data shows leaf's locations in full: leaf learns of it. Exporting
        // one's own data is no disclosure.
        get_as_request(&app, &format!("/v1/users/{}/export", t.leaf.id), &t.hr.token, "export-by-hr").await.expect(200);
        assert_eq!(disclosed_in(&app, &t, "export-by-hr").await, BTreeMap::from([("leaf", 1)]));
        let leafs = app.get("/v1/me/disclosures", &t.leaf.token).await.expect(200);
        assert_eq!(t.names(&leafs["items"], "actor_id"), set(&["mid", "hr"]));
        get_as_request(&app, "/v1/me/export", &t.peer.token, "own-export").await.expect(200);
        assert!(disclosed_in(&app, &t, "own-export").await.is_empty());
    }

    async fn every_role_sees_exactly_its_app_logs(app: TestApp) {
        let t = Tree::build(&app).await;
        for name in ["top", "mid", "leaf", "peer", "b_user"] {
            let body = json!({
                "device": {"id": format!("device-{name}"), "name": format!("{name}'s phone"), "model": "Pixel 8", "os": "android", "os_version": "15", "app_version": "2.3.1"},
                "app_config": {},
                "entries": [{"ts": "2026-11-21T09:02:11+05:30", "level": "info", "event": "sync", "message": "hello", "attrs": {}}],
            });
            app.post("/v1/app-logs", &t.by_name(name).token, body).await.expect(202);
        }
        // Default grants: employees read their own, org admins everything with PII; managers,
        // HR and auditors have no app-log grant at all.
        let expected: [(&str, Option<&[&'static str]>); 10] = [
            ("admin", Some(&["top", "mid", "leaf", "peer"])),
            ("hr", Some(&[])), // an employee too: its own (empty) logs only
            ("auditor", None),
            ("outsider", Some(&[])),
            ("top", Some(&["top"])),
            ("mid", Some(&["mid"])),
            ("leaf", Some(&["leaf"])),
            ("peer", Some(&["peer"])),
            ("b_admin", Some(&["b_user"])),
            ("b_user", Some(&["b_user"])),
        ];
        for (viewer, want) in expected {
            let answer = app.get("/v1/app-logs?limit=1000", &t.by_name(viewer).token).await;
            match want {
                None => {
                    answer.problem(403, "forbidden");
                }
                Some(names) => {
                    let body = answer.expect(200);
                    assert_eq!(t.names(&body["items"], "user_id"), set(names), "app logs as {viewer}");
                    for e in body["items"].as_array().unwrap() {
                        let pii = viewer.ends_with("admin");
                        assert_eq!(e["device"]["id"].is_null(), !pii, "{viewer}: {e}");
                        assert_eq!(e["ip"].is_null(), !pii, "{viewer}: {e}");
                    }
                }
            }
        }
        // The admin's PII reads are disclosures the subjects can see; their own reads are not.
        let leaf = app.get("/v1/me/disclosures", &t.leaf.token).await.expect(200);
        let actions: BTreeSet<&str> = leaf["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, BTreeSet::from(["applog_pii.disclosed"]));
        assert_eq!(t.names(&leaf["items"], "actor_id"), set(&["admin"]));
        let b_admin = app.get("/v1/me/disclosures", &t.b_admin.token).await.expect(200);
        assert!(b_admin["items"].as_array().unwrap().is_empty());
    }
}
