//! Operating the server: body-read and head timeouts, request rate limits, graceful
//! shutdown of the real binary, metrics families and JSON logs.

use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::process::{Installation, Server, free_port};
use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestApp};

/// A raw HTTP/1.1 request head announcing a JSON body of `len` bytes.
fn login_head(len: usize, extra: &str) -> String {
    format!(
        "POST /v1/auth/login HTTP/1.1\r\nHost: muster\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\n{extra}\r\n"
    )
}

fn login_body() -> String {
    json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }).to_string()
}

/// Reads until the server closes the connection (or `within` passes), as text.
async fn read_answer(stream: &mut (impl AsyncReadExt + Unpin), within: Duration) -> String {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(within, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dribbled_body_is_cut_off_with_408() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.body_read_timeout_s = 1)
        .await
        .unwrap();
    let address = app.address.trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(&address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    writer.write_all(login_head(100, "").as_bytes()).await.unwrap();
    // One byte every 200 ms: a per-chunk timeout would never fire; the total deadline does.
    let dribble = tokio::spawn(async move {
        for _ in 0..50 {
            if writer.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut first = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(8), reader.read_exact(&mut first)).await;
    let elapsed = started.elapsed();
    assert!(matches!(read, Ok(Ok(_))), "no answer: {read:?}");
    let answer = String::from_utf8_lossy(&first).into_owned() + &read_answer(&mut reader, Duration::from_secs(8)).await;
    dribble.abort();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(3),
        "answered after {elapsed:?}"
    );

    // A body that arrives in time is still read normally.
    app.login_tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dribbled_head_is_cut_off() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.client_request_timeout_s = 1)
        .await
        .unwrap();
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let started = Instant::now();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: mu").await.unwrap();
    let answer = read_answer(&mut stream, Duration::from_secs(8)).await;
    let elapsed = started.elapsed();
    // actix answers 408 (or just closes) once the head has not arrived in time.
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(elapsed < Duration::from_secs(4), "closed after {elapsed:?}");
}

/// A GET from a client address, as a trusted proxy in front of the server reports it.
async fn get_from(app: &TestApp, path: &str, client_ip: &str, token: Option<&str>) -> crate::common::Answer {
    let mut req = app.client.get(app.url(path)).header("x-forwarded-for", client_ip);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    TestApp::answer(req.send().await.unwrap()).await
}

/// Asserts a 429 problem with a sane `Retry-After`.
#[track_caller]
fn assert_rate_limited(answer: crate::common::Answer) {
    let retry_after: u64 = answer
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in whole seconds");
    assert!((1..=2).contains(&retry_after), "Retry-After: {retry_after}");
    assert!(answer.headers.contains_key("x-request-id"));
    answer.problem(429, "rate_limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_limited_per_client_address_but_probes_never() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.trusted_proxies = vec!["127.0.0.1".into()];
        s.rate_limit_per_ip_per_s = 1;
        s.rate_limit_per_ip_burst = 3;
    })
    .await
    .unwrap();
    let flooder = "203.0.113.7";
    for _ in 0..3 {
        get_from(&app, "/openapi.json", flooder, None).await.expect(200);
    }
    assert_rate_limited(get_from(&app, "/openapi.json", flooder, None).await);
    // Any route, authenticated or not, counts against the address.
    assert_rate_limited(get_from(&app, "/v1/me", flooder, None).await);

    // Probes and scrapers are never refused, even from the flooding address.
    for path in ["/healthz", "/readyz", "/metrics"] {
        get_from(&app, path, flooder, None).await.expect(200);
    }
    // Another address is unaffected, and so is another host in a different IPv6 /64.
    get_from(&app, "/openapi.json", "203.0.113.8", None).await.expect(200);
    for _ in 0..3 {
        get_from(&app, "/openapi.json", "2001:db8:0:1::1", None)
            .await
            .expect(200);
    }
    // The same /64 is one client.
    assert_rate_limited(get_from(&app, "/openapi.json", "2001:db8:0:1::2", None).await);
    get_from(&app, "/openapi.json", "2001:db8:0:2::1", None)
        .await
        .expect(200);

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("muster_rate_limited_total{limit=\"ip\"}"), "{metrics}");
}

