//! The organisation under test, set up through the API, and the requests a phone or a
//! manager's dashboard sends, each reduced to an `Outcome`.
//!
//! Shapes follow `tests/api/attendance.rs` and `tests/api/photos.rs`: one site in
//! Asia/Kolkata fenced by a ~1.1 km square in Bangalore, employees assigned to it, all
//! reporting to one manager.

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::server::{ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::stats::Outcome;

const PASSWORD: &str = "load-employee-password";
/// Creating a user and logging in each hash a password (argon2, ~20 MiB, tens of ms): a few
/// at a time keep both cores busy without queueing hundreds of hashes.
const SETUP_CONCURRENCY: usize = 8;
/// Events per batch when seeding history: well under the server's default limit of 500.
const HISTORY_BATCH: usize = 200;
/// A fix inside the fence, and one ~556 m north of it.
const INSIDE: (f64, f64) = (12.97, 77.59);
const OUTSIDE: (f64, f64) = (12.98, 77.59);

/// One employee's phone: who it is and the token it sends.
pub struct Phone {
    pub email: String,
    pub token: String,
    pub device_id: String,
}

/// Everything the phases need, shared by all their clients.
pub struct World {
    pub client: reqwest::Client,
    pub base: String,
    pub phones: Vec<Phone>,
    pub manager: String,
    pub photo: Vec<u8>,
}

/// How long the setup took, apart from the phases: it is dominated by password hashing.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SetupTimes {
    pub users_s: f64,
    pub logins_s: f64,
    /// Events of the phones' past (`--history-days`), and how long sending them took.
    pub history_events: u64,
    pub history_s: f64,
}

