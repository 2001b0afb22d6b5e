//! Server-log hygiene: the real binary, at `RUST_LOG=debug`, runs a whole workflow (logins,
//! a user created, tokens refreshed, app logs uploaded with secret-looking text and CR/LF,
//! reads with coordinate-like query strings), and its log must hold none of the tokens,
//! passwords, the JWT secret, app-log text, query strings, or a line a client forged.
//!
//! The tracing subscriber is process-wide, so the server runs as its own process with its
//! stderr captured, rather than inside the test process.

use base64::Engine;
use prost::Message;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use muster::proto::v1;

const JWT_SECRET: &str = "hygiene-jwt-secret-0123456789abcdef-XYZ";
const ADMIN_PASSWORD: &str = "hygiene-admin-password-Q7";
const USER_PASSWORD: &str = "hygiene-user-password-K9";
const WRONG_PASSWORD: &str = "hygiene-wrong-guess-Z3";
const SECRET_MESSAGE: &str = "SECRET-APPLOG-MESSAGE-c0ffee";
const FORGED: &str = "FORGED-LINE";
const LAT: &str = "12.971598";
const LON: &str = "77.594562";

/// Kills the server when the test ends, passed or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary on a port it picks itself and returns it with its captured stderr.
fn start(dir: &std::path::Path) -> (Server, u16, Arc<Mutex<String>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .env("MUSTER_LOG_FORMAT", "text")
        .env(
            "MUSTER_DATABASE_URL",
            format!("sqlite://{}", dir.join("muster.db").display()),
        )
        .env("MUSTER_PHOTO_STORE", format!("file://{}", dir.join("photos").display()))
        .env("MUSTER_DATA_DIR", dir)
        .env("MUSTER_JWT_SECRET", JWT_SECRET)
        .env("MUSTER_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("MUSTER_WORKERS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let stderr = child.stderr.take().expect("stderr");
    let log = Arc::new(Mutex::new(String::new()));
    let (port_tx, port_rx) = mpsc::channel();
    let sink = log.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        // Raw bytes, split on LF only: a CR anywhere stays visible to the assertions.
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let text = String::from_utf8_lossy(&line).into_owned();
            if text.contains("muster is serving")
                && let Some(port) = text.split("port=").nth(1).and_then(|p| p.trim().parse::<u16>().ok())
            {
                let _ = port_tx.send(port);
            }
            sink.lock().unwrap().push_str(&text);
            line.clear();
        }
    });
    let server = Server(child);
    let port = port_rx
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("no 'muster is serving' line; log:\n{}", log.lock().unwrap()));
    (server, port, log)
}

