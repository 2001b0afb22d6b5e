//! Crash safety: the real server is killed with SIGKILL, round after round, while
//! employees check in concurrently (as JSON, as multipart with a photo, and by naming a
//! photo uploaded first), and restarted each time on the same database and photo
//! directory. Afterwards, and after the orphan sweep has removed what the kills left
//! behind, every check-in the server acknowledged is there as answered, no check-in is
//! stored twice, and every stored event's photo is whole and on disk.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::future::join_all;
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::common::process::{Installation, Server};
use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, PASSWORD, TestApp, new_user};
use crate::photos::{jpeg_with_exif_of_width, stored_photos};

const EMPLOYEES: usize = 8;

/// When each round's kill comes, in milliseconds after the round's first acknowledged
/// check-in: spread out, so that kills land in every phase of some request (reading a
/// photo, storing it, committing the event, answering).
const KILL_AFTER_MS: [u64; 6] = [150, 420, 260, 590, 330, 480];

/// Rate limits would refuse this load from one address; they are not under test here.
const SERVER_ENV: &[(&str, &str)] = &[
    ("MUSTER_RATE_LIMIT_PER_IP_PER_S", "0"),
    ("MUSTER_RATE_LIMIT_PER_USER_PER_S", "0"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_check_ins_and_their_photos_survive_sigkill_on_sqlite() {
    survives_sigkill(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_check_ins_and_their_photos_survive_sigkill_on_postgres() {
    survives_sigkill(Backend::Postgres).await;
}

async fn survives_sigkill(backend: Backend) {
    let Some(installation) = Installation::new(backend).await else {
        return;
    };
    // Follows redirects, as a phone fetching a photo from a signed URL would.
    let client = Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let mut server = Server::start(&installation, SERVER_ENV).await;
    let mut phones = enlist(&client, &server).await;

    for kill_after in KILL_AFTER_MS {
        let load = Arc::new(Notify::new());
        let working: Vec<_> = phones
            .into_iter()
            .map(|phone| tokio::spawn(phone.work(client.clone(), server.url(""), Arc::clone(&load))))
            .collect();
        tokio::time::timeout(Duration::from_secs(30), load.notified())
            .await
            .expect("no check-in was acknowledged within 30 s");
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        server.kill();
        // Each phone stops at its first request the dead server does not answer.
        phones = join_all(working).await.into_iter().map(Result::unwrap).collect();
        server = Server::start(&installation, SERVER_ENV).await;
    }
    join_all(phones.iter_mut().map(|phone| phone.resend_unanswered(&client, &server))).await;
    let server = sweep_orphans(&installation, server).await;

    let on_disk: HashSet<String> = stored_photos(&installation.photo_dir())
        .iter()
        .map(|file| sha256(file))
        .collect();
    join_all(phones.iter().map(|phone| phone.verify(&client, &server, &on_disk))).await;

    let acknowledged: usize = phones.iter().map(|phone| phone.acknowledged.len()).sum();
    let cut: usize = phones.iter().map(|phone| phone.tally.cut).sum();
    let resent: usize = phones.iter().map(|phone| phone.tally.resent).sum();
    let replayed: usize = phones.iter().map(|phone| phone.tally.replayed).sum();
    eprintln!(
        "{backend:?}: {acknowledged} check-ins acknowledged across {} kills; {cut} requests cut \
         short; {resent} check-ins resent, {replayed} of them already stored",
        KILL_AFTER_MS.len(),
    );
    assert!(cut > 0, "no kill caught a request in flight: the test proved nothing");
    let logs = installation.logs();
    assert!(!logs.contains("panicked"), "the server panicked:\n{logs}");
}

/// Stops the server and runs the orphan sweep (`muster purge`) over what the kills left,
/// with no grace period: nothing is in flight, so every unnamed photo and temp file goes.
/// The photos checked afterwards prove it kept everything an event names.
async fn sweep_orphans<'a>(installation: &'a Installation, mut server: Server<'a>) -> Server<'a> {
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(30)).await.success());
    let out = installation
        .command()
        .arg("purge")
        .env("MUSTER_PHOTO_ORPHAN_GRACE_S", "0")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim());
    let mut dirs = vec![installation.photo_dir()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(!name.starts_with(".tmp-"), "{name} was left in {}", dir.display());
            if entry.file_type().unwrap().is_dir() {
                dirs.push(entry.path());
            }
        }
    }
    Server::start(installation, SERVER_ENV).await
}

