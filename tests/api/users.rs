//! Users: validation, scoping, the reporting tree, escalation rules, fresh permissions.

use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp};

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn field_names(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|e| e.iter().map(|f| f["field"].as_str().unwrap_or("").to_owned()).collect())
        .unwrap_or_default()
}

backend_tests! {
    async fn users_are_created_read_changed_and_disabled(app: TestApp) {
        let admin = app.admin().await;
        let manager = app.create_user(&admin, "m@example.com", &["employee", "manager"], None).await;
        let user = app.post("/v1/users", &admin, json!({
            "email": "Ann@Example.com", "name": "Ann", "employee_code": "E-1", "manager_id": id(&manager),
            "roles": ["employee"], "password": PASSWORD,
        })).await.expect(201);
        assert_eq!(user["email"], "Ann@Example.com");
        assert_eq!(user["manager_id"], id(&manager));
        assert_eq!(user["roles"], json!(["employee"]));
        assert_eq!(user["site_ids"], json!([]));
        assert_eq!(user["status"], "active");
        let fetched = app.get(&format!("/v1/users/{}", id(&user)), &admin).await.expect(200);
        assert_eq!(fetched, user);
        let changed = app.patch(&format!("/v1/users/{}", id(&user)), &admin, json!({"name": "Ann B", "manager_id": null})).await.expect(200);
        assert_eq!(changed["name"], "Ann B");
        assert!(changed["manager_id"].is_null());
        let disabled = app.post(&format!("/v1/users/{}/disable", id(&user)), &admin, json!({})).await.expect(200);
        assert_eq!(disabled["status"], "disabled");
        let audit = app.get(&format!("/v1/audit?subject_id={}", id(&user)), &admin).await.expect(200);
        let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["user.created", "user.updated", "user.disabled"]);
    }

    async fn bad_user_input_is_refused_field_by_field(app: TestApp) {
        let admin = app.admin().await;
        let problem = app.post("/v1/users", &admin, json!({
            "email": "not-an-email", "name": " ", "employee_code": "E-1", "roles": ["employee"], "password": "short",
        })).await.problem(422, "validation_failed");
        assert_eq!(field_names(&problem), ["email", "name", "password"]);
        let unknown = app.post("/v1/users", &admin, json!({
            "email": "a@example.com", "name": "A", "employee_code": "E-1", "roles": ["employee"], "org_id": uuid::Uuid::now_v7(),
        })).await.problem(422, "validation_failed");
        assert_eq!(field_names(&unknown), ["org_id"]);
        let role = app.post("/v1/users", &admin, json!({"email": "a@example.com", "name": "A", "employee_code": "E-1", "roles": ["king"]}))
            .await.problem(422, "validation_failed");
        assert_eq!(field_names(&role), ["roles[0]"]);
        let missing = app.post("/v1/users", &admin, json!({"email": "a@example.com", "name": "A", "roles": []})).await.problem(422, "validation_failed");
        assert_eq!(field_names(&missing), ["employee_code"]);
        let raw = app.client.post(app.url("/v1/users")).bearer_auth(&admin).header("content-type", "application/json").body("{\"email\":").send().await.unwrap();
        TestApp::answer(raw).await.problem(400, "malformed_request");
        let form = app.client.post(app.url("/v1/users")).bearer_auth(&admin).header("content-type", "text/plain").body("{}").send().await.unwrap();
        TestApp::answer(form).await.problem(415, "unsupported_media_type");
        let huge = app.client.post(app.url("/v1/users")).bearer_auth(&admin).header("content-type", "application/json")
            .body(format!("{{\"name\": \"{}\"}}", "x".repeat(2 << 20))).send().await.unwrap();
        TestApp::answer(huge).await.problem(413, "payload_too_large");
        app.get("/v1/users/not-a-uuid", &admin).await.problem(404, "not_found");
        let users = app.get("/v1/users", &admin).await.expect(200);
        assert_eq!(users["items"].as_array().unwrap().len(), 1, "nothing was written");
    }

    async fn emails_are_unique_across_the_server_ignoring_case(app: TestApp) {
        let admin = app.admin().await;
        app.create_user(&admin, "dup@example.com", &["employee"], None).await;
        let clash = app.post("/v1/users", &admin, json!({"email": "DUP@example.com", "name": "D", "employee_code": "X", "roles": ["employee"]}))
            .await.problem(409, "conflict");
        assert_eq!(field_names(&clash), ["email"]);
        let other = app.second_org("admin2@example.com").await;
        app.post("/v1/users", &other, json!({"email": "Dup@Example.com", "name": "D", "employee_code": "X", "roles": ["employee"]}))
            .await.problem(409, "conflict");
        let first = app.create_user(&admin, "code@example.com", &["employee"], None).await;
        let code = first["employee_code"].as_str().unwrap();
        let clash = app.post("/v1/users", &admin, json!({"email": "c2@example.com", "name": "C", "employee_code": code, "roles": ["employee"]}))
            .await.problem(409, "conflict");
        assert_eq!(field_names(&clash), ["employee_code"]);
    }

    async fn manager_chains_may_not_form_cycles(app: TestApp) {
        let admin = app.admin().await;
        let a = app.create_user(&admin, "a@example.com", &["employee", "manager"], None).await;
        let b = app.create_user(&admin, "b@example.com", &["employee", "manager"], Some(&id(&a))).await;
        let c = app.create_user(&admin, "c@example.com", &["employee"], Some(&id(&b))).await;
        let cycle = app.patch(&format!("/v1/users/{}", id(&a)), &admin, json!({"manager_id": id(&c)})).await.problem(422, "validation_failed");
        assert_eq!(field_names(&cycle), ["manager_id"]);
        app.patch(&format!("/v1/users/{}", id(&a)), &admin, json!({"manager_id": id(&a)})).await.problem(422, "validation_failed");
        app.patch(&format!("/v1/users/{}", id(&a)), &admin, json!({"manager_id": uuid::Uuid::now_v7()})).await.problem(422, "validation_failed");
        // Moving c under a is fine.
        app.patch(&format!("/v1/users/{}", id(&c)), &admin, json!({"manager_id": id(&a)})).await.expect(200);
    }

    async fn lists_are_scoped_to_the_team_or_the_org(app: TestApp) {
        let admin = app.admin().await;
        let (top, top_token) = app.user(&admin, "top@example.com", &["employee", "manager"], None).await;
        let (mid, mid_token) = app.user(&admin, "mid@example.com", &["employee", "manager"], Some(&id(&top))).await;
        let (leaf, leaf_token) = app.user(&admin, "leaf@example.com", &["employee"], Some(&id(&mid))).await;
        let (other, _) = app.user(&admin, "other@example.com", &["employee"], None).await;
        let emails = |v: Value| -> Vec<String> { let mut e: Vec<String> = v["items"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_owned()).collect(); e.sort(); e };
        assert_eq!(emails(app.get("/v1/users", &top_token).await.expect(200)), ["leaf@example.com", "mid@example.com", "top@example.com"]);
        assert_eq!(emails(app.get("/v1/users", &mid_token).await.expect(200)), ["leaf@example.com", "mid@example.com"]);
        app.get("/v1/users", &leaf_token).await.problem(403, "forbidden");
        app.get(&format!("/v1/users/{}", id(&leaf)), &top_token).await.expect(200);
        app.get(&format!("/v1/users/{}", id(&other)), &top_token).await.problem(404, "not_found");
        app.get(&format!("/v1/users/{}", id(&top)), &mid_token).await.problem(404, "not_found");
        app.get(&format!("/v1/users/{}", id(&leaf)), &leaf_token).await.expect(200);
        assert_eq!(app.get("/v1/users", &admin).await.expect(200)["items"].as_array().unwrap().len(), 5);
        // Pagination walks the whole list without repeats.
        let page1 = app.get("/v1/users?limit=2", &admin).await.expect(200);
        assert_eq!(page1["items"].as_array().unwrap().len(), 2);
        let cursor = page1["next_cursor"].as_str().unwrap();
        let page2 = app.get(&format!("/v1/users?limit=2&cursor={cursor}"), &admin).await.expect(200);
        let page3 = app.get(&format!("/v1/users?limit=2&cursor={}", page2["next_cursor"].as_str().unwrap()), &admin).await.expect(200);
        assert_eq!(page3["items"].as_array().unwrap().len(), 1);
        assert!(page3["next_cursor"].is_null());
        app.get("/v1/users?limit=0", &admin).await.problem(422, "validation_failed");
        app.get("/v1/users?cursor=garbage!", &admin).await.problem(422, "validation_failed");
        app.get("/v1/users?bogus=1", &admin).await.problem(422, "validation_failed");
        // Moving an employee to another manager applies to the very next request.
        app.patch(&format!("/v1/users/{}", id(&leaf)), &admin, json!({"manager_id": id(&other)})).await.expect(200);
        assert_eq!(emails(app.get("/v1/users", &mid_token).await.expect(200)), ["mid@example.com"]);
        let _ = mid;
    }

    async fn privilege_escalation_is_refused(app: TestApp) {
        let admin = app.admin().await;
        let (employee, employee_token) = app.user(&admin, "e@example.com", &["employee"], None).await;
        let (_, hr_token) = app.user(&admin, "hr@example.com", &["employee", "hr"], None).await;
        let admin_id = app.get("/v1/me", &admin).await.expect(200)["id"].as_str().unwrap().to_owned();
        // An employee edits nothing of the organisation.
        app.post("/v1/users", &employee_token, json!({"email": "x@example.com", "name": "X", "employee_code": "X", "roles": ["org_admin"]})).await.problem(403, "forbidden");
        app.put("/v1/roles/employee", &employee_token, json!({"permissions": ["roles.manage"]})).await.problem(403, "forbidden");
        app.put("/v1/policy", &employee_token, json!({})).await.problem(403, "forbidden");
        app.patch(&format!("/v1/users/{}", id(&employee)), &employee_token, json!({"roles": ["employee", "org_admin"]})).await.problem(403, "forbidden");
        // HR manages basic roles, but not elevated ones, nor users who hold them.
        app.patch(&format!("/v1/users/{}", id(&employee)), &hr_token, json!({"roles": ["employee", "manager"]})).await.expect(200);
        app.patch(&format!("/v1/users/{}", id(&employee)), &hr_token, json!({"roles": ["employee", "org_admin"]})).await.problem(403, "forbidden");
        app.post("/v1/users", &hr_token, json!({"email": "y@example.com", "name": "Y", "employee_code": "Y", "roles": ["auditor"]})).await.problem(403, "forbidden");
        app.patch(&format!("/v1/users/{admin_id}"), &hr_token, json!({"password": "hr-now-owns-the-admin"})).await.problem(403, "forbidden");
        // Nobody changes their own roles, not even an org admin.
        app.patch(&format!("/v1/users/{admin_id}"), &admin, json!({"roles": ["employee"]})).await.problem(403, "forbidden");
        app.post(&format!("/v1/users/{admin_id}/disable"), &admin, json!({})).await.problem(403, "forbidden");
        let me = app.get("/v1/me", &employee_token).await.expect(200);
        assert_eq!(me["roles"], json!(["employee", "manager"]));
    }

    async fn the_last_active_org_admin_stays(app: TestApp) {
        let admin = app.admin().await;
        let admin_id = app.get("/v1/me", &admin).await.expect(200)["id"].as_str().unwrap().to_owned();
        // Grant HR roles.manage so someone other than the admin can try.
        let mut hr_grants: Vec<Value> = app.get("/v1/roles", &admin).await.expect(200)["items"].as_array().unwrap().iter()
            .find(|r| r["name"] == "hr").unwrap()["permissions"].as_array().unwrap().clone();
        hr_grants.push(json!("roles.manage"));
        app.put("/v1/roles/hr", &admin, json!({"permissions": hr_grants})).await.expect(200);
        let (_, hr) = app.user(&admin, "hr@example.com", &["employee", "hr"], None).await;
        let problem = app.post(&format!("/v1/users/{admin_id}/disable"), &hr, json!({})).await.problem(422, "validation_failed");
        assert!(problem["detail"].as_str().unwrap().contains("last active org_admin"));
        app.patch(&format!("/v1/users/{admin_id}"), &hr, json!({"roles": ["employee"]})).await.problem(422, "validation_failed");
        // With a second admin, the first may go.
        let second = app.create_user(&admin, "admin2@example.com", &["org_admin"], None).await;
        app.post(&format!("/v1/users/{admin_id}/disable"), &hr, json!({})).await.expect(200);
        app.patch(&format!("/v1/users/{}", id(&second)), &hr, json!({"roles": ["employee"]})).await.problem(422, "validation_failed");
    }

    async fn permission_changes_apply_to_the_next_request(app: TestApp) {
        let admin = app.admin().await;
        let (_, employee) = app.user(&admin, "e@example.com", &["employee"], None).await;
        app.get("/v1/users", &employee).await.problem(403, "forbidden");
        app.put("/v1/roles/employee", &admin, json!({"permissions": ["attendance.record", "users.read:org"]})).await.expect(200);
        app.get("/v1/users", &employee).await.expect(200);
        let me = app.get("/v1/me", &employee).await.expect(200);
        assert_eq!(me["permissions"], json!(["attendance.record", "users.read:org"]));
    }
}
