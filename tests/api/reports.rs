//! `GET /v1/reports/attendance`: permissions, parameters, scoping, JSON and CSV.

use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::common::TestApp;
use crate::visibility::{INSIDE, OUTSIDE, Tree, fenced_site, record, set};

const COLUMNS: &str = "user_id,employee_code,name,date,first_in,last_out,worked_minutes,status,events,flagged,rejected,first_in_lat,first_in_lon,first_in_accuracy_m,first_in_geofence,corrected,shift_id,shift_version,scheduled_start,scheduled_end,late_minutes,early_leave_minutes,overtime_minutes";

/// A report as JSON rows.
pub async fn report(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let answer = app.get(&format!("/v1/reports/attendance?{query}"), token).await;
    let ct = answer
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = answer.expect(200);
    assert_eq!(ct, "application/json");
    body["items"].as_array().expect("items").clone()
}

/// A report as CSV records (the header checked and dropped), each as a JSON object of
/// strings keyed by column, so the same assertions read both formats.
pub async fn report_csv(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let res = app
        .client
        .get(app.url(&format!("/v1/reports/attendance?{query}&format=csv")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(ct.starts_with("text/csv"), "{ct}");
    let text = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header.join(","), COLUMNS);
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            Value::Object(header.iter().cloned().zip(r.iter().map(|c| json!(c))).collect())
        })
        .collect()
}

