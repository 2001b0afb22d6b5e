//! Shifts, assignments and holidays over HTTP: the CRUD, every refusal, permissions,
//! tenancy, overlapping assignments (also raced), ending assignments, and the audit trail.

use chrono::{Duration, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::common::TestApp;

fn shift_body(name: &str) -> Value {
    json!({"name": name, "start": "09:00", "end": "18:00", "weekdays": ["mon", "tue", "wed", "thu", "fri"],
        "late_grace_min": 10, "early_grace_min": 10, "break_min": 60, "half_day_below_min": 240,
        "overtime_after_min": null})
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn day(offset: i64) -> String {
    // Far enough from today that no organisation time zone makes it another side of today.
    let d: NaiveDate = (Utc::now() + Duration::days(offset)).date_naive();
    d.to_string()
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
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

async fn assign(app: &TestApp, admin: &str, body: Value) -> String {
    id(&app.post("/v1/shift-assignments", admin, body).await.expect(201))
}

async fn holiday(app: &TestApp, admin: &str, date: String, site: Option<&str>) -> String {
    id(&app
        .post(
            "/v1/holidays",
            admin,
            json!({"date": date, "name": "Off", "site_id": site}),
        )
        .await
        .expect(201))
}

async fn site(app: &TestApp, admin: &str, name: &str) -> String {
    id(&app
        .post("/v1/sites", admin, json!({"name": name, "timezone": "Asia/Kolkata"}))
        .await
        .expect(201))
}

backend_tests! {
    async fn shifts_are_created_versioned_and_retired(app: TestApp) {
        let admin = app.admin().await;
        let created = app.post("/v1/shifts", &admin, shift_body("General")).await;
        let location = created.headers["location"].to_str().unwrap().to_owned();
        let created = created.expect(201);
        let shift = id(&created);
        assert_eq!(location, format!("/v1/shifts/{shift}"));
        assert_eq!(created["version"], 1);
        assert_eq!(created["night"], false);
        assert_eq!(created["weekdays"], json!(["mon", "tue", "wed", "thu", "fri"]));
        assert_eq!(app.get(&location, &admin).await.expect(200), created);
        assert_eq!(audit(&app, &admin, "shift.created", &shift).await.len(), 1);

        let mut night = shift_body("Night");
        night["start"] = json!("22:00");
        night["end"] = json!("06:00");
        night["overtime_after_min"] = json!(480);
        let updated = app.put(&location, &admin, night).await.expect(200);
        assert_eq!(updated["version"], 2);
        assert_eq!(updated["night"], true);
        assert_eq!(updated["overtime_after_min"], 480);
        assert!(updated["effective_at"].as_str().unwrap() > created["effective_at"].as_str().unwrap());
        assert_eq!(updated["created_at"], created["created_at"]);
        let got = app.get(&location, &admin).await.expect(200);
        assert_eq!(got["version"], 2);
        assert_eq!(got["name"], "Night");
        assert_eq!(audit(&app, &admin, "shift.updated", &shift).await.len(), 1);
        let listed = app.get("/v1/shifts", &admin).await.expect(200);
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);

        let retired = app.delete(&location, &admin).await.expect(200);
        assert!(retired["retired_at"].is_string());
        assert_eq!(audit(&app, &admin, "shift.retired", &shift).await.len(), 1);
        app.put(&location, &admin, shift_body("Again")).await.problem(409, "conflict");
        app.delete(&location, &admin).await.problem(409, "conflict");
        assert_eq!(app.get(&location, &admin).await.expect(200)["version"], 2);
        assert!(app.get("/v1/shifts", &admin).await.expect(200)["items"].as_array().unwrap().is_empty());
        // A retired shift takes no assignment.
        let (user, _) = app.user(&admin, "e@example.com", &["employee"], None).await;
        let p = app.post("/v1/shift-assignments", &admin, json!({"shift_id": shift, "user_id": id(&user), "from": day(1)}))
            .await.problem(422, "validation_failed");
        assert_eq!(fields(&p), ["shift_id"]);
    }

    async fn every_bad_field_is_named(app: TestApp) {
        let admin = app.admin().await;
        let bad = json!({"name": " ", "start": "9:00", "end": "25:00", "weekdays": ["mon", "mon", "xyz"],
            "late_grace_min": 1441, "early_grace_min": 0, "break_min": 0, "half_day_below_min": 0});
        let p = app.post("/v1/shifts", &admin, bad).await.problem(422, "validation_failed");
        assert_eq!(fields(&p), ["name", "start", "end", "weekdays[1]", "weekdays[2]", "late_grace_min"]);
        let mut zero = shift_body("Zero");
        zero["end"] = json!("09:00");
        zero["weekdays"] = json!([]);
        let p = app.post("/v1/shifts", &admin, zero).await.problem(422, "validation_failed");
        assert_eq!(fields(&p), ["end", "weekdays"]);
        let mut short = shift_body("Short");
        short["end"] = json!("10:00");
        short["break_min"] = json!(60);
        short["early_grace_min"] = json!(61);
        let p = app.post("/v1/shifts", &admin, short).await.problem(422, "validation_failed");
        assert_eq!(fields(&p), ["early_grace_min", "break_min"]);
        let mut missing = shift_body("Missing");
        missing.as_object_mut().unwrap().remove("break_min");
        let p = app.post("/v1/shifts", &admin, missing).await.problem(422, "validation_failed");
        assert_eq!(fields(&p), ["break_min"]);
        let mut unknown = shift_body("Unknown");
        unknown["colour"] = json!("red");
        let p = app.post("/v1/shifts", &admin, unknown).await.problem(422, "validation_failed");
        assert_eq!(fields(&p), ["colour"]);

        let shift = id(&app.post("/v1/shifts", &admin, shift_body("General")).await.expect(201));
        let site = site(&app, &admin, "HQ").await;
        let (user, _) = app.user(&admin, "e@example.com", &["employee"], None).await;
        let user = id(&user);
        let cases = [
            (json!({"shift_id": shift, "from": day(1)}), vec!["site_id"]),
            (json!({"shift_id": shift, "site_id": site, "user_id": user, "from": day(1)}), vec!["site_id"]),
            (json!({"shift_id": shift, "user_id": user, "from": "tomorrow", "to": "2026-1-1"}), vec!["from", "to"]),
            (json!({"shift_id": shift, "user_id": user, "from": day(2), "to": day(1)}), vec!["to"]),
            (json!({"shift_id": uuid::Uuid::now_v7(), "user_id": user, "from": day(1)}), vec!["shift_id"]),
            (json!({"shift_id": shift, "user_id": uuid::Uuid::now_v7(), "from": day(1)}), vec!["user_id"]),
            (json!({"shift_id": shift, "site_id": uuid::Uuid::now_v7(), "from": day(1)}), vec!["site_id"]),
        ];
        for (body, expected) in cases {
            let p = app.post("/v1/shift-assignments", &admin, body.clone()).await.problem(422, "validation_failed");
            assert_eq!(fields(&p), expected, "{body}");
        }

        let p = app.post("/v1/holidays", &admin, json!({"date": "25-12-2026", "name": ""})).await.problem(422, "validation_failed");
        assert_eq!(fields(&p), ["date", "name"]);
        let p = app.post("/v1/holidays", &admin, json!({"date": "2026-12-25", "name": "X", "site_id": uuid::Uuid::now_v7()}))
            .await.problem(422, "validation_failed");
        assert_eq!(fields(&p), ["site_id"]);
        let p = app.get("/v1/holidays?from=2026-12-31&to=2026-12-01", &admin).await.problem(422, "validation_failed");
        assert_eq!(fields(&p), ["to"]);
    }

    async fn employees_read_but_do_not_write(app: TestApp) {
        let admin = app.admin().await;
        let shift = id(&app.post("/v1/shifts", &admin, shift_body("General")).await.expect(201));
        let (employee, token) = app.user(&admin, "e@example.com", &["employee"], None).await;
        app.get("/v1/shifts", &token).await.expect(200);
        app.get(&format!("/v1/shifts/{shift}"), &token).await.expect(200);
        app.get("/v1/shift-assignments", &token).await.expect(200);
        app.get("/v1/holidays", &token).await.expect(200);
        app.post("/v1/shifts", &token, shift_body("Mine")).await.problem(403, "forbidden");
        // The permission is checked before the body: a bad body is 403 too.
        app.post("/v1/shifts", &token, json!({})).await.problem(403, "forbidden");
        app.put(&format!("/v1/shifts/{shift}"), &token, shift_body("Mine")).await.problem(403, "forbidden");
        app.delete(&format!("/v1/shifts/{shift}"), &token).await.problem(403, "forbidden");
        app.post("/v1/shift-assignments", &token, json!({"shift_id": shift, "user_id": id(&employee), "from": day(1)}))
            .await.problem(403, "forbidden");
        app.post("/v1/holidays", &token, json!({"date": "2026-12-25", "name": "X"})).await.problem(403, "forbidden");
        // HR manages shifts by default; an auditor does not even read them.
        let (_, hr) = app.user(&admin, "hr@example.com", &["hr"], None).await;
        app.post("/v1/shifts", &hr, shift_body("HR's")).await.expect(201);
        let (_, auditor) = app.user(&admin, "a@example.com", &["auditor"], None).await;
        app.get("/v1/shifts", &auditor).await.problem(403, "forbidden");
    }

    async fn another_orgs_shifts_are_not_found(app: TestApp) {
        let admin = app.admin().await;
        let shift = id(&app.post("/v1/shifts", &admin, shift_body("General")).await.expect(201));
        let (user, _) = app.user(&admin, "e@example.com", &["employee"], None).await;
        let user = id(&user);
        let assignment = id(&app.post("/v1/shift-assignments", &admin, json!({"shift_id": shift, "user_id": user, "from": day(1)})).await.expect(201));
        let holiday = id(&app.post("/v1/holidays", &admin, json!({"date": "2026-12-25", "name": "Christmas"})).await.expect(201));
        let other = app.second_org("admin2@example.com").await;
        app.get(&format!("/v1/shifts/{shift}"), &other).await.problem(404, "not_found");
        app.put(&format!("/v1/shifts/{shift}"), &other, shift_body("pwned")).await.problem(404, "not_found");
        app.delete(&format!("/v1/shifts/{shift}"), &other).await.problem(404, "not_found");
        app.delete(&format!("/v1/shift-assignments/{assignment}"), &other).await.problem(404, "not_found");
        app.delete(&format!("/v1/holidays/{holiday}"), &other).await.problem(404, "not_found");
        for list in ["/v1/shifts", "/v1/shift-assignments", "/v1/holidays"] {
            assert!(app.get(list, &other).await.expect(200)["items"].as_array().unwrap().is_empty(), "{list}");
        }
        // References across tenants are refused as if the ids did not exist.
        let own = id(&app.post("/v1/shifts", &other, shift_body("Own")).await.expect(201));
        let p = app.post("/v1/shift-assignments", &other, json!({"shift_id": shift, "user_id": user, "from": day(1)})).await.problem(422, "validation_failed");
        assert_eq!(fields(&p), ["shift_id"]);
        let p = app.post("/v1/shift-assignments", &other, json!({"shift_id": own, "user_id": user, "from": day(1)})).await.problem(422, "validation_failed");
        assert_eq!(fields(&p), ["user_id"]);
        assert_eq!(app.get(&format!("/v1/shifts/{shift}"), &admin).await.expect(200)["name"], "General");
    }

    async fn assignments_of_one_target_do_not_overlap(app: TestApp) {
        let admin = app.admin().await;
        let shift = id(&app.post("/v1/shifts", &admin, shift_body("General")).await.expect(201));
        let site = site(&app, &admin, "HQ").await;
        let (user, _) = app.user(&admin, "e@example.com", &["employee"], None).await;
        let user = id(&user);
        let assign = |body: Value| app.post("/v1/shift-assignments", &admin, body);
        let first = assign(json!({"shift_id": shift, "user_id": user, "from": day(10), "to": day(19)})).await;
        let location = first.headers["location"].to_str().unwrap().to_owned();
        let first = first.expect(201);
        assert_eq!(location, format!("/v1/shift-assignments/{}", id(&first)));
        assert_eq!(first["to"], day(19));
        assert!(first["site_id"].is_null());
        assert_eq!(audit(&app, &admin, "shift_assignment.created", &id(&first)).await.len(), 1);
        // Adjacent dates are fine; a shared date is not, and the message names the other.
        assign(json!({"shift_id": shift, "user_id": user, "from": day(20), "to": day(29)})).await.expect(201);
        let p = assign(json!({"shift_id": shift, "user_id": user, "from": day(5), "to": day(10)})).await.problem(422, "validation_failed");
        assert_eq!(fields(&p), ["from"]);
        assert!(p["errors"][0]["message"].as_str().unwrap().contains(&id(&first)), "{p}");
        // An open-ended assignment overlaps everything after it starts.
        let open = id(&assign(json!({"shift_id": shift, "user_id": user, "from": day(40), "to": null})).await.expect(201));
        let p = assign(json!({"shift_id": shift, "user_id": user, "from": day(400), "to": day(401)})).await.problem(422, "validation_failed");
        assert!(p["errors"][0]["message"].as_str().unwrap().contains(&open), "{p}");
        assign(json!({"shift_id": shift, "user_id": user, "from": day(30), "to": day(39)})).await.expect(201);
        let p = assign(json!({"shift_id": shift, "user_id": user, "from": day(35)})).await.problem(422, "validation_failed");
        assert_eq!(fields(&p), ["from"]);
        // The user's site may have its own assignment on the same dates.
        assign(json!({"shift_id": shift, "site_id": site, "from": day(10), "to": null})).await.expect(201);
        let listed = app.get(&format!("/v1/shift-assignments?site_id={site}"), &admin).await.expect(200);
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);
        let listed = app.get(&format!("/v1/shift-assignments?user_id={user}&limit=2"), &admin).await.expect(200);
        assert_eq!(listed["items"].as_array().unwrap().len(), 2);
        let cursor = listed["next_cursor"].as_str().unwrap();
        let rest = app.get(&format!("/v1/shift-assignments?user_id={user}&limit=2&cursor={cursor}"), &admin).await.expect(200);
        assert_eq!(rest["items"].as_array().unwrap().len(), 2);
        assert!(rest["next_cursor"].is_null());
    }

    async fn concurrent_overlapping_assignments_let_one_through(app: TestApp) {
        let admin = app.admin().await;
        let shift = id(&app.post("/v1/shifts", &admin, shift_body("General")).await.expect(201));
        let (user, _) = app.user(&admin, "e@example.com", &["employee"], None).await;
        let user = id(&user);
        for round in 0..4 {
            let base = 100 * (round + 1);
            let answers = futures_util::future::join_all((0..6).map(|i| {
                app.post("/v1/shift-assignments", &admin,
                    json!({"shift_id": shift, "user_id": user, "from": day(base + i), "to": day(base + 10)}))
            }))
            .await;
            let statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
            assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
            assert!(statuses.iter().all(|s| *s == 201 || *s == 422), "{statuses:?}");
        }
        let listed = app.get(&format!("/v1/shift-assignments?user_id={user}"), &admin).await.expect(200);
        assert_eq!(listed["items"].as_array().unwrap().len(), 4);
    }

    async fn ending_an_assignment_keeps_the_days_it_governed(app: TestApp) {
        let admin = app.admin().await;
        let shift = id(&app.post("/v1/shifts", &admin, shift_body("General")).await.expect(201));
        let (user, _) = app.user(&admin, "e@example.com", &["employee"], None).await;
        let user = id(&user);
        let past = id(&app.post("/v1/shift-assignments", &admin, json!({"shift_id": shift, "user_id": user, "from": day(-30)})).await.expect(201));
        let (_, employee) = app.user(&admin, "f@example.com", &["employee"], None).await;
        app.delete(&format!("/v1/shift-assignments/{past}"), &employee).await.problem(403, "forbidden");
        let future = id(&app.post("/v1/shift-assignments", &admin, json!({"shift_id": shift, "site_id": site(&app, &admin, "HQ").await, "from": day(30)})).await.expect(201));
        app.delete(&format!("/v1/shift-assignments/{future}"), &admin).await.expect(204);
        app.delete(&format!("/v1/shift-assignments/{future}"), &admin).await.problem(404, "not_found");
        app.delete(&format!("/v1/shift-assignments/{past}"), &admin).await.expect(204);
        let listed = app.get("/v1/shift-assignments", &admin).await.expect(200);
        let items = listed["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "the future one is gone");
        assert_eq!(items[0]["id"], past.as_str());
        let to = items[0]["to"].as_str().unwrap();
        // Yesterday in the organisation's zone: within a day of UTC's.
        assert!([day(-2), day(-1), day(0)].contains(&to.to_owned()), "{to}");
        assert_eq!(audit(&app, &admin, "shift_assignment.ended", &past).await.len(), 1);
        assert_eq!(audit(&app, &admin, "shift_assignment.ended", &future).await.len(), 1);
    }

    async fn holidays_are_listed_by_date_and_not_duplicated(app: TestApp) {
        let admin = app.admin().await;
        let site = site(&app, &admin, "HQ").await;
        let christmas = app.post("/v1/holidays", &admin, json!({"date": "2026-12-25", "name": " Christmas "})).await;
        assert!(christmas.headers["location"].to_str().unwrap().starts_with("/v1/holidays/"));
        let christmas = christmas.expect(201);
        assert_eq!(christmas["name"], "Christmas");
        assert!(christmas["site_id"].is_null());
        assert_eq!(audit(&app, &admin, "holiday.created", &id(&christmas)).await.len(), 1);
        let p = app.post("/v1/holidays", &admin, json!({"date": "2026-12-25", "name": "Again"})).await.problem(409, "conflict");
        assert_eq!(fields(&p), ["date"]);
        // A site's holiday on the same date is its own.
        let local = app.post("/v1/holidays", &admin, json!({"date": "2026-12-25", "name": "Local", "site_id": site})).await.expect(201);
        assert_eq!(local["site_id"], site.as_str());
        app.post("/v1/holidays", &admin, json!({"date": "2026-12-25", "name": "Local again", "site_id": site})).await.problem(409, "conflict");
        app.post("/v1/holidays", &admin, json!({"date": "2026-12-01", "name": "Earlier"})).await.expect(201);
        app.post("/v1/holidays", &admin, json!({"date": "2027-01-01", "name": "New year"})).await.expect(201);

        let all = app.get("/v1/holidays?limit=2", &admin).await.expect(200);
        let dates: Vec<&str> = all["items"].as_array().unwrap().iter().map(|h| h["date"].as_str().unwrap()).collect();
        assert_eq!(dates, ["2026-12-01", "2026-12-25"]);
        let cursor = all["next_cursor"].as_str().unwrap();
        let rest = app.get(&format!("/v1/holidays?limit=2&cursor={cursor}"), &admin).await.expect(200);
        let dates: Vec<&str> = rest["items"].as_array().unwrap().iter().map(|h| h["date"].as_str().unwrap()).collect();
        assert_eq!(dates, ["2026-12-25", "2027-01-01"]);
        let december = app.get("/v1/holidays?from=2026-12-02&to=2026-12-31", &admin).await.expect(200);
        assert_eq!(december["items"].as_array().unwrap().len(), 2);

        let path = format!("/v1/holidays/{}", id(&christmas));
        app.delete(&path, &admin).await.expect(204);
        app.delete(&path, &admin).await.problem(404, "not_found");
        assert_eq!(audit(&app, &admin, "holiday.deleted", &id(&christmas)).await.len(), 1);
        // Deleted, the date is free again.
        app.post("/v1/holidays", &admin, json!({"date": "2026-12-25", "name": "Christmas"})).await.expect(201);
    }

    async fn schedule_inputs_gather_what_the_users_schedules_need(app: TestApp) {
        use muster::storage::shifts::Target;
        let admin = app.admin().await;
        let org_id: uuid::Uuid = app.get("/v1/org", &admin).await.expect(200)["id"].as_str().unwrap().parse().unwrap();
        let shift = id(&app.post("/v1/shifts", &admin, shift_body("General")).await.expect(201));
        app.put(&format!("/v1/shifts/{shift}"), &admin, shift_body("General v2")).await.expect(200);
        let unused = id(&app.post("/v1/shifts", &admin, shift_body("Unused")).await.expect(201));
        let (hq, other) = (site(&app, &admin, "HQ").await, site(&app, &admin, "Other").await);
        let (user, _) = app.user(&admin, "u@example.com", &["employee"], None).await;
        let (bystander, _) = app.user(&admin, "b@example.com", &["employee"], None).await;
        let (user, bystander) = (id(&user), id(&bystander));
        let own = assign(&app, &admin, json!({"shift_id": shift, "user_id": user, "from": day(10), "to": day(19)})).await;
        assign(&app, &admin, json!({"shift_id": unused, "user_id": user, "from": day(50)})).await;
        let site_wide = assign(&app, &admin, json!({"shift_id": shift, "site_id": hq, "from": day(0)})).await;
        assign(&app, &admin, json!({"shift_id": unused, "site_id": other, "from": day(0)})).await;
        assign(&app, &admin, json!({"shift_id": unused, "user_id": bystander, "from": day(0)})).await;
        let org_wide = holiday(&app, &admin, day(12), None).await;
        let hq_day = holiday(&app, &admin, day(13), Some(&hq)).await;
        holiday(&app, &admin, day(14), Some(&other)).await;
        holiday(&app, &admin, day(60), None).await;

        let repo = muster::startup::open_repo(&app.settings).await.expect("repo");
        let parse = |s: &str| s.parse::<uuid::Uuid>().unwrap();
        let (from, to) = (day(5).parse().unwrap(), day(30).parse().unwrap());
        let inputs = repo.schedule_inputs(org_id, &[(parse(&user), Some(parse(&hq)))], from, to).await.unwrap();
        let mut assignments: Vec<String> = inputs.assignments.iter().map(|a| a.id.to_string()).collect();
        assignments.sort();
        let mut expected = vec![own.clone(), site_wide.clone()];
        expected.sort();
        assert_eq!(assignments, expected);
        assert!(inputs.assignments.iter().any(|a| a.target == Target::Site(parse(&hq))));
        let versions: Vec<(String, u32)> = inputs.versions.iter().map(|v| (v.shift_id.to_string(), v.version)).collect();
        assert_eq!(versions, [(shift.clone(), 1), (shift.clone(), 2)], "every version of the named shifts only");
        let holidays: Vec<String> = inputs.holidays.iter().map(|h| h.id.to_string()).collect();
        assert_eq!(holidays, [org_wide.clone(), hq_day]);
        // Without a home site only the user's own assignments and org-wide holidays count.
        let inputs = repo.schedule_inputs(org_id, &[(parse(&user), None)], from, to).await.unwrap();
        assert_eq!(inputs.assignments.iter().map(|a| a.id.to_string()).collect::<Vec<_>>(), [own]);
        assert_eq!(inputs.holidays.iter().map(|h| h.id.to_string()).collect::<Vec<_>>(), [org_wide]);
        assert!(repo.schedule_inputs(org_id, &[], from, to).await.unwrap().assignments.is_empty());
    }
}
