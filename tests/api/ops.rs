//! Operations endpoints and HTTP conventions.

use reqwest::Method;

use crate::common::TestApp;

backend_tests! {
    async fn health_readiness_metrics_and_request_ids(app: TestApp) {
        let health = app.send(Method::GET, "/healthz", None, None).await;
        assert_eq!(health.status, 200);
        let generated = health.headers.get("x-request-id").expect("x-request-id").to_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&generated).is_ok());
        let ready = app.send(Method::GET, "/readyz", None, None).await.expect(200);
        assert_eq!(ready["database"], "ok");
        assert_eq!(ready["photo_store"], "ok");
        let echoed = app.client.get(app.url("/v1/me")).header("x-request-id", "client-abc-123").send().await.unwrap();
        assert_eq!(echoed.status(), 401);
        assert_eq!(echoed.headers()["x-request-id"], "client-abc-123");
        let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("muster_http_requests_total"), "{metrics}");
        let unknown = app.send(Method::GET, "/v1/nowhere", None, None).await;
        assert!(unknown.headers.contains_key("x-request-id"));
        unknown.problem(404, "not_found");
    }

    async fn openapi_describes_every_route(app: TestApp) {
        let spec = app.send(Method::GET, "/openapi.json", None, None).await.expect(200);
        assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
        for (path, method) in [
            ("/v1/auth/login", "post"), ("/v1/auth/refresh", "post"), ("/v1/auth/logout", "post"), ("/v1/me", "get"),
            ("/v1/org", "get"), ("/v1/org", "patch"), ("/v1/policy", "get"), ("/v1/policy", "put"), ("/v1/roles", "get"),
            ("/v1/roles/{role}", "put"), ("/v1/users", "post"), ("/v1/users", "get"), ("/v1/users/{id}", "get"),
            ("/v1/users/{id}", "patch"), ("/v1/users/{id}/disable", "post"), ("/v1/audit", "get"), ("/v1/me/disclosures", "get"),
            ("/healthz", "get"), ("/readyz", "get"), ("/metrics", "get"), ("/openapi.json", "get"),
        ] {
            assert!(spec["paths"][path][method].is_object(), "{method} {path} is missing from the spec");
        }
        assert!(spec["components"]["schemas"]["Problem"].is_object());
        // Query parameters are published as such: a client generator would put them in the path otherwise.
        for (path, method) in [("/v1/users", "get"), ("/v1/sites", "get"), ("/v1/geofences", "get"), ("/v1/audit", "get")] {
            for p in spec["paths"][path][method]["parameters"].as_array().unwrap() {
                assert_eq!(p["in"], "query", "{method} {path}: {p}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_have_their_own_listener() {
    let app = TestApp::spawn_with(crate::common::Backend::Sqlite, |s| {
        s.metrics_listen = Some("127.0.0.1:0".into())
    })
    .await
    .unwrap();
    let on_api = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(on_api.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_when_the_photo_store_is_unreachable() {
    let s3 = crate::common::s3::TestS3::start().await;
    let app = TestApp::spawn_with(crate::common::Backend::Sqlite, |s| {
        s.photo_store = s3.store_url(Some("photos"));
        s.s3_endpoint = Some(s3.endpoint.clone());
        s.s3_region = Some(s3.region.clone());
        s.s3_access_key_id = Some(s3.access_key.clone());
        s.s3_secret_access_key = Some(muster::config::Secret::new(s3.secret_key.clone()));
    })
    .await
    .unwrap();
    let ready = app.send(Method::GET, "/readyz", None, None).await.expect(200);
    assert_eq!(ready["photo_store"], "ok");
    drop(s3);
    let down = app.send(Method::GET, "/readyz", None, None).await.expect(503);
    assert_eq!(down["photo_store"], "unavailable");
    assert_eq!(down["database"], "ok");
}
