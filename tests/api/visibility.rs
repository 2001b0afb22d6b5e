//! Who sees whom: the reporting tree (three levels and a second tenant), the batch relation
//! query, and every default role against every read endpoint, before and after the tree
//! or the grants change.

use serde_json::{Value, json};
use std::collections::BTreeSet;

use crate::common::TestApp;

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
        let person = t.everyone().into_iter().find(|(n, _)| n == viewer).unwrap().1;
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
            let status = app.get(&format!("/v1/users/{}", subject.id), &person.token).await.status.as_u16();
            let visible = name == *viewer || want.is_some_and(|names| names.contains(&name));
            assert_eq!(status, if visible { 200 } else { 404 }, "GET /v1/users/{name} as {viewer}");
        }
    }
}

const ORG_A: &[&str] = &["admin", "hr", "auditor", "outsider", "top", "mid", "leaf", "peer"];

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
}
