//! Shifts at work: `GET /v1/users/{id}/schedule`, reports judged against shifts (late,
//! early leave, overtime, weekly offs, holidays, versions that keep judged days), and auto
//! check-out closing open days once however many replicas run it.

use chrono::{Days, Duration, Utc};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::reports::{report, report_csv};
use crate::visibility::{INSIDE, Tree, record};

/// A shift as the contract spells it, with the test's usual rules.
fn shift(name: &str, start: &str, end: &str, weekdays: &[&str], overtime_after_min: Option<u32>) -> Value {
    json!({
        "name": name, "start": start, "end": end, "weekdays": weekdays,
        "late_grace_min": 10, "early_grace_min": 10, "break_min": 60, "half_day_below_min": 240,
        "overtime_after_min": overtime_after_min,
    })
}

const EVERY_DAY: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const WEEK: &[&str] = &["mon", "tue", "wed", "thu", "fri"];

async fn create_shift(app: &TestApp, admin: &str, body: Value) -> String {
    let created = app.post("/v1/shifts", admin, body).await.expect(201);
    created["id"].as_str().unwrap().to_owned()
}

async fn assign(app: &TestApp, admin: &str, shift_id: &str, target: (&str, &str), from: &str, to: Option<&str>) {
    app.post(
        "/v1/shift-assignments",
        admin,
        json!({"shift_id": shift_id, target.0: target.1, "from": from, "to": to}),
    )
    .await
    .expect(201);
}

async fn schedule(app: &TestApp, token: &str, user_id: &str, from: &str, to: &str) -> Vec<Value> {
    app.get(&format!("/v1/users/{user_id}/schedule?from={from}&to={to}"), token)
        .await
        .expect(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// `(date, kind, shift_id, start, end)` of each item, with empty strings for nulls.
fn summary(items: &[Value]) -> Vec<[String; 5]> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    items
        .iter()
        .map(|i| {
            [
                s(&i["date"]),
                s(&i["kind"]),
                s(&i["shift_id"]),
                s(&i["start"]),
                s(&i["end"]),
            ]
        })
        .collect()
}

fn row<'a>(rows: &'a [Value], user_id: &str, date: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["user_id"] == user_id && r["date"] == date)
        .unwrap_or_else(|| panic!("no row for {user_id} on {date}"))
}

