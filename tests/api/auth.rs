//! Login, tokens, refresh rotation, logout, throttling.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, TestApp};

const SECRET: &[u8] = b"test-secret-that-is-at-least-32-bytes-long";

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("three parts");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn sign(claims: &Value, alg: Algorithm, secret: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

async fn assert_refused(app: &TestApp, token: &str) {
    app.get("/v1/me", token).await.problem(401, "unauthorized");
}

backend_tests! {
    async fn login_issues_a_jwt_with_the_contract_claims(app: TestApp) {
        let tokens = app.login_tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["expires_in"], 900);
        assert!(tokens["refresh_token"].as_str().unwrap().len() >= 32);
        let claims = claims_of(tokens["access_token"].as_str().unwrap());
        assert_eq!(claims["iss"], "muster");
        assert_eq!(claims["aud"], "muster-api");
        for claim in ["sub", "org", "iat", "exp", "jti", "nbf"] {
            assert!(!claims[claim].is_null(), "missing {claim}");
        }
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
        let me = app.get("/v1/me", tokens["access_token"].as_str().unwrap()).await.expect(200);
        assert_eq!(me["email"], ADMIN_EMAIL);
        assert_eq!(me["id"], claims["sub"]);
        assert!(me["permissions"].as_array().unwrap().contains(&json!("roles.manage")));
    }

    async fn unknown_email_and_wrong_password_answer_alike(app: TestApp) {
        let wrong = app.login_answer(ADMIN_EMAIL, "not-the-password").await;
        let unknown = app.login_answer("nobody@example.com", "not-the-password").await;
        assert_eq!(wrong.status, 401);
        assert_eq!(wrong.text, unknown.text);
        assert_eq!(wrong.body["code"], "unauthorized");
        // Case does not matter for the email.
        app.login_answer("ADMIN@Example.com", ADMIN_PASSWORD).await.expect(200);
    }

    async fn failed_logins_are_throttled_per_account_and_successes_do_not_count(app: TestApp) {
        let admin = app.admin().await;
        app.create_user(&admin, "e1@example.com", &["employee"], None).await;
        for _ in 0..8 {
            app.login_answer(ADMIN_EMAIL, ADMIN_PASSWORD).await.expect(200);
        }
        for _ in 0..5 {
            app.login_answer(ADMIN_EMAIL, "wrong-password").await.expect(401);
        }
        let limited = app.login_answer(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let retry: u64 = limited.headers.get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap();
        assert!(retry > 0 && retry <= 900);
        limited.problem(429, "rate_limited");
        // Another account from the same address is not locked by this one.
        app.login_answer("e1@example.com", PASSWORD).await.expect(200);
    }

    async fn refresh_tokens_rotate_and_reuse_revokes_the_family(app: TestApp) {
        let first = app.login_tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let second = app.send(Method::POST, "/v1/auth/refresh", None, Some(&json!({"refresh_token": first["refresh_token"]}))).await.expect(200);
        assert_ne!(second["refresh_token"], first["refresh_token"]);
        let access = second["access_token"].as_str().unwrap();
        app.get("/v1/me", access).await.expect(200);
        // The used token again: refused, and the whole family with it.
        app.send(Method::POST, "/v1/auth/refresh", None, Some(&json!({"refresh_token": first["refresh_token"]}))).await.problem(401, "unauthorized");
        app.send(Method::POST, "/v1/auth/refresh", None, Some(&json!({"refresh_token": second["refresh_token"]}))).await.problem(401, "unauthorized");
        assert_refused(&app, access).await;
        // Other sessions are untouched.
        let other = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        app.get("/v1/me", &other).await.expect(200);
        app.send(Method::POST, "/v1/auth/refresh", None, Some(&json!({"refresh_token": "made-up"}))).await.problem(401, "unauthorized");
    }

    async fn logout_ends_the_session(app: TestApp) {
        let tokens = app.login_tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let access = tokens["access_token"].as_str().unwrap();
        app.send(Method::POST, "/v1/auth/logout", Some(access), None).await.expect(204);
        assert_refused(&app, access).await;
        app.send(Method::POST, "/v1/auth/refresh", None, Some(&json!({"refresh_token": tokens["refresh_token"]}))).await.problem(401, "unauthorized");
    }

    async fn forged_and_malformed_tokens_are_refused(app: TestApp) {
        let good = app.admin().await;
        let claims = claims_of(&good);
        let now = chrono::Utc::now().timestamp();
        // The genuine claims re-signed with our secret work: the cases below differ in one thing.
        app.get("/v1/me", &sign(&claims, Algorithm::HS256, SECRET)).await.expect(200);
        let with = |k: &str, v: Value| { let mut c = claims.clone(); c[k] = v; c };
        let cases = vec![
            ("other key", sign(&claims, Algorithm::HS256, b"another-secret-that-is-32-bytes-long!!")),
            ("expired", sign(&with("exp", json!(now - 3600)), Algorithm::HS256, SECRET)),
            ("not yet valid", sign(&with("nbf", json!(now + 3600)), Algorithm::HS256, SECRET)),
            ("wrong aud", sign(&with("aud", json!("someone-else")), Algorithm::HS256, SECRET)),
            ("wrong iss", sign(&with("iss", json!("evil")), Algorithm::HS256, SECRET)),
            ("string exp", sign(&with("exp", json!((now + 3600).to_string())), Algorithm::HS256, SECRET)),
            ("other alg", sign(&claims, Algorithm::HS512, SECRET)),
            ("alg none", format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims))),
            ("tampered", { let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect(); parts[1] = b64(&with("sub", json!(uuid::Uuid::now_v7()))); parts.join(".") }),
            ("garbage", "not.a.jwt".to_owned()),
        ];
        for (what, token) in cases {
            let answer = app.get("/v1/me", &token).await;
            assert_eq!(answer.status, 401, "{what} was accepted");
        }
        app.send(Method::GET, "/v1/me", None, None).await.problem(401, "unauthorized");
        let basic = app.client.get(app.url("/v1/me")).header("authorization", format!("Basic {good}")).send().await.unwrap();
        assert_eq!(basic.status(), 401);
    }

    async fn a_disabled_user_is_locked_out_at_once(app: TestApp) {
        let admin = app.admin().await;
        let (user, token) = app.user(&admin, "e1@example.com", &["employee"], None).await;
        let tokens = app.login_tokens("e1@example.com", PASSWORD).await;
        app.get("/v1/me", &token).await.expect(200);
        app.post(&format!("/v1/users/{}/disable", user["id"].as_str().unwrap()), &admin, json!({})).await.expect(200);
        assert_refused(&app, &token).await;
        app.login_answer("e1@example.com", PASSWORD).await.problem(401, "unauthorized");
        app.send(Method::POST, "/v1/auth/refresh", None, Some(&json!({"refresh_token": tokens["refresh_token"]}))).await.problem(401, "unauthorized");
    }

    async fn logins_are_audited_with_the_client_address(app: TestApp) {
        app.login_answer(ADMIN_EMAIL, "wrong-password").await.expect(401);
        let admin = app.admin().await;
        let failed = app.get("/v1/audit?action=auth.login_failed", &admin).await.expect(200);
        assert_eq!(failed["items"].as_array().unwrap().len(), 1);
        assert_eq!(failed["items"][0]["ip"], "127.0.0.1");
        let ok = app.get("/v1/audit?action=auth.login_succeeded", &admin).await.expect(200);
        assert_eq!(ok["items"][0]["actor_id"], claims_of(&admin)["sub"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_per_client_address() {
    let app = TestApp::spawn_with(crate::common::Backend::Sqlite, |s| s.login_max_failures_per_ip = 3)
        .await
        .unwrap();
    for i in 0..3 {
        app.login_answer(&format!("nobody{i}@example.com"), "wrong-password")
            .await
            .expect(401);
    }
    app.login_answer(ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .problem(429, "rate_limited");
}

/// Password hashing is bounded: with one slot and a wait shorter than a hash, logins
/// arriving together are refused with 503 and `Retry-After` instead of each taking a core
/// and 19 MiB; with a long enough wait the same burst all succeeds, one hash at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_logins_wait_for_a_hashing_slot_or_are_told_to_retry() {
    let busy = TestApp::spawn_with(crate::common::Backend::Sqlite, |s| {
        s.password_hash_concurrency = Some(1);
        s.password_hash_max_wait_ms = 1;
    })
    .await
    .unwrap();
    let answers = futures_util::future::join_all((0..6).map(|_| busy.login_answer(ADMIN_EMAIL, ADMIN_PASSWORD))).await;
    let refused: Vec<_> = answers.into_iter().filter(|a| a.status == 503).collect();
    assert!(
        !refused.is_empty(),
        "six logins at once through one slot all fit a 1 ms wait"
    );
    for answer in refused {
        assert!(answer.headers.contains_key("retry-after"), "503 without Retry-After");
        answer.problem(503, "unavailable");
    }

    let patient = TestApp::spawn_with(crate::common::Backend::Sqlite, |s| {
        s.password_hash_concurrency = Some(1);
        s.password_hash_max_wait_ms = 60_000;
    })
    .await
    .unwrap();
    let answers =
        futures_util::future::join_all((0..6).map(|_| patient.login_answer(ADMIN_EMAIL, ADMIN_PASSWORD))).await;
    for answer in answers {
        answer.expect(200);
    }
}
