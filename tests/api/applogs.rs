//! App logs: JSON and protobuf uploads and answers, limits, scoping, PII redaction and its
//! audit, the client address behind proxies, control characters, rate limiting, retention
//! and erasure in storage.

use prost::Message;
use reqwest::Method;
use serde_json::{Value, json};

use muster::proto::v1;

use crate::common::{Answer, Backend, TestApp};

const PROTOBUF: &str = "application/x-protobuf";

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn field_names(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|e| e.iter().map(|f| f["field"].as_str().unwrap_or("").to_owned()).collect())
        .unwrap_or_default()
}

fn entry(event: &str) -> Value {
    json!({"ts": "2026-11-21T09:02:11+05:30", "level": "info", "event": event, "message": "hello", "attrs": {"screen": "home"}})
}

fn device() -> Value {
    json!({"id": "device-123", "name": "Asha's phone", "model": "Pixel 8", "os": "android", "os_version": "15", "app_version": "2.3.1"})
}

fn batch(entries: Vec<Value>) -> Value {
    json!({"device": device(), "app_config": {"sync_interval_s": 300, "flags": {"beta": true}}, "entries": entries})
}

async fn upload(app: &TestApp, token: &str, body: Value) -> Answer {
    app.post("/v1/app-logs", token, body).await
}