async fn post_json(client: &reqwest::Client, url: String, token: Option<&str>, body: &Value) -> anyhow::Result<Value> {
    let mut request = client.post(&url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let res = request.send().await.with_context(|| format!("POST {url}"))?;
    let status = res.status();
    let text = res.text().await?;
    if !status.is_success() {
        bail!("POST {url}: {status}: {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

fn id_of(value: &Value) -> anyhow::Result<String> {
    value["id"].as_str().map(str::to_owned).context("answer without an id")
}

async fn login(client: &reqwest::Client, base: &str, email: &str, password: &str) -> anyhow::Result<String> {
    let body = json!({"email": email, "password": password});
    let answer = post_json(client, format!("{base}/v1/auth/login"), None, &body).await?;
    answer["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("login answer without an access token")
}

/// A day shift for everyone at the site, and a holiday, over the seeded history: so that
/// reports judge every day against a shift, as an organisation with shifts has them.
async fn site_shift(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    site_id: &str,
    history_days: u32,
) -> anyhow::Result<()> {
    let shift = json!({
        "name": "Day", "start": "09:00", "end": "18:00", "weekdays": ["mon", "tue", "wed", "thu", "fri"],
        "late_grace_min": 10, "early_grace_min": 10, "break_min": 60, "half_day_below_min": 240,
        "overtime_after_min": 480,
    });
    let shift_id = id_of(&post_json(client, format!("{base}/v1/shifts"), Some(admin), &shift).await?)?;
    let from = (Utc::now() - chrono::Duration::days(i64::from(history_days) + 1)).date_naive();
    let assignment = json!({"shift_id": shift_id, "site_id": site_id, "from": from.to_string(), "to": null});
    post_json(client, format!("{base}/v1/shift-assignments"), Some(admin), &assignment).await?;
    let holiday = json!({"date": (from + chrono::Days::new(u64::from(history_days / 2))).to_string(), "name": "Load day", "site_id": null});
    post_json(client, format!("{base}/v1/holidays"), Some(admin), &holiday).await?;
    Ok(())
}

/// A site with its fence; returns the site id.
async fn fenced_site(client: &reqwest::Client, base: &str, admin: &str) -> anyhow::Result<String> {
    let site = json!({"name": "HQ", "timezone": "Asia/Kolkata"});
    let site_id = id_of(&post_json(client, format!("{base}/v1/sites"), Some(admin), &site).await?)?;
    let square = json!({"type": "Polygon", "coordinates": [[[77.585, 12.965], [77.595, 12.965], [77.595, 12.975], [77.585, 12.975], [77.585, 12.965]]]});
    let fence = json!({"site_id": site_id, "name": "Campus", "geometry": square});
    post_json(client, format!("{base}/v1/geofences"), Some(admin), &fence).await?;
    Ok(site_id)
}

fn user_body(email: &str, code: &str, role: &str, manager_id: Option<&str>, site_id: &str) -> Value {
    json!({
        "email": email, "name": code, "employee_code": code, "manager_id": manager_id,
        "roles": [role], "site_ids": [site_id], "password": PASSWORD,
    })
}

/// Creates `count` employees of `manager_id` concurrently; returns their emails in order.
async fn employees(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    manager_id: &str,
    site_id: &str,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    stream::iter(0..count)
        .map(|i| async move {
            let email = format!("employee{i}@load.example");
            let body = user_body(&email, &format!("E{i:06}"), "employee", Some(manager_id), site_id);
            post_json(client, format!("{base}/v1/users"), Some(admin), &body).await?;
            Ok::<_, anyhow::Error>(email)
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await
}

/// Logs every employee in concurrently: one phone each.
async fn phones(client: &reqwest::Client, base: &str, emails: Vec<String>) -> anyhow::Result<Vec<Phone>> {
    stream::iter(emails.into_iter().enumerate())
        .map(|(i, email)| async move {
            let token = login(client, base, &email, PASSWORD).await?;
            Ok::<_, anyhow::Error>(Phone {
                email,
                token,
                device_id: format!("load-device-{i}"),
            })
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await
}

/// The organisation: a fenced site, a manager and `users` logged-in employees, each with
/// `history_days` days of attendance behind them (and then a shift and a holiday at the site).
pub async fn build_world(
    client: reqwest::Client,
    base: String,
    users: usize,
    history_days: u32,
    photo: Vec<u8>,
) -> anyhow::Result<(World, SetupTimes)> {
    let admin = login(&client, &base, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    let site_id = fenced_site(&client, &base, &admin).await?;
    if history_days > 0 {
        site_shift(&client, &base, &admin, &site_id, history_days).await?;
    }
    let started = Instant::now();
    let manager_email = "manager@load.example";
    let body = user_body(manager_email, "M000001", "manager", None, &site_id);
    let manager_id = id_of(&post_json(&client, format!("{base}/v1/users"), Some(&admin), &body).await?)?;
    let emails = employees(&client, &base, &admin, &manager_id, &site_id, users).await?;
    let users_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let manager = login(&client, &base, manager_email, PASSWORD).await?;
    let phones = phones(&client, &base, emails).await?;
    let logins_s = started.elapsed().as_secs_f64();
    let world = World {
        client,
        base,
        phones,
        manager,
        photo,
    };
    let started = Instant::now();
    let history_events = stream::iter(&world.phones)
        .map(|phone| world.history(phone, history_days))
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_fold(0, |total, stored| async move { Ok(total + stored) })
        .await?;
    let times = SetupTimes {
        users_s,
        logins_s,
        history_events,
        history_s: started.elapsed().as_secs_f64(),
    };
    Ok((world, times))
}

/// A 320×240 JPEG with enough texture to compress like a small photo, made once.
pub fn selfie_jpeg() -> anyhow::Result<Vec<u8>> {
    let img = image::RgbImage::from_fn(320, 240, |x, y| {
        let texture = ((x * 7 + y * 13) ^ (x * y)) as u8;
        image::Rgb([texture, (x / 2) as u8, (y / 2) as u8 ^ texture])
    });
    let mut jpeg = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)?;
    Ok(jpeg)
}

/// The `seq`-th fix of a phone: nine in ten inside the fence, scattered by ~100 m as GPS
/// fixes are, and check-in / check-out alternating.
fn event_body(phone: &Phone, seq: u64, captured_at: DateTime<Utc>) -> Value {
    let (lat, lon) = if seq % 10 == 9 { OUTSIDE } else { INSIDE };
    let kind = if seq.is_multiple_of(2) { "check_in" } else { "check_out" };
    json!({
        "client_event_id": uuid::Uuid::now_v7(),
        "kind": kind,
        "captured_at": captured_at.to_rfc3339(),
        "location": {
            "lat": lat + rand::random_range(-0.001..0.001),
            "lon": lon + rand::random_range(-0.001..0.001),
            "accuracy_m": rand::random_range(5.0_f64..30.0), "provider": "gps", "is_mock": false,
        },
        "device": {"id": phone.device_id, "model": "Pixel 8", "os": "android", "os_version": "15", "app_version": "3.2.1"},
    })
}

/// An online event: the fix was taken up to two seconds before it is sent.
fn online_event(phone: &Phone, seq: u64) -> Value {
    let taken = TimeDelta::milliseconds(rand::random_range(0..2000));
    event_body(phone, seq, Utc::now() - taken)
}

/// Reads the answer whole (so the connection is reused) and judges its body by `judge`
/// when the status is the expected one.
async fn finish(
    sent: Result<reqwest::Response, reqwest::Error>,
    expected: StatusCode,
    judge: impl FnOnce(&[u8]) -> Outcome,
) -> Outcome {
    let res = match sent {
        Ok(res) => res,
        Err(e) => return Outcome::transport(&e),
    };
    let status = res.status();
    match res.bytes().await {
        Ok(body) if status == expected => judge(&body),
        Ok(_) => Outcome::status(status),
        Err(e) => Outcome::transport(&e),
    }
}

impl World {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn login(&self, phone: &Phone) -> Outcome {
        let body = json!({"email": phone.email, "password": PASSWORD});
        let sent = self.client.post(self.url("/v1/auth/login")).json(&body).send().await;
        finish(sent, StatusCode::OK, one).await
    }

    pub async fn check_in(&self, phone: &Phone, seq: u64) -> Outcome {
        let sent = self
            .client
            .post(self.url("/v1/attendance/events"))
            .bearer_auth(&phone.token)
            .json(&online_event(phone, seq))
            .send()
            .await;
        finish(sent, StatusCode::CREATED, one).await
    }

    /// A check-in as the app sends it with a selfie: one multipart form, event then photo.
    pub async fn check_in_with_photo(&self, phone: &Phone, seq: u64) -> Outcome {
        let event = reqwest::multipart::Part::text(online_event(phone, seq).to_string())
            .mime_str("application/json")
            .expect("a valid media type");
        let photo = reqwest::multipart::Part::bytes(self.photo.clone())
            .file_name("selfie.jpg")
            .mime_str("image/jpeg")
            .expect("a valid media type");
        let form = reqwest::multipart::Form::new()
            .part("event", event)
            .part("photo", photo);
        let sent = self
            .client
            .post(self.url("/v1/attendance/events"))
            .bearer_auth(&phone.token)
            .multipart(form)
            .send()
            .await;
        finish(sent, StatusCode::CREATED, one).await
    }

    /// A phone's offline queue: `size` fixes ten minutes apart, the newest ten minutes old.
    pub async fn batch(&self, phone: &Phone, seq: u64, size: usize) -> Outcome {
        let now = Utc::now();
        let events: Vec<Value> = (0..size as u64)
            .map(|j| {
                let captured_at = now - TimeDelta::minutes(10 * (size as u64 - j) as i64);
                event_body(phone, seq * size as u64 + j, captured_at)
            })
            .collect();
        self.post_batch(phone, events).await
    }

    /// A phone's attendance on each of the `days` days before yesterday (a check-in at 09:00
    /// and a check-out at 18:00, India time), sent as offline batches, so that the phases
    /// run against an organisation with a past as a deployed one has, not an empty table.
    pub async fn history(&self, phone: &Phone, days: u32) -> anyhow::Result<u64> {
        let today = Utc::now().date_naive();
        let events: Vec<Value> = (2..days + 2)
            .rev()
            .flat_map(|back| {
                let day = today - TimeDelta::days(i64::from(back));
                [(3, 30), (12, 30)].map(|(h, m)| day.and_hms_opt(h, m, 0).expect("a valid time").and_utc())
            })
            .enumerate()
            .map(|(seq, captured_at)| event_body(phone, seq as u64, captured_at))
            .collect();
        let mut stored = 0;
        for chunk in events.chunks(HISTORY_BATCH) {
            match self.post_batch(phone, chunk.to_vec()).await {
                Outcome::Ok { items } => stored += items,
                Outcome::Failed(why) => bail!("seeding {}'s history failed: {why}", phone.email),
            }
        }
        Ok(stored)
    }

    async fn post_batch(&self, phone: &Phone, events: Vec<Value>) -> Outcome {
        let sent = self
            .client
            .post(self.url("/v1/attendance/events:batch"))
            .bearer_auth(&phone.token)
            .json(&json!({ "events": events }))
            .send()
            .await;
        finish(sent, StatusCode::OK, stored_items).await
    }

    /// The manager's team report over the days the phases wrote (local dates of the site).
    pub async fn report(&self) -> Outcome {
        let today = Utc::now().date_naive();
        self.team_report(today - TimeDelta::days(1), today + TimeDelta::days(1))
            .await
    }

    /// The manager's team report over the `days` days [`World::history`] seeded.
    pub async fn history_report(&self, days: u32) -> Outcome {
        let today = Utc::now().date_naive();
        self.team_report(today - TimeDelta::days(i64::from(days) + 1), today - TimeDelta::days(2))
            .await
    }

    async fn team_report(&self, from: NaiveDate, to: NaiveDate) -> Outcome {
        let sent = self
            .client
            .get(self.url(&format!("/v1/reports/attendance?from={from}&to={to}&scope=team")))
            .bearer_auth(&self.manager)
            .send()
            .await;
        finish(sent, StatusCode::OK, report_rows).await
    }
}

#[derive(Deserialize)]
struct BatchAnswer {
    results: Vec<BatchItem>,
}

#[derive(Deserialize)]
struct BatchItem {
    status_code: u16,
}

/// One item: an event stored, a token issued.
fn one(_: &[u8]) -> Outcome {
    Outcome::Ok { items: 1 }
}

/// A batch is a success when every item was stored (201); else it counts as failed under
/// the first other status of an item.
fn stored_items(body: &[u8]) -> Outcome {
    let Ok(answer) = serde_json::from_slice::<BatchAnswer>(body) else {
        return Outcome::Failed("unreadable batch answer".into());
    };
    match answer.results.iter().find(|r| r.status_code != 201) {
        None => Outcome::Ok {
            items: answer.results.len() as u64,
        },
        Some(item) => Outcome::Failed(format!("item {}", item.status_code)),
    }
}

#[derive(Deserialize)]
struct ReportAnswer {
    items: Vec<serde::de::IgnoredAny>,
}

/// A report counts its rows (one per employee and local day).
fn report_rows(body: &[u8]) -> Outcome {
    match serde_json::from_slice::<ReportAnswer>(body) {
        Ok(answer) => Outcome::Ok {
            items: answer.items.len() as u64,
        },
        Err(_) => Outcome::Failed("unreadable report".into()),
    }
}

/// The client every phase shares: a connection per concurrent request, kept alive.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?)
}
