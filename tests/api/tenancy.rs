//! Tenancy: nothing of one organisation is visible or changeable from another; another
//! org's objects are 404 on every verb, never 403.

use serde_json::json;

backend_tests! {
    async fn another_orgs_objects_are_not_found_on_every_verb(app: TestApp) {
        let admin = app.admin().await;
        let victim = app.create_user(&admin, "victim@example.com", &["employee"], None).await;
        let victim_id = victim["id"].as_str().unwrap();
        let other = app.second_org("admin2@example.com").await;
        app.get(&format!("/v1/users/{victim_id}"), &other).await.problem(404, "not_found");
        app.patch(&format!("/v1/users/{victim_id}"), &other, json!({"name": "pwned"})).await.problem(404, "not_found");
        app.post(&format!("/v1/users/{victim_id}/disable"), &other, json!({})).await.problem(404, "not_found");
        // References across tenants are refused as if the id did not exist.
        app.post("/v1/users", &other, json!({"email": "x@example.com", "name": "X", "employee_code": "X", "manager_id": victim_id, "roles": ["employee"]}))
            .await.problem(422, "validation_failed");
        let listed = app.get("/v1/users", &other).await.expect(200);
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);
        assert_eq!(listed["items"][0]["email"], "admin2@example.com");
        let audit = app.get(&format!("/v1/audit?subject_id={victim_id}"), &other).await.expect(200);
        assert!(audit["items"].as_array().unwrap().is_empty());
        assert_eq!(app.get("/v1/org", &other).await.expect(200)["name"], "Other Org");
        // Each org has its own grants and policy.
        app.put("/v1/roles/employee", &other, json!({"permissions": []})).await.expect(200);
        let mine = app.get("/v1/roles", &admin).await.expect(200);
        assert!(!mine["items"][0]["permissions"].as_array().unwrap().is_empty());
        // And the victim is untouched.
        assert_eq!(app.get(&format!("/v1/users/{victim_id}"), &admin).await.expect(200)["name"], "victim");
    }
}