/// On each backend: the user limit is the only one that needs users.
async fn requests_are_limited_per_user(backend: Backend) {
    let limited = TestApp::spawn_with(backend, |s| {
        s.rate_limit_per_ip_per_s = 0;
        s.rate_limit_per_user_per_s = 1;
        s.rate_limit_per_user_burst = 3;
    });
    let Some(app) = limited.await else { return };
    {
        let admin = app.admin().await;
        let (_, other) = app.user(&admin, "other@example.com", &["employee"], None).await;
        let mut refused = None;
        for _ in 0..10 {
            let answer = app.get("/v1/me", &admin).await;
            if answer.status == 429 {
                refused = Some(answer);
                break;
            }
            answer.expect(200);
        }
        assert_rate_limited(refused.expect("the admin is refused within 10 quick requests"));
        // Another user from the same address is unaffected.
        app.get("/v1/me", &other).await.expect(200);
        // A token that does not verify counts only against its address: 401 as usual.
        app.get("/v1/me", "not-a-token").await.problem(401, "unauthorized");
        // Login carries no token, so a limited user can still log in.
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        app.send(Method::GET, "/healthz", Some(&admin), None).await.expect(200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_limited_per_user_on_sqlite() {
    requests_are_limited_per_user(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_limited_per_user_on_postgres() {
    requests_are_limited_per_user(Backend::Postgres).await;
}

backend_tests! {
    async fn metrics_cover_requests_pool_photos_memory_decisions_hashing_and_retention(app: TestApp) {
        let admin = app.admin().await;
        app.get("/v1/me", &admin).await.expect(200);
        // /readyz checks the photo store, which goes through the metered store.
        app.send(Method::GET, "/readyz", None, None).await.expect(200);
        muster::telemetry::record_decision("inside", "accepted");
        // What the background retention job runs, in this process, as the server's job would.
        let repo = muster::startup::open_repo(&app.settings).await.unwrap();
        let photos = muster::photos::open(&app.settings.photo_store, &app.settings.s3_options()).await.unwrap();
        muster::privacy::run_retention(repo.as_ref(), photos.as_ref(), app.retention(100)).await.unwrap();
        let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        for family in [
            "muster_http_requests_total{",
            "muster_http_request_duration_seconds_bucket{",
            "muster_db_pool_size ",
            "muster_db_pool_idle ",
            "muster_db_pool_in_use ",
            "muster_db_pool_max ",
            "muster_photo_store_operations_total{",
            "muster_photo_store_operation_duration_seconds_bucket{",
            "process_resident_memory_bytes ",
            "muster_attendance_decisions_total{",
            "muster_password_hash_wait_seconds_bucket{",
            "muster_retention_runs_total{outcome=\"ok\"} ",
            "muster_retention_run_duration_seconds_bucket{",
            "muster_retention_removed_total{what=\"locations\"} ",
            "muster_retention_last_success_timestamp_seconds ",
        ] {
            assert!(metrics.contains(family), "{family} is missing from /metrics:\n{metrics}");
        }
        assert!(metrics.lines().any(|l| l.starts_with("muster_photo_store_operations_total{")
            && l.contains("op=\"health\"") && l.contains("outcome=\"ok\"")), "{metrics}");
        assert!(metrics.lines().any(|l| l.starts_with("muster_attendance_decisions_total{")
            && l.contains("verdict=\"inside\"") && l.contains("status=\"accepted\"")), "{metrics}");
    }
}

async fn refuses_connections(address: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match TcpStream::connect(address).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return true,
            // Accepted just before the listener closed; hang up so it does not count as
            // in flight, and look again.
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    false
}

/// Sends `signal` while a login's body is still on its way: the login completes with its
/// real answer, new connections (on every listener) are refused, and the process exits 0.
async fn drains_in_flight_requests_on(signal: &str, metrics_listener: bool) {
    let metrics_address = format!("127.0.0.1:{}", free_port());
    let mut envs = vec![("MUSTER_SHUTDOWN_TIMEOUT_S", "20")];
    if metrics_listener {
        envs.push(("MUSTER_METRICS_LISTEN", &metrics_address));
    }
    let installation = Installation::new(Backend::Sqlite).await.unwrap();
    let mut server = Server::start(&installation, &envs).await;
    if metrics_listener {
        let scraped = reqwest::get(format!("http://{metrics_address}/metrics")).await.unwrap();
        assert_eq!(scraped.status(), 200);
    }
    let body = login_body();
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);

    // A login whose body is still on its way when the signal arrives.
    let mut in_flight = TcpStream::connect(server.address()).await.unwrap();
    in_flight
        .write_all(login_head(body.len(), "Connection: close\r\n").as_bytes())
        .await
        .unwrap();
    in_flight.write_all(first).await.unwrap();
    // Let the server read the head and start the handler before the signal.
    tokio::time::sleep(Duration::from_millis(500)).await;

    server.signal(signal);
    assert!(
        refuses_connections(&server.address(), Duration::from_secs(5)).await,
        "new connections are still accepted after SIG{signal}"
    );
    if metrics_listener {
        assert!(
            refuses_connections(&metrics_address, Duration::from_secs(5)).await,
            "the metrics listener still accepts after SIG{signal}"
        );
    }
    assert!(server.running(), "exited with a request in flight");

    in_flight.write_all(rest).await.unwrap();
    let answer = read_answer(&mut in_flight, Duration::from_secs(30)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let json = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let tokens: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {answer}"));
    assert!(tokens["access_token"].is_string(), "{answer}");

    let status = server.wait_exit(Duration::from_secs(15)).await;
    assert!(
        status.success(),
        "exit status {status:?}; stderr:\n{}",
        installation.logs()
    );
    let logs = installation.logs();
    assert!(logs.contains("draining in-flight requests"), "{logs}");
    assert!(logs.contains("stopped"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_on_every_listener_and_exits_0() {
    drains_in_flight_requests_on("TERM", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_drains_in_flight_requests_too() {
    drains_in_flight_requests_on("INT", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_the_request_id() {
    let installation = Installation::new(Backend::Sqlite).await.unwrap();
    let mut server = Server::start(&installation, &[("MUSTER_LOG_FORMAT", "json")]).await;
    let id = "json-log-probe-42";
    let answer = reqwest::Client::new()
        .get(server.url("/v1/me"))
        .header("x-request-id", id)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(30)).await.success());

    let logs = installation.logs();
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "{logs}");
    let mut saw_request = false;
    for line in lines {
        let entry: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(entry["level"].is_string(), "no level: {line}");
        assert!(
            entry["message"].is_string() || entry["fields"].is_object(),
            "no message: {line}"
        );
        saw_request |= entry["span"]["request_id"] == id && entry["message"] == "answered";
    }
    assert!(saw_request, "no log line carries request_id {id}:\n{logs}");
}