backend_tests! {
    async fn reports_need_a_reports_permission_and_valid_dates(app: TestApp) {
        let t = Tree::build(&app).await;
        let q = "/v1/reports/attendance?from=2026-11-01&to=2026-11-30";
        for p in [&t.leaf, &t.peer, &t.outsider, &t.auditor, &t.admin, &t.b_user] {
            app.get(q, &p.token).await.problem(403, "forbidden");
        }
        // Authorisation comes before the parameters: no hints for those who may not ask.
        app.get("/v1/reports/attendance?bogus=1", &t.leaf.token).await.problem(403, "forbidden");
        app.send(reqwest::Method::GET, q, None, None).await.problem(401, "unauthorized");
        app.get(&format!("{q}&scope=org"), &t.top.token).await.problem(403, "forbidden");
        app.get(&format!("{q}&scope=team"), &t.top.token).await.expect(200);
        let top = &t.top.token;
        let field = |p: Value| p["errors"][0]["field"].as_str().unwrap_or_default().to_owned();
        assert_eq!(field(app.get("/v1/reports/attendance?from=2026-11-30&to=2026-11-01", top).await.problem(422, "validation_failed")), "to");
        assert_eq!(field(app.get("/v1/reports/attendance?from=2025-01-01&to=2026-01-02", top).await.problem(422, "validation_failed")), "to");
        app.get("/v1/reports/attendance?from=2025-01-01&to=2026-01-01", top).await.expect(200);
        assert_eq!(field(app.get("/v1/reports/attendance?from=2026-13-01&to=2026-12-01", top).await.problem(422, "validation_failed")), "from");
        app.get("/v1/reports/attendance?to=2026-12-01", top).await.problem(422, "validation_failed");
        app.get(&format!("{q}&format=xml"), top).await.problem(422, "validation_failed");
        app.get(&format!("{q}&scope=everyone"), top).await.problem(422, "validation_failed");
        app.get(&format!("{q}&extra=1"), top).await.problem(422, "validation_failed");
    }

    async fn reports_cover_the_team_or_the_org_one_row_per_user_and_day(app: TestApp) {
        let t = Tree::build(&app).await;
        let q = "from=2026-11-20&to=2026-11-22";
        let team = report(&app, &t.top.token, q).await;
        assert_eq!(team.len(), 4 * 3);
        assert_eq!(t.names(&json!(team), "user_id"), set(&["top", "mid", "leaf", "peer"]));
        for row in &team {
            assert_eq!(row["status"], "absent");
            assert_eq!(row["worked_minutes"], 0);
            assert_eq!(row["events"], 0);
            assert!(row["first_in"].is_null() && row["first_in_lat"].is_null());
        }
        // Ordered by user, then date.
        let keys: Vec<(String, String)> = team.iter().map(|r| (r["user_id"].as_str().unwrap().to_owned(), r["date"].as_str().unwrap().to_owned())).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(team[0]["date"], "2026-11-20");
        assert_eq!(team[2]["date"], "2026-11-22");
        assert_eq!(t.names(&json!(report(&app, &t.mid.token, q).await), "user_id"), set(&["mid", "leaf"]));
        // HR's default scope is the organisation; never the other tenant.
        let org = report(&app, &t.hr.token, q).await;
        assert_eq!(t.names(&json!(org), "user_id"), set(&["admin", "hr", "auditor", "outsider", "top", "mid", "leaf", "peer"]));
        assert_eq!(t.names(&json!(report(&app, &t.hr.token, &format!("{q}&scope=team")).await), "user_id"), set(&["hr"]));
        // CSV carries the same rows.
        let csv = report_csv(&app, &t.top.token, q).await;
        assert_eq!(csv.len(), team.len());
        for (c, j) in csv.iter().zip(&team) {
            assert_eq!(c["user_id"], j["user_id"]);
            assert_eq!(c["date"], j["date"]);
            assert_eq!(c["name"], j["name"]);
            assert_eq!(c["status"], "absent");
            assert_eq!(c["first_in_lat"], "");
        }
        // A disabled user without events in the range drops out; moving leaf drops them from mid's team.
        app.post(&format!("/v1/users/{}/disable", t.peer.id), &t.admin.token, json!({})).await.expect(200);
        app.patch(&format!("/v1/users/{}", t.leaf.id), &t.admin.token, json!({"manager_id": t.outsider.id})).await.expect(200);
        assert_eq!(t.names(&json!(report(&app, &t.top.token, q).await), "user_id"), set(&["top", "mid"]));
        assert_eq!(t.names(&json!(report(&app, &t.mid.token, q).await), "user_id"), set(&["mid"]));
    }

    async fn a_long_report_streams_whole(app: TestApp) {
        let t = Tree::build(&app).await;
        // The longest range: 8 users × 366 days, one JSON document, one CSV.
        let rows = report(&app, &t.hr.token, "from=2025-11-22&to=2026-11-22").await;
        assert_eq!(rows.len(), 8 * 366);
        assert_eq!(report_csv(&app, &t.hr.token, "from=2025-11-22&to=2026-11-22").await.len(), 8 * 366);
    }

    async fn reports_count_local_days_pairs_statuses_and_dst(app: TestApp) {
        let t = Tree::build(&app).await;
        let admin = &t.admin.token;
        // leaf and peer work in Bangalore (UTC+05:30, fenced), mid in Berlin (DST, no fence),
        // top has no site and follows the organisation's zone, Newfoundland (UTC-03:30).
        fenced_site(&app, admin, &[&t.leaf, &t.peer]).await;
        let berlin = app.post("/v1/sites", admin, json!({"name": "Berlin", "timezone": "Europe/Berlin"})).await.expect(201);
        app.patch(&format!("/v1/users/{}", t.mid.id), admin, json!({"site_ids": [berlin["id"]]})).await.expect(200);
        app.patch("/v1/org", admin, json!({"timezone": "America/St_Johns"})).await.expect(200);

        record(&app, &t.leaf.token, &[
            ("check_in", "2026-11-20T18:29:00Z", INSIDE),  // 23:59 on the 20th in Bangalore
            ("check_in", "2026-11-20T18:30:00Z", INSIDE),  // 00:00 on the 21st
            ("check_out", "2026-11-21T02:30:00Z", INSIDE), // 08:00 on the 21st
        ]).await;
        record(&app, &t.peer.token, &[
            ("check_in", "2026-11-20T09:00:00+05:30", OUTSIDE),
            ("check_out", "2026-11-20T17:00:00+05:30", INSIDE),
        ]).await;
        // An enforced policy rejects peer's next check-in outside the fence.
        let mut policy = app.get("/v1/policy", admin).await.expect(200);
        policy["geofence_mode"] = json!("enforce");
        app.put("/v1/policy", admin, policy.clone()).await.expect(200);
        let rejected = record(&app, &t.peer.token, &[("check_in", "2026-11-21T09:00:00+05:30", OUTSIDE)]).await;
        assert_eq!(rejected[0]["status"], "rejected");
        policy["geofence_mode"] = json!("flag");
        app.put("/v1/policy", admin, policy).await.expect(200);
        record(&app, &t.top.token, &[
            ("check_in", "2026-11-21T02:00:00Z", INSIDE),  // 22:30 on the 20th in St. John's
            ("check_out", "2026-11-21T03:29:00Z", INSIDE), // 23:59 on the 20th
        ]).await;
        // Berlin falls back on 2026-10-25: 00:30 CEST to 04:30 CET is five real hours.
        record(&app, &t.mid.token, &[
            ("check_in", "2026-10-25T00:30:00+02:00", INSIDE),
            ("check_out", "2026-10-25T04:30:00+01:00", INSIDE),
        ]).await;

        for format in ["json", "csv"] {
            let rows = if format == "json" {
                report(&app, &t.hr.token, "from=2026-11-20&to=2026-11-21").await
            } else {
                report_csv(&app, &t.hr.token, "from=2026-11-20&to=2026-11-21").await
            };
            let text = |v: &Value| if v.is_string() { v.as_str().unwrap().to_owned() } else { v.to_string() };
            let day = |name: &str, date: &str| -> BTreeMap<&'static str, String> {
                let row = rows.iter().find(|r| t.name_of(r["user_id"].as_str().unwrap()) == name && r["date"] == date)
                    .unwrap_or_else(|| panic!("no row for {name} on {date}"));
                ["first_in", "last_out", "worked_minutes", "status", "events", "flagged", "rejected"]
                    .into_iter().map(|c| (c, text(&row[c]).replace("null", ""))).collect()
            };
            let expect = |pairs: [(&'static str, &str); 7]| -> BTreeMap<&'static str, String> {
                pairs.into_iter().map(|(k, v)| (k, v.to_owned())).collect()
            };
            assert_eq!(day("leaf", "2026-11-20"), expect([("first_in", "2026-11-20T23:59:00+05:30"), ("last_out", ""), ("worked_minutes", "0"), ("status", "incomplete"), ("events", "1"), ("flagged", "0"), ("rejected", "0")]), "{format}");
            assert_eq!(day("leaf", "2026-11-21"), expect([("first_in", "2026-11-21T00:00:00+05:30"), ("last_out", "2026-11-21T08:00:00+05:30"), ("worked_minutes", "480"), ("status", "present"), ("events", "2"), ("flagged", "0"), ("rejected", "0")]), "{format}");
            assert_eq!(day("peer", "2026-11-20"), expect([("first_in", "2026-11-20T09:00:00+05:30"), ("last_out", "2026-11-20T17:00:00+05:30"), ("worked_minutes", "480"), ("status", "out_of_fence"), ("events", "2"), ("flagged", "1"), ("rejected", "0")]), "{format}");
            assert_eq!(day("peer", "2026-11-21"), expect([("first_in", ""), ("last_out", ""), ("worked_minutes", "0"), ("status", "absent"), ("events", "1"), ("flagged", "0"), ("rejected", "1")]), "{format}");
            // top has no site: days in the organisation's zone; no fence, so flagged.
            assert_eq!(day("top", "2026-11-20"), expect([("first_in", "2026-11-20T22:30:00-03:30"), ("last_out", "2026-11-20T23:59:00-03:30"), ("worked_minutes", "89"), ("status", "present"), ("events", "2"), ("flagged", "2"), ("rejected", "0")]), "{format}");
            assert_eq!(day("top", "2026-11-21")["status"], "absent");
            assert_eq!(day("mid", "2026-11-20")["status"], "absent");
        }
        let dst = report(&app, &t.mid.token, "from=2026-10-24&to=2026-10-26").await;
        let mid_rows: Vec<&Value> = dst.iter().filter(|r| r["user_id"] == t.mid.id.as_str()).collect();
        assert_eq!(mid_rows.len(), 3);
        assert_eq!(mid_rows[1]["date"], "2026-10-25");
        assert_eq!(mid_rows[1]["worked_minutes"], 300);
        assert_eq!(mid_rows[1]["first_in"], "2026-10-25T00:30:00+02:00");
        assert_eq!(mid_rows[1]["last_out"], "2026-10-25T04:30:00+01:00");
        assert_eq!(mid_rows[1]["first_in_lat"], INSIDE.0, "mid sees their own location");
        assert_eq!(mid_rows[0]["status"], "absent");
    }

    async fn the_report_is_in_the_openapi_document(app: TestApp) {
        let doc = app.send(reqwest::Method::GET, "/openapi.json", None, None).await.expect(200);
        let op = &doc["paths"]["/v1/reports/attendance"]["get"];
        assert!(op["description"].as_str().unwrap_or_default().contains("worked_minutes"));
        for p in op["parameters"].as_array().unwrap() {
            assert_eq!(p["in"], "query", "{p}");
        }
        for path in ["/v1/audit", "/v1/me/disclosures"] {
            for p in doc["paths"][path]["get"]["parameters"].as_array().unwrap() {
                assert_eq!(p["in"], "query", "{path}: {p}");
            }
        }
        let content = &op["responses"]["200"]["content"];
        assert!(content.get("application/json").is_some() && content.get("text/csv").is_some(), "{content}");
    }
}
