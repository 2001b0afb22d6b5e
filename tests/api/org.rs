//! Organisation, policy and role grants.

use serde_json::json;

backend_tests! {
    async fn policy_has_the_contract_defaults_and_validates_changes(app: TestApp) {
        let admin = app.admin().await;
        let policy = app.get("/v1/policy", &admin).await.expect(200);
        assert_eq!(policy, json!({
            "geofence_mode": "flag", "accuracy_rule": "point", "max_accuracy_m": 100.0, "require_photo": false,
            "allow_mock_location": false, "max_clock_skew_s": 300, "offline_max_age_h": 72, "max_speed_kmh": 300.0,
            "retention": {"location_days": 400, "photo_days": 90, "applog_days": 30},
            "request_max_age_days": 30, "auto_check_out_after_h": null
        }));
        let mut strict = policy.clone();
        strict["geofence_mode"] = json!("enforce");
        strict["accuracy_rule"] = json!("strict");
        assert_eq!(app.put("/v1/policy", &admin, strict.clone()).await.expect(200), strict);
        assert_eq!(app.get("/v1/policy", &admin).await.expect(200), strict);
        let mut bad = strict.clone();
        bad["max_accuracy_m"] = json!(-1);
        bad["retention"]["photo_days"] = json!(0);
        let problem = app.put("/v1/policy", &admin, bad).await.problem(422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], "max_accuracy_m");
        assert_eq!(problem["errors"][1]["field"], "retention.photo_days");
        let mut unknown_mode = strict.clone();
        unknown_mode["geofence_mode"] = json!("sometimes");
        assert_eq!(app.put("/v1/policy", &admin, unknown_mode).await.problem(422, "validation_failed")["errors"][0]["field"], "geofence_mode");
        let mut extra = strict.clone();
        extra["retention"]["forever"] = json!(true);
        assert_eq!(app.put("/v1/policy", &admin, extra).await.problem(422, "validation_failed")["errors"][0]["field"], "retention.forever");
        let mut too_far_back = strict.clone();
        too_far_back["request_max_age_days"] = json!(367);
        assert_eq!(app.put("/v1/policy", &admin, too_far_back).await.problem(422, "validation_failed")["errors"][0]["field"], "request_max_age_days");
        assert_eq!(app.get("/v1/policy", &admin).await.expect(200), strict, "refused changes wrote nothing");
        // A policy written before `request_max_age_days` existed still applies, with its default.
        let mut older = strict.clone();
        older.as_object_mut().unwrap().remove("request_max_age_days");
        assert_eq!(app.put("/v1/policy", &admin, older).await.expect(200), strict);
        let audit = app.get("/v1/audit?action=policy.changed", &admin).await.expect(200);
        assert_eq!(audit["items"].as_array().unwrap().len(), 2);
    }

    async fn roles_start_with_the_contract_grants(app: TestApp) {
        let admin = app.admin().await;
        let roles = app.get("/v1/roles", &admin).await.expect(200);
        let grants = |name: &str| roles["items"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap()["permissions"].clone();
        assert_eq!(grants("employee"), json!(["attendance.record", "attendance.read:self", "attendance.location.read:self", "attendance.photo.read:self", "geofences.read", "applogs.write", "applogs.read:self", "attendance.requests.create", "shifts.read"]));
        assert_eq!(grants("manager"), json!(["attendance.read:team", "attendance.location.read:direct", "attendance.photo.read:direct", "reports.read:team", "users.read:team", "attendance.requests.approve:direct", "shifts.read"]));
        assert_eq!(grants("hr"), json!(["attendance.read:org", "reports.read:org", "users.read:org", "users.manage", "privacy.manage", "attendance.requests.approve:org", "shifts.read", "shifts.manage"]));
        assert_eq!(grants("org_admin"), json!(["users.read:org", "users.manage", "geofences.read", "geofences.manage", "policy.manage", "roles.manage", "applogs.read:org", "applogs.pii.read", "audit.read", "privacy.manage", "shifts.read", "shifts.manage"]));
        assert_eq!(grants("auditor"), json!(["audit.read"]));
        let problem = app.put("/v1/roles/manager", &admin, json!({"permissions": ["reports.read:team", "reports.read:everything"]})).await.problem(422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], "permissions[1]");
        app.put("/v1/roles/emperor", &admin, json!({"permissions": []})).await.problem(404, "not_found");
        let changed = app.put("/v1/roles/manager", &admin, json!({"permissions": ["attendance.location.read:team", "reports.read:team"]})).await.expect(200);
        assert_eq!(changed, json!({"name": "manager", "permissions": ["attendance.location.read:team", "reports.read:team"]}));
    }

    async fn the_org_is_read_by_members_and_changed_by_policy_managers(app: TestApp) {
        let admin = app.admin().await;
        let (_, employee) = app.user(&admin, "e@example.com", &["employee"], None).await;
        let org = app.get("/v1/org", &employee).await.expect(200);
        assert_eq!(org["name"], "Default");
        assert_eq!(org["timezone"], "UTC");
        app.patch("/v1/org", &employee, json!({"name": "Mine"})).await.problem(403, "forbidden");
        app.patch("/v1/org", &admin, json!({"timezone": "Mars/Olympus"})).await.problem(422, "validation_failed");
        let changed = app.patch("/v1/org", &admin, json!({"name": "Acme", "timezone": "Asia/Kolkata"})).await.expect(200);
        assert_eq!(changed["timezone"], "Asia/Kolkata");
        assert_eq!(changed["name"], "Acme");
    }
}