/// Logs the admin in and creates and logs in the employees, one phone each.
async fn enlist(client: &Client, server: &Server<'_>) -> Vec<Phone> {
    let admin = login(client, server, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    join_all((0..EMPLOYEES).map(|index| {
        let admin = &admin;
        async move {
            let email = format!("employee{index}@example.com");
            let user = new_user(&email, &["employee"], None);
            answered(client.post(server.url("/v1/users")).bearer_auth(admin).json(&user), 201).await;
            Phone::new(index, login(client, server, &email, PASSWORD).await)
        }
    }))
    .await
}

async fn login(client: &Client, server: &Server<'_>, email: &str, password: &str) -> String {
    let credentials = json!({ "email": email, "password": password });
    let tokens = answered(client.post(server.url("/v1/auth/login")).json(&credentials), 200).await;
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// The JSON body of a request that must answer `status`.
async fn answered(request: RequestBuilder, status: u16) -> Value {
    TestApp::answer(request.send().await.unwrap()).await.expect(status)
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One employee's phone: it keeps every check-in until the server acknowledges it, and
/// sends an unanswered one again, with the same `client_event_id`, once the server is back.
struct Phone {
    index: usize,
    token: String,
    /// By `client_event_id`; in the end, every check-in the phone made.
    acknowledged: HashMap<String, Acknowledged>,
    /// The check-in whose answer the last kill swallowed.
    unanswered: Option<CheckIn>,
    tally: Tally,
}

/// A check-in as the phone keeps it: sent again exactly as it was first sent.
struct CheckIn {
    body: Value,
    photo: Photo,
    /// How often the event was sent: from the second time on, it may have been stored
    /// before the kill that swallowed the answer.
    sends: usize,
}

/// How a check-in brings its photo.
enum Photo {
    Absent,
    /// As the `photo` part of a multipart form.
    Part(Vec<u8>),
    /// Uploaded first, then named by `photo_id` (once `uploaded`).
    Uploaded {
        image: Vec<u8>,
        uploaded: bool,
    },
}

impl Photo {
    fn image(&self) -> Option<&[u8]> {
        match self {
            Photo::Absent => None,
            Photo::Part(image) | Photo::Uploaded { image, .. } => Some(image),
        }
    }
}

struct Acknowledged {
    event_id: Value,
    photo: Photo,
}

/// What a phone saw, to show that the kills hit requests and that resending was tried.
#[derive(Default)]
struct Tally {
    /// Requests the kill cut short (not refused: those never reached a server).
    cut: usize,
    /// Check-ins sent again after their answer was lost.
    resent: usize,
    /// Of those, the ones the server had stored before it died (answered 200).
    replayed: usize,
}

/// The server died before its answer arrived whole.
struct Lost {
    mid_request: bool,
}

impl From<reqwest::Error> for Lost {
    fn from(e: reqwest::Error) -> Lost {
        Lost {
            mid_request: !e.is_connect(),
        }
    }
}

impl Phone {
    fn new(index: usize, token: String) -> Phone {
        Phone {
            index,
            token,
            acknowledged: HashMap::new(),
            unanswered: None,
            tally: Tally::default(),
        }
    }

    /// Checks in, again and again, until a request goes unanswered.
    async fn work(mut self, client: Client, base: String, load: Arc<Notify>) -> Phone {
        loop {
            let mut check_in = self.unanswered.take().unwrap_or_else(|| self.new_check_in());
            match check_in.send(&client, &base, &self.token).await {
                Ok((status, event)) => {
                    self.acknowledge(check_in, status, event);
                    load.notify_one();
                }
                Err(lost) => {
                    self.tally.cut += usize::from(lost.mid_request);
                    self.unanswered = Some(check_in);
                    return self;
                }
            }
        }
    }

    /// A fresh check-in: each phone cycles through the three ways to send a photo, each
    /// phone starting at another one.
    fn new_check_in(&mut self) -> CheckIn {
        // A new check-in is made only once the previous one is acknowledged.
        let n = self.acknowledged.len();
        let body = json!({
            "client_event_id": Uuid::now_v7(),
            "kind": if n.is_multiple_of(2) { "check_in" } else { "check_out" },
            "captured_at": Utc::now().to_rfc3339(),
            "location": {"lat": 12.97, "lon": 77.59, "accuracy_m": 10.0, "provider": "gps", "is_mock": false},
        });
        // Each check-in's photo differs from the phone's others, so it can be recognised.
        let image = || jpeg_with_exif_of_width(8 + n as u32);
        let photo = match (self.index + n) % 3 {
            0 => Photo::Absent,
            1 => Photo::Part(image()),
            _ => Photo::Uploaded {
                image: image(),
                uploaded: false,
            },
        };
        CheckIn { body, photo, sends: 0 }
    }

    fn acknowledge(&mut self, check_in: CheckIn, status: StatusCode, event: Value) {
        assert_eq!(event["client_event_id"], check_in.body["client_event_id"], "{event}");
        if check_in.sends > 1 {
            self.tally.resent += 1;
            self.tally.replayed += usize::from(status == StatusCode::OK);
        }
        let client_event_id = event["client_event_id"].as_str().unwrap().to_owned();
        let acknowledged = Acknowledged {
            event_id: event["id"].clone(),
            photo: check_in.photo,
        };
        self.acknowledged.insert(client_event_id, acknowledged);
    }

    /// Sends the check-in left unanswered by the last kill, to a server that stays up.
    async fn resend_unanswered(&mut self, client: &Client, server: &Server<'_>) {
        if let Some(mut check_in) = self.unanswered.take() {
            let Ok((status, event)) = check_in.send(client, &server.url(""), &self.token).await else {
                panic!("a running server did not answer");
            };
            self.acknowledge(check_in, status, event);
        }
    }

    /// Compares what the server holds for this employee with what it acknowledged: the
    /// same events, each once, with the photos that were sent, whole and on disk.
    async fn verify(&self, client: &Client, server: &Server<'_>, on_disk: &HashSet<String>) {
        let mut missing: HashSet<&str> = self.acknowledged.keys().map(String::as_str).collect();
        for event in self.all_events(client, server).await {
            let client_event_id = event["client_event_id"].as_str().unwrap();
            let Some(acknowledged) = self.acknowledged.get(client_event_id) else {
                panic!("stored but never acknowledged: {event}");
            };
            assert!(missing.remove(client_event_id), "stored twice: {event}");
            assert_eq!(
                event["id"], acknowledged.event_id,
                "not the event acknowledged: {event}"
            );
            let path = format!("/v1/attendance/events/{}", event["id"].as_str().unwrap());
            let alone = TestApp::answer(self.get(client, server, &path).await).await.expect(200);
            assert_eq!(alone, event, "read alone, the event differs from the listed one");

            let sent = acknowledged.photo.image();
            assert_eq!(event["photo_url"].is_string(), sent.is_some(), "{event}");
            let (Some(sent), Some(photo_url)) = (sent, event["photo_url"].as_str()) else {
                continue;
            };
            let photo = self.get(client, server, photo_url).await;
            assert_eq!(photo.status(), 200, "the photo of {event} is gone");
            let bytes = photo.bytes().await.unwrap().to_vec();
            let shown =
                image::load_from_memory(&bytes).unwrap_or_else(|e| panic!("the photo of {event} is not whole: {e}"));
            let width = image::load_from_memory(sent).unwrap().width();
            assert_eq!(shown.width(), width, "{event} shows another photo than was sent");
            assert!(
                on_disk.contains(&sha256(&bytes)),
                "the photo of {event} is not a file in the photo directory"
            );
        }
        assert!(missing.is_empty(), "acknowledged check-ins are gone: {missing:?}");
    }

    /// All of this employee's events, page by page.
    async fn all_events(&self, client: &Client, server: &Server<'_>) -> Vec<Value> {
        let mut events = Vec::new();
        let mut cursor = String::new();
        loop {
            let path = format!("/v1/attendance/events?limit=200{cursor}");
            let page = TestApp::answer(self.get(client, server, &path).await).await.expect(200);
            events.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => return events,
            }
        }
    }

    async fn get(&self, client: &Client, server: &Server<'_>, path: &str) -> Response {
        client
            .get(server.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }
}

impl CheckIn {
    /// Sends the check-in to the server at `base`, uploading its photo first if that is
    /// still to do: the status and event answered, or `Lost`.
    async fn send(&mut self, client: &Client, base: &str, token: &str) -> Result<(StatusCode, Value), Lost> {
        if let Photo::Uploaded { image, uploaded } = &mut self.photo
            && !*uploaded
        {
            let upload = client
                .post(format!("{base}/v1/photos"))
                .bearer_auth(token)
                .header("content-type", "image/jpeg")
                .body(image.clone());
            let (_, photo) = answer(upload.send().await, &[201]).await?;
            self.body["photo_id"] = photo["photo_id"].clone();
            *uploaded = true;
        }
        let request = client.post(format!("{base}/v1/attendance/events")).bearer_auth(token);
        let request = match &self.photo {
            Photo::Part(image) => request.multipart(form(&self.body, image)),
            Photo::Absent | Photo::Uploaded { .. } => request.json(&self.body),
        };
        self.sends += 1;
        // A fresh client_event_id is always new; a resent one may have been stored.
        let expected: &[u16] = if self.sends > 1 { &[201, 200] } else { &[201] };
        answer(request.send().await, expected).await
    }
}

/// A multipart check-in: the event part, then the photo part.
fn form(event: &Value, image: &[u8]) -> reqwest::multipart::Form {
    let event = reqwest::multipart::Part::text(event.to_string())
        .mime_str("application/json")
        .unwrap();
    let photo = reqwest::multipart::Part::bytes(image.to_vec())
        .file_name("selfie.jpg")
        .mime_str("image/jpeg")
        .unwrap();
    reqwest::multipart::Form::new()
        .part("event", event)
        .part("photo", photo)
}

/// An answer that arrived whole must have one of the `expected` statuses: a crash may
/// lose an answer, never turn it into an error (409, 422, 500).
async fn answer(sent: reqwest::Result<Response>, expected: &[u16]) -> Result<(StatusCode, Value), Lost> {
    let response = sent?;
    let status = response.status();
    let text = response.text().await?;
    assert!(
        expected.contains(&status.as_u16()),
        "answered {status} where {expected:?} was expected: {text}"
    );
    Ok((status, serde_json::from_str(&text).unwrap()))
}