backend_tests! {
    async fn a_schedule_resolves_assignments_holidays_and_dst(app: TestApp) {
        let t = Tree::build(&app).await;
        let admin = &t.admin.token;
        let berlin = app.post("/v1/sites", admin, json!({"name": "Berlin", "timezone": "Europe/Berlin"})).await.expect(201);
        let berlin = berlin["id"].as_str().unwrap();
        app.patch(&format!("/v1/users/{}", t.leaf.id), admin, json!({"site_ids": [berlin]})).await.expect(200);
        let early = create_shift(&app, admin, shift("Early", "02:30", "11:00", &["mon", "tue", "wed", "thu", "fri", "sun"], None)).await;
        let night = create_shift(&app, admin, shift("Night", "22:00", "06:00", WEEK, None)).await;
        assign(&app, admin, &early, ("site_id", berlin), "2026-03-01", None).await;
        assign(&app, admin, &night, ("user_id", &t.leaf.id), "2026-03-30", Some("2026-03-31")).await;
        app.post("/v1/holidays", admin, json!({"date": "2026-03-27", "name": "Good Friday", "site_id": null})).await.expect(201);

        let items = schedule(&app, &t.leaf.token, &t.leaf.id, "2026-03-26", "2026-04-01").await;
        let e = |d: &str, kind: &str, shift: &str, start: &str, end: &str| [d, kind, shift, start, end].map(str::to_owned);
        assert_eq!(summary(&items), [
            e("2026-03-26", "working", &early, "2026-03-26T02:30:00+01:00", "2026-03-26T11:00:00+01:00"),
            e("2026-03-27", "holiday", &early, "", ""),
            e("2026-03-28", "weekly_off", &early, "", ""),
            // The clocks go forward at 02:00: 02:30 does not exist, the shift starts at the change.
            e("2026-03-29", "working", &early, "2026-03-29T03:00:00+02:00", "2026-03-29T11:00:00+02:00"),
            // The user's own assignment wins over the site's; a night shift ends the next day.
            e("2026-03-30", "working", &night, "2026-03-30T22:00:00+02:00", "2026-03-31T06:00:00+02:00"),
            e("2026-03-31", "working", &night, "2026-03-31T22:00:00+02:00", "2026-04-01T06:00:00+02:00"),
            e("2026-04-01", "working", &early, "2026-04-01T02:30:00+02:00", "2026-04-01T11:00:00+02:00"),
        ]);
        assert_eq!(items[0]["shift_version"], 1);

        // Whoever may see the user sees the same; others get 404, as for no user at all.
        for reader in [&t.mid, &t.top, &t.hr, &t.admin] {
            assert_eq!(schedule(&app, &reader.token, &t.leaf.id, "2026-03-26", "2026-04-01").await, items);
        }
        for stranger in [&t.peer, &t.outsider, &t.b_admin] {
            app.get(&format!("/v1/users/{}/schedule?from=2026-03-26&to=2026-03-27", t.leaf.id), &stranger.token)
                .await
                .problem(404, "not_found");
        }
        app.get(&format!("/v1/users/{}/schedule?from=2026-03-26&to=2026-03-27", uuid::Uuid::now_v7()), admin)
            .await
            .problem(404, "not_found");
        let field = |p: Value| p["errors"][0]["field"].as_str().unwrap_or_default().to_owned();
        let q = |from: &str, to: &str| format!("/v1/users/{}/schedule?from={from}&to={to}", t.leaf.id);
        assert_eq!(field(app.get(&q("2026-03-27", "2026-03-26"), admin).await.problem(422, "validation_failed")), "to");
        assert_eq!(field(app.get(&q("2025-01-01", "2026-01-02"), admin).await.problem(422, "validation_failed")), "to");
        app.get(&format!("/v1/users/{}/schedule?from=2026-03-26", t.leaf.id), admin).await.problem(422, "validation_failed");

        // No shift: every date works, but a holiday is a holiday.
        let own = schedule(&app, &t.peer.token, &t.peer.id, "2026-03-27", "2026-03-28").await;
        assert_eq!(summary(&own), [e("2026-03-27", "holiday", "", "", ""), e("2026-03-28", "working", "", "", "")]);

        // A change applies from the next day on: past days keep the version they were judged by.
        app.put(&format!("/v1/shifts/{early}"), admin, shift("Early", "03:00", "11:00", EVERY_DAY, None)).await.expect(200);
        let past = schedule(&app, &t.leaf.token, &t.leaf.id, "2026-03-26", "2026-03-26").await;
        assert_eq!((past[0]["shift_version"].clone(), past[0]["start"].clone()), (json!(1), json!("2026-03-26T02:30:00+01:00")));
        let later = (Utc::now().date_naive() + Days::new(7)).to_string();
        let future = schedule(&app, &t.leaf.token, &t.leaf.id, &later, &later).await;
        assert_eq!(future[0]["shift_version"], 2);
        assert_eq!(future[0]["kind"], "working", "every day works in version 2");
    }

    async fn reports_judge_days_against_their_shift(app: TestApp) {
        let t = Tree::build(&app).await;
        let admin = &t.admin.token;
        app.patch("/v1/org", admin, json!({"timezone": "UTC"})).await.expect(200);
        let day = create_shift(&app, admin, shift("Day", "09:00", "18:00", WEEK, Some(480))).await;
        assign(&app, admin, &day, ("user_id", &t.leaf.id), "2026-11-01", None).await;
        app.post("/v1/holidays", admin, json!({"date": "2026-11-24", "name": "Founders' day", "site_id": null})).await.expect(201);
        record(&app, &t.leaf.token, &[
            ("check_in", "2026-11-20T09:25:00Z", INSIDE),  // Friday: 25 minutes late
            ("check_out", "2026-11-20T18:00:00Z", INSIDE),
            ("check_in", "2026-11-21T10:00:00Z", INSIDE),  // Saturday: all overtime
            ("check_out", "2026-11-21T12:00:00Z", INSIDE),
            ("check_in", "2026-11-23T08:50:00Z", INSIDE),  // Monday: on time, overtime, lunch taken
            ("check_out", "2026-11-23T13:00:00Z", INSIDE),
            ("check_in", "2026-11-23T14:00:00Z", INSIDE),
            ("check_out", "2026-11-23T19:30:00Z", INSIDE),
        ]).await;
        let q = "from=2026-11-20&to=2026-11-25";
        let rows = report(&app, &t.top.token, q).await;
        let judged = |date: &str| {
            let r = row(&rows, &t.leaf.id, date);
            (r["status"].as_str().unwrap().to_owned(), r["worked_minutes"].as_i64().unwrap(), r["late_minutes"].as_i64().unwrap(),
             r["early_leave_minutes"].as_i64().unwrap(), r["overtime_minutes"].as_i64().unwrap())
        };
        assert_eq!(judged("2026-11-20"), ("late".into(), 515 - 60, 25, 0, 0));
        assert_eq!(judged("2026-11-21"), ("weekly_off".into(), 120, 0, 0, 120));
        assert_eq!(judged("2026-11-22"), ("weekly_off".into(), 0, 0, 0, 0));
        assert_eq!(judged("2026-11-23"), ("present".into(), 250 + 330, 0, 0, 100));
        assert_eq!(judged("2026-11-24"), ("holiday".into(), 0, 0, 0, 0));
        assert_eq!(judged("2026-11-25"), ("absent".into(), 0, 0, 0, 0));
        let friday = row(&rows, &t.leaf.id, "2026-11-20");
        assert_eq!(friday["shift_id"], day.as_str());
        assert_eq!(friday["shift_version"], 1);
        assert_eq!(friday["scheduled_start"], "2026-11-20T09:00:00Z");
        assert_eq!(friday["scheduled_end"], "2026-11-20T18:00:00Z");
        assert!(row(&rows, &t.leaf.id, "2026-11-24")["scheduled_start"].is_null());
        // Without a shift a day is judged as before: no late minutes, every day working.
        let mid = row(&rows, &t.mid.id, "2026-11-21");
        assert_eq!((mid["status"].clone(), mid["shift_id"].clone(), mid["late_minutes"].clone()), (json!("absent"), Value::Null, json!(0)));

        // CSV carries the same, in the columns after `corrected`.
        let csv = report_csv(&app, &t.top.token, q).await;
        let c = row(&csv, &t.leaf.id, "2026-11-20");
        assert_eq!((c["status"].clone(), c["late_minutes"].clone(), c["shift_version"].clone()), (json!("late"), json!("25"), json!("1")));
        assert_eq!(c["scheduled_start"], "2026-11-20T09:00:00+00:00");
        assert_eq!(row(&csv, &t.mid.id, "2026-11-20")["shift_id"], "");

        // A change to the shift does not rewrite the days already judged.
        let mut lenient = shift("Day", "10:00", "18:00", WEEK, None);
        lenient["late_grace_min"] = json!(60);
        app.put(&format!("/v1/shifts/{day}"), admin, lenient).await.expect(200);
        assert_eq!(report(&app, &t.top.token, q).await, rows);
    }

    async fn auto_check_out_closes_open_days_once(app: TestApp) {
        let t = Tree::build(&app).await;
        let admin = &t.admin.token;
        app.patch("/v1/org", admin, json!({"timezone": "UTC"})).await.expect(200);
        let mut policy = app.get("/v1/policy", admin).await.expect(200);
        assert!(policy["auto_check_out_after_h"].is_null(), "off by default");
        for bad in [json!(0), json!(25), json!("2")] {
            policy["auto_check_out_after_h"] = bad;
            app.put("/v1/policy", admin, policy.clone()).await.problem(422, "validation_failed");
        }
        policy["auto_check_out_after_h"] = json!(2);
        app.put("/v1/policy", admin, policy).await.expect(200);
        let day = create_shift(&app, admin, shift("Day", "09:00", "18:00", EVERY_DAY, None)).await;
        assign(&app, admin, &day, ("user_id", &t.leaf.id), "2026-01-01", None).await;
        // leaf forgot to check out two days ago; peer (no shift) too; mid checked out.
        let date = (Utc::now() - Duration::days(2)).date_naive();
        let at = |time: &str| format!("{date}T{time}Z");
        record(&app, &t.leaf.token, &[("check_in", &at("09:05:00"), INSIDE)]).await;
        record(&app, &t.peer.token, &[("check_in", &at("09:05:00"), INSIDE)]).await;
        record(&app, &t.mid.token, &[("check_in", &at("09:05:00"), INSIDE), ("check_out", &at("17:00:00"), INSIDE)]).await;

        // Two replicas run the job at once: one check-out is written.
        let options = muster::shifts::auto_check_out::AutoCheckOutOptions { lookback_h: 72 };
        let (a, b) = (muster::startup::open_repo(&app.settings).await.unwrap(), muster::startup::open_repo(&app.settings).await.unwrap());
        let now = Utc::now();
        let (first, second) = tokio::join!(
            muster::shifts::auto_check_out::run_auto_check_out(a.as_ref(), now, options),
            muster::shifts::auto_check_out::run_auto_check_out(b.as_ref(), now, options),
        );
        assert_eq!(first.unwrap() + second.unwrap(), 1);
        assert_eq!(muster::shifts::auto_check_out::run_auto_check_out(a.as_ref(), Utc::now(), options).await.unwrap(), 0);

        // Read as leaf, who may see their own locations: the auto check-out has none to show.
        let events = app.get(&format!("/v1/attendance/events?user_id={}", t.leaf.id), &t.leaf.token).await.expect(200);
        let events = events["items"].as_array().unwrap();
        let auto: Vec<&Value> = events.iter().filter(|e| e["source"] == "auto").collect();
        assert_eq!(auto.len(), 1);
        assert_eq!(auto[0]["kind"], "check_out");
        assert_eq!(auto[0]["status"], "accepted");
        assert!(auto[0]["location"].is_null());
        let captured = chrono::DateTime::parse_from_rfc3339(auto[0]["captured_at"].as_str().unwrap()).unwrap();
        assert_eq!(captured, chrono::DateTime::parse_from_rfc3339(&at("18:00:00")).unwrap());
        let q = format!("from={date}&to={date}");
        let rows = report(&app, &t.hr.token, &q).await;
        let leaf = row(&rows, &t.leaf.id, &date.to_string());
        assert_eq!((leaf["status"].clone(), leaf["worked_minutes"].clone()), (json!("present"), json!(535 - 60)));
        assert_eq!(row(&rows, &t.peer.id, &date.to_string())["status"], "incomplete", "no shift, no scheduled end");
        let mid = app.get(&format!("/v1/attendance/events?user_id={}", t.mid.id), &t.mid.token).await.expect(200);
        assert!(mid["items"].as_array().unwrap().iter().all(|e| e["source"] == "device"));
    }

    async fn the_background_job_runs_on_its_interval(app: TestApp) {
        let t = Tree::build(&app).await;
        let admin = &t.admin.token;
        app.patch("/v1/org", admin, json!({"timezone": "UTC"})).await.expect(200);
        let mut policy = app.get("/v1/policy", admin).await.expect(200);
        policy["auto_check_out_after_h"] = json!(1);
        app.put("/v1/policy", admin, policy).await.expect(200);
        let day = create_shift(&app, admin, shift("Day", "09:00", "18:00", EVERY_DAY, None)).await;
        assign(&app, admin, &day, ("user_id", &t.leaf.id), "2026-01-01", None).await;
        let date = (Utc::now() - Duration::days(1)).date_naive();
        record(&app, &t.leaf.token, &[("check_in", &format!("{date}T09:00:00Z"), INSIDE)]).await;
        // A replica with the job every second (test servers do not run it).
        let replica = app.replica_with(|s| s.auto_check_out_interval_s = 1).await;
        let url = format!("{replica}/v1/attendance/events?user_id={}", t.leaf.id);
        let mut closed = false;
        for _ in 0..100 {
            let page: Value = app.client.get(&url).bearer_auth(&t.leaf.token).send().await.unwrap().json().await.unwrap();
            if page["items"].as_array().unwrap().iter().any(|e| e["source"] == "auto") {
                closed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(closed, "the job closed the day within ten seconds");
    }
}