async fn raw_upload(app: &TestApp, token: &str, content_type: &str, body: Vec<u8>) -> Answer {
    let res = app
        .client
        .post(app.url("/v1/app-logs"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    TestApp::answer(res).await
}

/// The entries `token` sees for `query`, all pages walked.
async fn logs(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if query.is_empty() { "" } else { "&" };
        let path = match &cursor {
            Some(c) => format!("/v1/app-logs?{query}{sep}cursor={c}"),
            None => format!("/v1/app-logs?{query}"),
        };
        let page = app.get(&path, token).await.expect(200);
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
}

fn events(items: &[Value]) -> Vec<String> {
    let mut e: Vec<String> = items.iter().map(|i| i["event"].as_str().unwrap().to_owned()).collect();
    e.sort();
    e
}

fn proto_batch(events: &[&str]) -> v1::AppLogBatch {
    let attrs = json!({"screen": "home"});
    v1::AppLogBatch {
        device: Some(v1::AppLogDevice {
            id: Some("device-123".into()),
            name: Some("Asha's phone".into()),
            model: Some("Pixel 8".into()),
            os: Some("android".into()),
            os_version: Some("15".into()),
            app_version: Some("2.3.1".into()),
        }),
        app_config: Some(muster::proto::json_to_struct(
            json!({"sync_interval_s": 300, "flags": {"beta": true}})
                .as_object()
                .unwrap()
                .clone(),
        )),
        entries: events
            .iter()
            .map(|e| v1::AppLogEntry {
                ts: "2026-11-21T09:02:11+05:30".into(),
                level: "info".into(),
                event: (*e).into(),
                message: "hello".into(),
                attrs: Some(muster::proto::json_to_struct(attrs.as_object().unwrap().clone())),
            })
            .collect(),
    }
}

/// Everything an item carries but its id and receipt time, which differ per upload.
fn content(item: &Value) -> Value {
    let mut c = item.clone();
    let o = c.as_object_mut().unwrap();
    o.remove("id");
    o.remove("received_at");
    c
}

backend_tests! {
    async fn json_uploads_are_stored_with_what_the_server_adds(app: TestApp) {
        let admin = app.admin().await;
        let (user, token) = app.user(&admin, "asha@example.com", &["employee"], None).await;
        // A client cannot choose its address: the peer is not a trusted proxy.
        let res = app.client.post(app.url("/v1/app-logs")).bearer_auth(&token).header("x-forwarded-for", "6.6.6.6")
            .json(&batch(vec![entry("app_start"), entry("sync")])).send().await.unwrap();
        let accepted = TestApp::answer(res).await.expect(202);
        assert_eq!(accepted, json!({"accepted": 2}));
        let mine = logs(&app, &token, "").await;
        assert_eq!(mine.len(), 2);
        let item = &mine[0];
        assert_eq!(item["user_id"], id(&user));
        assert_eq!(item["ts"], "2026-11-21T03:32:11Z");
        assert_eq!(item["level"], "info");
        assert_eq!(item["event"], "app_start");
        assert_eq!(item["message"], "hello");
        assert_eq!(item["attrs"], json!({"screen": "home"}));
        assert_eq!(item["app_config"], json!({"sync_interval_s": 300, "flags": {"beta": true}}));
        assert!(chrono::DateTime::parse_from_rfc3339(item["received_at"].as_str().unwrap()).is_ok());
        // An employee lacks applogs.pii.read, even for their own logs.
        assert_eq!(item["device"], json!({"id": null, "name": null, "model": "Pixel 8", "os": "android", "os_version": "15", "app_version": "2.3.1"}));
        assert!(item["ip"].is_null());
        let seen = logs(&app, &admin, "").await;
        assert_eq!(seen[0]["ip"], "127.0.0.1");
        assert_eq!(seen[0]["device"], device());
        // Documented in the OpenAPI document, with both media types.
        let spec = app.send(Method::GET, "/openapi.json", None, None).await.expect(200);
        let post = &spec["paths"]["/v1/app-logs"]["post"];
        assert!(post["requestBody"]["content"][PROTOBUF].is_object(), "{post}");
        assert!(post["responses"]["422"].is_object() && post["responses"]["413"].is_object());
        assert!(spec["paths"]["/v1/app-logs"]["get"].is_object());
    }

    async fn protobuf_uploads_and_answers_carry_the_same_fields_as_json(app: TestApp) {
        let admin = app.admin().await;
        let (_, token) = app.user(&admin, "asha@example.com", &["employee"], None).await;
        let res = app.client.post(app.url("/v1/app-logs")).bearer_auth(&token)
            .header("content-type", PROTOBUF).header("accept", PROTOBUF)
            .body(proto_batch(&["proto_one", "proto_two"]).encode_to_vec()).send().await.unwrap();
        assert_eq!(res.status(), 202);
        assert_eq!(res.headers()["content-type"], PROTOBUF);
        assert!(res.headers()["vary"].to_str().unwrap().contains("accept"));
        let accepted = v1::AppLogAccepted::decode(res.bytes().await.unwrap()).unwrap();
        assert_eq!(accepted.accepted, 2);
        // The same content as JSON, answered in JSON.
        upload(&app, &token, batch(vec![entry("json_one")])).await.expect(202);
        let items = logs(&app, &admin, "").await;
        assert_eq!(events(&items), ["json_one", "proto_one", "proto_two"]);
        let by_event = |e: &str| items.iter().find(|i| i["event"] == e).unwrap().clone();
        let mut from_proto = content(&by_event("proto_one"));
        from_proto["event"] = json!("json_one");
        assert_eq!(from_proto, content(&by_event("json_one")));
        // The list in protobuf holds what the JSON list holds.
        let res = app.client.get(app.url("/v1/app-logs?limit=2")).bearer_auth(&admin)
            .header("accept", format!("application/json;q=0.5, {PROTOBUF}")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], PROTOBUF);
        let page = v1::AppLogPage::decode(res.bytes().await.unwrap()).unwrap();
        let json_page = app.get("/v1/app-logs?limit=2", &admin).await.expect(200);
        assert_eq!(page.next_cursor.as_deref(), json_page["next_cursor"].as_str());
        assert_eq!(page.items.len(), 2);
        for (p, j) in page.items.iter().zip(json_page["items"].as_array().unwrap()) {
            assert_eq!(p.id, j["id"].as_str().unwrap());
            assert_eq!(p.user_id, j["user_id"].as_str().unwrap());
            assert_eq!(p.event, j["event"].as_str().unwrap());
            assert_eq!(p.level, "info");
            assert_eq!(p.ts, j["ts"].as_str().unwrap());
            assert_eq!(p.received_at, j["received_at"].as_str().unwrap());
            assert_eq!(p.ip.as_deref(), Some("127.0.0.1"));
            assert_eq!(p.device.as_ref().unwrap().id.as_deref(), Some("device-123"));
            assert_eq!(muster::proto::struct_to_json(p.attrs.clone().unwrap()), j["attrs"]);
            assert_eq!(muster::proto::struct_to_json(p.app_config.clone().unwrap()), j["app_config"]);
        }
        // Without pii.read the protobuf answer leaves the PII out, as JSON nulls it.
        let res = app.client.get(app.url("/v1/app-logs")).bearer_auth(&token).header("accept", PROTOBUF).send().await.unwrap();
        let page = v1::AppLogPage::decode(res.bytes().await.unwrap()).unwrap();
        assert!(page.items.iter().all(|i| i.ip.is_none() && i.device.as_ref().unwrap().id.is_none() && i.device.as_ref().unwrap().name.is_none()));
        assert_eq!(page.items[0].device.as_ref().unwrap().model.as_deref(), Some("Pixel 8"));
    }

    async fn every_limit_and_bad_input_is_a_named_problem_and_stores_nothing(app: TestApp) {
        let admin = app.admin().await;
        let (_, token) = app.user(&admin, "asha@example.com", &["employee"], None).await;
        let refused = |field: &'static str| move |p: Value| assert_eq!(field_names(&p), [field], "{p}");
        // Too many entries: 422 naming `entries` (documented in the OpenAPI document).
        let many = (0..1001).map(|i| entry(&format!("e{i}"))).collect();
        refused("entries")(upload(&app, &token, batch(many)).await.problem(422, "validation_failed"));
        refused("entries")(upload(&app, &token, batch(vec![])).await.problem(422, "validation_failed"));
        // Over 1 MiB: 413, whatever the content.
        let big: Vec<Value> = (0..200).map(|_| json!({"ts": "2026-11-21T09:02:11Z", "level": "info", "event": "e", "message": "x".repeat(8000)})).collect();
        upload(&app, &token, batch(big)).await.problem(413, "payload_too_large");
        let mut big_proto = proto_batch(&["e"; 200]);
        for e in &mut big_proto.entries { e.message = "x".repeat(8000); }
        raw_upload(&app, &token, PROTOBUF, big_proto.encode_to_vec()).await.problem(413, "payload_too_large");
        // Nesting deeper than 16 levels in attrs or app_config.
        let mut deep = json!("leaf");
        for _ in 0..17 { deep = json!({"n": deep}); }
        let mut nested = entry("deep");
        nested["attrs"] = deep.clone();
        refused("entries[0].attrs")(upload(&app, &token, batch(vec![nested])).await.problem(422, "validation_failed"));
        let mut config = batch(vec![entry("ok")]);
        config["app_config"] = deep["n"].clone();
        upload(&app, &token, config.clone()).await.expect(202);
        config["app_config"] = json!({"list": [deep["n"].clone()]});
        refused("app_config")(upload(&app, &token, config).await.problem(422, "validation_failed"));
        assert_eq!(logs(&app, &admin, "").await.len(), 1, "only the valid batch was stored");
        // Strings: too long, empty event, NUL; and the bad entry spoils its whole batch.
        let mut long = vec![entry("a"), entry("b"), entry("c"), entry("d")];
        long[3]["message"] = json!("m".repeat(8193));
        refused("entries[3].message")(upload(&app, &token, batch(long)).await.problem(422, "validation_failed"));
        let mut event = entry("x");
        event["event"] = json!("e".repeat(257));
        refused("entries[0].event")(upload(&app, &token, batch(vec![event])).await.problem(422, "validation_failed"));
        refused("entries[0].event")(upload(&app, &token, batch(vec![entry("")])).await.problem(422, "validation_failed"));
        let mut nul = entry("x");
        nul["message"] = json!("before\u{0}after");
        refused("entries[0].message")(upload(&app, &token, batch(vec![nul])).await.problem(422, "validation_failed"));
        let mut name = batch(vec![entry("x")]);
        name["device"]["name"] = json!("n".repeat(257));
        refused("device.name")(upload(&app, &token, name).await.problem(422, "validation_failed"));
        let mut long_attr = entry("x");
        long_attr["attrs"] = json!({"k": "v".repeat(8193)});
        refused("entries[0].attrs")(upload(&app, &token, batch(vec![long_attr])).await.problem(422, "validation_failed"));
        // Times with an offset only, and the four levels only.
        for ts in ["2026-11-21 09:02:11", "2026-11-21T09:02:11", "yesterday", "", "9999-12-31T23:00:00-05:00"] {
            let mut e = entry("x");
            e["ts"] = json!(ts);
            refused("entries[1].ts")(upload(&app, &token, batch(vec![entry("fine"), e])).await.problem(422, "validation_failed"));
        }
        for level in ["fatal", "INFO", ""] {
            let mut e = entry("x");
            e["level"] = json!(level);
            refused("entries[0].level")(upload(&app, &token, batch(vec![e])).await.problem(422, "validation_failed"));
        }
        // Shape errors name the field; unknown fields are refused, not ignored.
        let mut extra = entry("x");
        extra["colour"] = json!("red");
        refused("entries[0].colour")(upload(&app, &token, batch(vec![extra])).await.problem(422, "validation_failed"));
        refused("device")(upload(&app, &token, json!({"entries": [entry("x")]})).await.problem(422, "validation_failed"));
        refused("entries[0].ts")(upload(&app, &token, json!({"device": {}, "entries": [{"ts": 5, "level": "info", "event": "x"}]})).await.problem(422, "validation_failed"));
        // Media type, syntax, protobuf.
        raw_upload(&app, &token, "text/plain", b"{}".to_vec()).await.problem(415, "unsupported_media_type");
        raw_upload(&app, &token, "application/json", b"{\"device\":".to_vec()).await.problem(400, "malformed_request");
        raw_upload(&app, &token, PROTOBUF, vec![0xff, 0xff, 0xff]).await.problem(400, "malformed_request");
        let mut no_device = proto_batch(&["x"]);
        no_device.device = None;
        refused("device")(raw_upload(&app, &token, PROTOBUF, no_device.encode_to_vec()).await.problem(422, "validation_failed"));
        let mut bad_level = proto_batch(&["x", "y"]);
        bad_level.entries[1].level = "loud".into();
        refused("entries[1].level")(raw_upload(&app, &token, PROTOBUF, bad_level.encode_to_vec()).await.problem(422, "validation_failed"));
        let mut too_deep = proto_batch(&["x"]);
        too_deep.entries[0].attrs = Some(muster::proto::json_to_struct(deep.as_object().unwrap().clone()));
        refused("entries[0].attrs")(raw_upload(&app, &token, PROTOBUF, too_deep.encode_to_vec()).await.problem(422, "validation_failed"));
        // 401 and 403 come before any body error.
        app.send(Method::POST, "/v1/app-logs", None, Some(&json!({"bogus": 1}))).await.problem(401, "unauthorized");
        let (_, auditor) = app.user(&admin, "auditor@example.com", &["auditor"], None).await;
        raw_upload(&app, &auditor, "text/plain", b"garbage".to_vec()).await.problem(403, "forbidden");
        app.get("/v1/app-logs", &auditor).await.problem(403, "forbidden");
        // Bad queries.
        app.get("/v1/app-logs?level=fatal", &admin).await.problem(422, "validation_failed");
        app.get("/v1/app-logs?from=yesterday", &admin).await.problem(422, "validation_failed");
        app.get("/v1/app-logs?lat=12.97", &admin).await.problem(422, "validation_failed");
        app.get("/v1/app-logs?limit=0", &admin).await.problem(422, "validation_failed");
        assert_eq!(events(&logs(&app, &admin, "").await), ["ok"], "nothing else was stored");
    }

    async fn reads_follow_the_manager_tree_and_never_cross_tenants(app: TestApp) {
        let admin = app.admin().await;
        let mut manager = app.get("/v1/roles", &admin).await.expect(200)["items"].as_array().unwrap().iter()
            .find(|r| r["name"] == "manager").unwrap()["permissions"].as_array().unwrap().clone();
        manager.push(json!("applogs.read:team"));
        app.put("/v1/roles/manager", &admin, json!({"permissions": manager})).await.expect(200);
        let (top, top_t) = app.user(&admin, "top@example.com", &["employee", "manager"], None).await;
        let (mid, mid_t) = app.user(&admin, "mid@example.com", &["employee", "manager"], Some(&id(&top))).await;
        let (leaf, leaf_t) = app.user(&admin, "leaf@example.com", &["employee"], Some(&id(&mid))).await;
        let (outsider, out_t) = app.user(&admin, "out@example.com", &["employee"], None).await;
        for (token, name) in [(&top_t, "top"), (&mid_t, "mid"), (&leaf_t, "leaf"), (&out_t, "out")] {
            let mut e = vec![entry(name), entry(name)];
            e[1]["level"] = json!("error");
            e[1]["ts"] = json!("2026-11-22T10:00:00Z");
            upload(&app, token, batch(e)).await.expect(202);
        }
        let names = |items: Vec<Value>| { let mut e = events(&items); e.dedup(); e };
        assert_eq!(names(logs(&app, &top_t, "").await), ["leaf", "mid", "top"]);
        assert_eq!(names(logs(&app, &mid_t, "").await), ["leaf", "mid"]);
        assert_eq!(names(logs(&app, &leaf_t, "").await), ["leaf"]);
        assert_eq!(names(logs(&app, &admin, "").await), ["leaf", "mid", "out", "top"]);
        // Naming someone out of scope (or unknown) is an empty list, never their data.
        assert_eq!(names(logs(&app, &top_t, &format!("user_id={}", id(&leaf))).await), ["leaf"]);
        assert!(logs(&app, &top_t, &format!("user_id={}", id(&outsider))).await.is_empty());
        assert!(logs(&app, &mid_t, &format!("user_id={}", id(&top))).await.is_empty());
        assert!(logs(&app, &leaf_t, &format!("user_id={}", id(&mid))).await.is_empty());
        assert!(logs(&app, &admin, &format!("user_id={}", uuid::Uuid::now_v7())).await.is_empty());
        assert_eq!(names(logs(&app, &leaf_t, &format!("user_id={}", id(&leaf))).await), ["leaf"]);
        // Moving the leaf away applies at once.
        app.patch(&format!("/v1/users/{}", id(&leaf)), &admin, json!({"manager_id": id(&outsider)})).await.expect(200);
        assert_eq!(names(logs(&app, &top_t, "").await), ["mid", "top"]);
        // Another organisation sees nothing of this one, even by id.
        let other = app.second_org("admin2@example.com").await;
        assert!(logs(&app, &other, "").await.is_empty());
        assert!(logs(&app, &other, &format!("user_id={}", id(&leaf))).await.is_empty());
        let (_, other_emp) = app.user(&other, "emp2@example.com", &["employee"], None).await;
        upload(&app, &other_emp, batch(vec![entry("other_org")])).await.expect(202);
        assert_eq!(names(logs(&app, &other, "").await), ["other_org"]);
        assert_eq!(names(logs(&app, &admin, "").await), ["leaf", "mid", "out", "top"]);
        // Filters and pages.
        assert_eq!(logs(&app, &admin, "level=error").await.len(), 4);
        assert!(logs(&app, &admin, "level=error").await.iter().all(|i| i["level"] == "error"));
        assert_eq!(logs(&app, &admin, "from=2026-11-22T00:00:00Z").await.len(), 4);
        assert_eq!(logs(&app, &admin, "to=2026-11-21T03:32:11Z").await.len(), 0);
        assert_eq!(logs(&app, &admin, "from=2026-11-21T09:02:11%2B05:30&to=2026-11-22T00:00:00Z").await.len(), 4);
        let page = app.get("/v1/app-logs?limit=3", &admin).await.expect(200);
        assert_eq!(page["items"].as_array().unwrap().len(), 3);
        let all = logs(&app, &admin, "limit=3").await;
        assert_eq!(all.len(), 8);
        let mut ids: Vec<String> = all.iter().map(id).collect();
        ids.dedup();
        assert_eq!(ids.len(), 8, "pages do not repeat");
    }

    async fn pii_needs_pii_read_and_each_disclosure_is_audited_for_its_subject(app: TestApp) {
        let admin = app.admin().await;
        let admin_id = app.get("/v1/me", &admin).await.expect(200)["id"].as_str().unwrap().to_owned();
        let (asha, asha_t) = app.user(&admin, "asha@example.com", &["employee"], None).await;
        let (ben, ben_t) = app.user(&admin, "ben@example.com", &["employee"], None).await;
        let (_, hr) = app.user(&admin, "hr@example.com", &["employee", "hr"], None).await;
        upload(&app, &asha_t, batch(vec![entry("a1"), entry("a2"), entry("a3")])).await.expect(202);
        upload(&app, &ben_t, batch(vec![entry("b1")])).await.expect(202);
        // The admin's own logs need the write permission; grant it to check "not for one's own".
        let mut grants = app.get("/v1/roles", &admin).await.expect(200)["items"].as_array().unwrap().iter()
            .find(|r| r["name"] == "org_admin").unwrap()["permissions"].as_array().unwrap().clone();
        grants.push(json!("applogs.write"));
        app.put("/v1/roles/org_admin", &admin, json!({"permissions": grants})).await.expect(200);
        upload(&app, &admin, batch(vec![entry("mine")])).await.expect(202);
        let res = app.client.get(app.url("/v1/app-logs")).bearer_auth(&admin).header("x-request-id", "req-pii-1").send().await.unwrap();
        let seen = TestApp::answer(res).await.expect(200);
        assert!(seen["items"].as_array().unwrap().iter().all(|i| i["ip"] == "127.0.0.1" && i["device"]["id"] == "device-123" && i["device"]["name"] == "Asha's phone"));
        let audit = app.get("/v1/audit?action=applog_pii.disclosed", &admin).await.expect(200);
        let mut subjects: Vec<(String, String, Value)> = audit["items"].as_array().unwrap().iter()
            .map(|e| (e["subject_id"].as_str().unwrap().to_owned(), e["request_id"].as_str().unwrap().to_owned(), e["detail"].clone())).collect();
        subjects.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let mut expected = vec![(id(&asha), "req-pii-1".to_owned(), json!({"objects": 3})), (id(&ben), "req-pii-1".to_owned(), json!({"objects": 1}))];
        expected.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        assert_eq!(subjects, expected, "one entry per other subject, none for the admin's own logs");
        assert!(audit["items"].as_array().unwrap().iter().all(|e| e["actor_id"] == admin_id.as_str()));
        // The subject sees who looked.
        let disclosures = app.get("/v1/me/disclosures", &asha_t).await.expect(200);
        let items = disclosures["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["action"], "applog_pii.disclosed");
        assert_eq!(items[0]["actor_id"], admin_id.as_str());
        assert_eq!(items[0]["request_id"], "req-pii-1");
        // A narrowed query discloses, and audits, only that subject.
        logs(&app, &admin, &format!("user_id={}", id(&ben))).await;
        let audit = app.get(&format!("/v1/audit?action=applog_pii.disclosed&subject_id={}", id(&ben)), &admin).await.expect(200);
        assert_eq!(audit["items"].as_array().unwrap().len(), 2);
        assert_eq!(app.get(&format!("/v1/audit?action=applog_pii.disclosed&subject_id={}", id(&asha)), &admin).await.expect(200)["items"].as_array().unwrap().len(), 1);
        // Without pii.read: nulls, and no disclosure to record.
        let mut hr_grants = app.get("/v1/roles", &admin).await.expect(200)["items"].as_array().unwrap().iter()
            .find(|r| r["name"] == "hr").unwrap()["permissions"].as_array().unwrap().clone();
        hr_grants.push(json!("applogs.read:org"));
        app.put("/v1/roles/hr", &admin, json!({"permissions": hr_grants})).await.expect(200);
        let hidden = logs(&app, &hr, "").await;
        assert_eq!(hidden.len(), 5);
        assert!(hidden.iter().all(|i| i["ip"].is_null() && i["device"]["id"].is_null() && i["device"]["name"].is_null() && i["device"]["model"] == "Pixel 8"));
        assert_eq!(app.get("/v1/audit?action=applog_pii.disclosed", &admin).await.expect(200)["items"].as_array().unwrap().len(), 3);
        assert!(app.get("/v1/me/disclosures", &ben_t).await.expect(200)["items"].as_array().unwrap().len() == 2);
    }

    async fn control_characters_are_data_kept_verbatim(app: TestApp) {
        let admin = app.admin().await;
        let (_, token) = app.user(&admin, "asha@example.com", &["employee"], None).await;
        let nasty = "line one\r\n2026-11-21T00:00:00Z ERROR muster: forged\u{1b}[31m\ttab\u{7}\u{85}\u{2028}end";
        let mut e = entry("evt\r\nforged");
        e["message"] = json!(nasty);
        e["attrs"] = json!({"key\r\nx": nasty, "list": [nasty]});
        let mut body = batch(vec![e]);
        body["device"]["model"] = json!("Pixel\n8");
        body["app_config"] = json!({"note": nasty});
        upload(&app, &token, body).await.expect(202);
        raw_upload(&app, &token, PROTOBUF, {
            let mut p = proto_batch(&["proto\r\nevent"]);
            p.entries[0].message = nasty.into();
            p.encode_to_vec()
        }).await.expect(202);
        let items = logs(&app, &admin, "").await;
        let json_item = items.iter().find(|i| i["event"] == "evt\r\nforged").expect("event kept verbatim");
        assert_eq!(json_item["message"], nasty);
        assert_eq!(json_item["attrs"], json!({"key\r\nx": nasty, "list": [nasty]}));
        assert_eq!(json_item["device"]["model"], "Pixel\n8");
        assert_eq!(json_item["app_config"]["note"], nasty);
        let proto_item = items.iter().find(|i| i["event"] == "proto\r\nevent").expect("protobuf event kept verbatim");
        assert_eq!(proto_item["message"], nasty);
    }

    async fn retention_and_erasure_remove_app_logs(app: TestApp) {
        let admin = app.admin().await;
        let (asha, asha_t) = app.user(&admin, "asha@example.com", &["employee"], None).await;
        let (_, ben_t) = app.user(&admin, "ben@example.com", &["employee"], None).await;
        for i in 0..3 {
            upload(&app, &asha_t, batch(vec![entry(&format!("a{i}")), entry(&format!("a{i}"))])).await.expect(202);
        }
        upload(&app, &ben_t, batch(vec![entry("b0"), entry("b0")])).await.expect(202);
        upload(&app, &ben_t, batch(vec![entry("b1")])).await.expect(202);
        let other = app.second_org("admin2@example.com").await;
        let (_, other_emp) = app.user(&other, "emp2@example.com", &["employee"], None).await;
        upload(&app, &other_emp, batch(vec![entry("other")])).await.expect(202);
        // Erasure: one user's entries and batches, nobody else's.
        app.post(&format!("/v1/users/{}/erase", id(&asha)), &admin, serde_json::json!({})).await.expect(202);
        assert_eq!(events(&logs(&app, &admin, "").await), ["b0", "b0", "b1"]);
        // Retention: by receipt time and the org's policy, in small batches.
        let mut policy = app.get("/v1/policy", &admin).await.expect(200);
        policy["retention"]["applog_days"] = serde_json::json!(1);
        app.put("/v1/policy", &admin, policy).await.expect(200);
        let repo = muster::startup::open_repo(&app.settings).await.unwrap();
        let photos = muster::photos::open(&app.settings.photo_store, &app.settings.s3_options()).await.unwrap();
        assert_eq!(muster::privacy::run_retention(repo.as_ref(), photos.as_ref(), app.retention(1)).await.unwrap().app_log_batches, 0);
        let two_days_ago = match app.backend {
            crate::common::Backend::Postgres => "now() - interval '2 days'".to_owned(),
            crate::common::Backend::Sqlite => format!("'{}'", (chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        };
        app.sql(&format!("UPDATE app_log_batches SET received_at = {two_days_ago}")).await;
        let purged = muster::privacy::run_retention(repo.as_ref(), photos.as_ref(), app.retention(1)).await.unwrap();
        assert_eq!(purged.app_log_batches, 2, "ben's two batches, one per round");
        assert!(logs(&app, &admin, "").await.is_empty());
        // Another organisation's logs are untouched by both.
        assert_eq!(events(&logs(&app, &other, "").await), ["other"]);
    }

}

/// Spawns a server with `tweak` on each backend (skipping PostgreSQL when not configured).
macro_rules! tweaked_tests {
    ($($name:ident($tweak:expr) => $body:ident;)*) => {
        $( mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(app) = crate::common::TestApp::spawn_with(super::Backend::Sqlite, $tweak).await { super::$body(app).await }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = crate::common::TestApp::spawn_with(super::Backend::Postgres, $tweak).await { super::$body(app).await }
            }
        } )*
    };
}

tweaked_tests! {
    trusted_proxy(|s: &mut muster::config::Settings| s.trusted_proxies = vec!["127.0.0.1".into()]) => forwarded_address_counts_behind_a_trusted_proxy;
    rate_limit(|s: &mut muster::config::Settings| s.applog_batches_per_minute = 2) => uploads_are_rate_limited_per_user;
}

async fn forwarded_address_counts_behind_a_trusted_proxy(app: TestApp) {
    let admin = app.admin().await;
    let (_, token) = app.user(&admin, "asha@example.com", &["employee"], None).await;
    for (header, event) in [("198.51.100.1, 203.0.113.7", "xff"), ("127.0.0.1", "proxy_only")] {
        let res = app
            .client
            .post(app.url("/v1/app-logs"))
            .bearer_auth(&token)
            .header("x-forwarded-for", header)
            .json(&batch(vec![entry(event)]))
            .send()
            .await
            .unwrap();
        TestApp::answer(res).await.expect(202);
    }
    let items = logs(&app, &admin, "").await;
    let ip = |e: &str| items.iter().find(|i| i["event"] == e).unwrap()["ip"].clone();
    // The nearest address that is not a trusted proxy; the proxy itself when that is all.
    assert_eq!(ip("xff"), "203.0.113.7");
    assert_eq!(ip("proxy_only"), "127.0.0.1");
}

async fn uploads_are_rate_limited_per_user(app: TestApp) {
    let admin = app.admin().await;
    let (_, asha) = app.user(&admin, "asha@example.com", &["employee"], None).await;
    let (_, ben) = app.user(&admin, "ben@example.com", &["employee"], None).await;
    upload(&app, &asha, batch(vec![entry("1")])).await.expect(202);
    upload(&app, &asha, batch(vec![entry("2")])).await.expect(202);
    let limited = upload(&app, &asha, batch(vec![entry("3")])).await;
    let retry: u64 = limited
        .headers
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    limited.problem(429, "rate_limited");
    // Another user has their own allowance; reading is not limited.
    upload(&app, &ben, batch(vec![entry("b")])).await.expect(202);
    assert_eq!(events(&logs(&app, &admin, "").await), ["1", "2", "b"]);
}