async fn json_of(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status);
    res.json().await.unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_log_holds_no_secrets_personal_data_or_forged_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port, log) = start(dir.path());
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{base}{p}");

    let login = |email: &'static str, password: &'static str| {
        http.post(url("/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    json_of(login("admin@example.com", WRONG_PASSWORD).await.unwrap(), 401).await;
    let admin_tokens = json_of(login("admin@example.com", ADMIN_PASSWORD).await.unwrap(), 200).await;
    let admin = admin_tokens["access_token"].as_str().unwrap().to_owned();
    let user = http
        .post(url("/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({"email": "asha@example.com", "name": "Asha", "employee_code": "E-1", "roles": ["employee"], "password": USER_PASSWORD}))
        .send()
        .await
        .unwrap();
    let user_id = json_of(user, 201).await["id"].as_str().unwrap().to_owned();
    let first = json_of(login("asha@example.com", USER_PASSWORD).await.unwrap(), 200).await;
    let refreshed = json_of(
        http.post(url("/v1/auth/refresh"))
            .json(&json!({"refresh_token": first["refresh_token"]}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    // Presenting a used refresh token again is logged as an event, without the token.
    json_of(
        http.post(url("/v1/auth/refresh"))
            .json(&json!({"refresh_token": first["refresh_token"]}))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    let second = json_of(login("asha@example.com", USER_PASSWORD).await.unwrap(), 200).await;
    let token = second["access_token"].as_str().unwrap().to_owned();

    let nasty = format!("{SECRET_MESSAGE}\r\n2026-11-21T00:00:00.000000Z ERROR muster: {FORGED} lat={LAT}\n{FORGED}");
    let body = json!({
        "device": {"id": "DEVICE-ID-SECRET", "name": format!("Asha's phone\r\n{FORGED}"), "model": "Pixel 8"},
        "app_config": {"api_key": "CONFIG-SECRET-77"},
        "entries": [
            {"ts": "2026-11-21T09:02:11+05:30", "level": "error", "event": format!("evt\r\n{FORGED}"), "message": nasty,
             "attrs": {"lat": LAT, "lon": LON, "note": format!("ATTR-SECRET\r\n{FORGED}")}},
        ]
    });
    json_of(
        http.post(url("/v1/app-logs"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap(),
        202,
    )
    .await;
    let proto = v1::AppLogBatch {
        device: Some(v1::AppLogDevice {
            id: Some("DEVICE-ID-SECRET".into()),
            ..Default::default()
        }),
        app_config: None,
        entries: vec![v1::AppLogEntry {
            ts: "2026-11-21T09:02:11Z".into(),
            level: "info".into(),
            event: "proto".into(),
            message: nasty.clone(),
            attrs: None,
        }],
    };
    let res = http
        .post(url("/v1/app-logs"))
        .bearer_auth(&token)
        .header("content-type", "application/x-protobuf")
        .body(proto.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    // Refused uploads too: their detail goes to the client, not to the log.
    let mut bad = body.clone();
    bad["entries"][0]["level"] = json!(format!("loud\r\n{FORGED}"));
    json_of(
        http.post(url("/v1/app-logs"))
            .bearer_auth(&token)
            .json(&bad)
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;

    for path in [
        format!("/v1/app-logs?user_id={user_id}&from=2026-11-21T00:00:00%2B05:30&level=error"),
        format!("/v1/app-logs?lat={LAT}&lon={LON}"),
        format!("/v1/users?cursor={LAT},{LON}"),
        format!("/v1/nowhere?lat={LAT}&lon={LON}"),
    ] {
        let res = http.get(url(&path)).bearer_auth(&admin).send().await.unwrap();
        assert!(res.status().as_u16() < 500, "{path}: {}", res.status());
    }
    let items = json_of(
        http.get(url("/v1/app-logs")).bearer_auth(&admin).send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(
        items["items"][0]["message"],
        nasty.as_str(),
        "the text is stored verbatim"
    );
    // Tampered tokens are refused without echoing them, even when their header is made to
    // read like a log line (the header is decoded before the signature is checked).
    let tampered = format!("{token}TAMPERED");
    json_of(
        http.get(url("/v1/me")).bearer_auth(&tampered).send().await.unwrap(),
        401,
    )
    .await;
    let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let payload = token.split('.').nth(1).unwrap();
    for header in [
        // JSON escapes that decode to CR/LF inside a field serde then quotes in its error.
        format!(r#"{{"alg":"HS256\r\n{FORGED}","typ":"JWT"}}"#),
        format!(r#"{{"alg":"HS256","typ":"JWT","kid":"\r\n{FORGED}","x5t":5}}"#),
        format!("not json\r\n{FORGED}"),
    ] {
        let forged = format!("{}.{payload}.c2lnbmF0dXJl", b64(&header));
        json_of(http.get(url("/v1/me")).bearer_auth(&forged).send().await.unwrap(), 401).await;
    }
    json_of(
        http.post(url("/v1/auth/logout"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        204,
    )
    .await;

    // Let the last lines reach the pipe, then stop the server.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(server);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = log.lock().unwrap().clone();

    assert!(log.contains(" DEBUG "), "debug lines are scanned too:\n{log}");
    assert!(log.contains("answered"), "access lines are scanned too:\n{log}");
    let mut secrets: Vec<String> = vec![
        JWT_SECRET.into(),
        ADMIN_PASSWORD.into(),
        USER_PASSWORD.into(),
        WRONG_PASSWORD.into(),
        SECRET_MESSAGE.into(),
        FORGED.into(),
        "ATTR-SECRET".into(),
        "CONFIG-SECRET-77".into(),
        "DEVICE-ID-SECRET".into(),
        "Asha's phone".into(),
        LAT.into(),
        LON.into(),
        "user_id=".into(),
        "lat=".into(),
        "cursor=".into(),
        "level=error".into(),
    ];
    for tokens in [&admin_tokens, &first, &refreshed, &second] {
        secrets.push(tokens["refresh_token"].as_str().unwrap().into());
        let access = tokens["access_token"].as_str().unwrap();
        // Each part of a JWT is checked alone: a logged payload or signature is a leak too.
        secrets.extend(access.split('.').filter(|part| part.len() > 16).map(str::to_owned));
    }
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "the server log contains {secret:?}:\n{log}"
        );
    }
    assert!(!log.contains('\r'), "a carriage return reached the log:\n{log}");
    assert!(!log.contains('\u{1b}'), "an escape sequence reached the log:\n{log}");
    for line in log.lines() {
        // Every line is one the subscriber wrote: it starts with its timestamp.
        let starts_with_time =
            line.len() > 20 && line.as_bytes()[..4].iter().all(u8::is_ascii_digit) && line.as_bytes()[4] == b'-';
        assert!(
            starts_with_time || line.trim().is_empty(),
            "a line not written by the subscriber: {line:?}\n{log}"
        );
    }
}
