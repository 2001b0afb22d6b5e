//! The photo store and ingestion, end to end.
//!
//! One behaviour suite (`behaviour`) runs against the local store and against the S3
//! store talking to a real (in-process) S3 server, which also proves the S3 store
//! copes with what a real S3 does: wrong secrets, presigned URLs that are tampered
//! with or expired. The ingestion tests craft hostile files by hand (pixel floods,
//! polyglots, EXIF with GPS in every container) and check no byte of what must go
//! survives.

#[path = "common/s3.rs"]
mod test_s3;

use std::convert::Infallible;
use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use muster::photos::{
    self, CleanPhoto, IngestError, IngestLimits, ListedPhoto, PendingPhoto, PhotoKey, PhotoStore, S3Options, StoreError,
};
use proptest::prelude::*;
use test_s3::TestS3;
use uuid::Uuid;

// ---------------------------------------------------------------------------------
// Stores under test.

fn s3_options(s3: &TestS3) -> S3Options {
    S3Options {
        endpoint: Some(s3.endpoint.clone()),
        region: Some(s3.region.clone()),
        access_key_id: Some(s3.access_key.clone()),
        secret_access_key: Some(s3.secret_key.clone()),
        ..S3Options::default()
    }
}

async fn s3_store(s3: &TestS3, prefix: Option<&str>) -> Arc<dyn PhotoStore> {
    photos::open(&s3.store_url(prefix), &s3_options(s3))
        .await
        .expect("open the S3 store")
}

async fn file_store(dir: &std::path::Path) -> Arc<dyn PhotoStore> {
    let url = format!("file://{}", dir.join("photos").display());
    photos::open(&url, &S3Options::default())
        .await
        .expect("open the file store")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("http client")
}

// ---------------------------------------------------------------------------------
// The behaviour suite: what every store must do.

async fn behaviour(store: Arc<dyn PhotoStore>) {
    store.health().await.expect("healthy");
    let org = Uuid::new_v4();
    let key = PhotoKey::new(org);
    assert!(key.as_str().starts_with(&format!("{org}/")));

    // Missing keys are values, not errors; deleting one is fine.
    assert!(store.get(&key).await.unwrap().is_none());
    assert_eq!(store.head(&key).await.unwrap(), None);
    store.delete(&key).await.expect("delete of a missing key");

    // Round trip, including binary integrity of a larger body (no checksum framing
    // or chunk encoding may leak into the stored bytes).
    let photo = clean_jpeg();
    store.put(&key, photo.bytes.clone(), photo.content_type).await.unwrap();
    assert_eq!(store.head(&key).await.unwrap(), Some(photo.bytes.len() as u64));
    let got = store.get(&key).await.unwrap().expect("stored");
    assert_eq!(got.bytes, photo.bytes);
    assert_eq!(got.content_type, "image/jpeg");

    // The same object through a key read back from the database.
    let again = PhotoKey::from_stored(key.as_str().to_owned()).unwrap();
    assert_eq!(store.head(&again).await.unwrap(), Some(photo.bytes.len() as u64));

    // Overwrite replaces bytes and type.
    let big: Bytes = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect::<Vec<u8>>()
        .into();
    store.put(&key, big.clone(), "image/png").await.unwrap();
    let got = store.get(&key).await.unwrap().unwrap();
    assert_eq!(got.bytes, big);
    assert_eq!(got.content_type, "image/png");

    // Another organisation's key is another object; an empty object is an object.
    let other = PhotoKey::new(Uuid::new_v4());
    store
        .put(&other, Bytes::new(), "application/octet-stream")
        .await
        .unwrap();
    assert_eq!(store.head(&other).await.unwrap(), Some(0));

    // Delete is idempotent and only touches its key.
    store.delete(&key).await.unwrap();
    assert!(store.get(&key).await.unwrap().is_none());
    assert_eq!(store.head(&key).await.unwrap(), None);
    store.delete(&key).await.unwrap();
    assert_eq!(store.head(&other).await.unwrap(), Some(0));
    store.delete(&other).await.unwrap();

    // A content type that could smuggle a header is refused before any I/O.
    let err = store
        .put(&key, Bytes::from_static(b"x"), "image/jpeg\r\nx-amz-acl: public-read")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidContentType), "{err:?}");
    assert_eq!(store.head(&key).await.unwrap(), None);

    pending_guard(store.clone()).await;
    listing(store).await;
}

/// Everything `store.list` reports, page by page; also how many pages it took.
async fn list_all(store: &dyn PhotoStore, older_than: DateTime<Utc>, page_size: u32) -> (Vec<ListedPhoto>, usize) {
    let mut listing = store.list(older_than, page_size);
    let (mut listed, mut pages) = (Vec::new(), 0);
    while let Some(page) = listing.next_page().await.unwrap() {
        listed.extend(page.photos);
        pages += 1;
    }
    listed.sort_by(|a, b| a.key.cmp(&b.key));
    (listed, pages)
}

/// Listing (for the orphan sweep): every photo once across pages, with when it was
/// written, and nothing written after the cutoff. Runs on an otherwise empty store.
async fn listing(store: Arc<dyn PhotoStore>) {
    let started = Utc::now() - chrono::Duration::seconds(2);
    let (org, other_org) = (Uuid::new_v4(), Uuid::new_v4());
    let mut keys = vec![PhotoKey::new(org), PhotoKey::new(org), PhotoKey::new(other_org)];
    for key in &keys {
        store.put(key, Bytes::from_static(b"jpeg"), "image/jpeg").await.unwrap();
    }
    keys.sort();
    let later = Utc::now() + chrono::Duration::seconds(2);

    let (listed, pages) = list_all(store.as_ref(), later, 2).await;
    assert_eq!(listed.iter().map(|p| p.key.clone()).collect::<Vec<_>>(), keys);
    assert!(pages >= 2, "{pages} page(s) of at most 2 entries for 3 photos");
    for photo in &listed {
        assert!(started <= photo.modified && photo.modified <= later, "{photo:?}");
    }
    let (none, _) = list_all(store.as_ref(), started, 2).await;
    assert!(
        none.is_empty(),
        "photos written after the cutoff are not listed: {none:?}"
    );

    for key in &keys {
        store.delete(key).await.unwrap();
    }
    assert!(list_all(store.as_ref(), later, 2).await.0.is_empty());
}

/// Ages a file as if it had been written `ago` in the past.
fn backdate(path: &std::path::Path, ago: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(std::time::SystemTime::now() - ago).unwrap();
}

/// The drop guard: uncommitted photos disappear, committed ones stay.
async fn pending_guard(store: Arc<dyn PhotoStore>) {
    let org = Uuid::new_v4();
    let photo = clean_jpeg();

    // Dropped without commit (the database step failed): deleted in the background.
    let pending = PendingPhoto::store(store.clone(), org, &photo).await.unwrap();
    let key = pending.key().clone();
    assert_eq!(key.org_id(), org);
    assert!(store.head(&key).await.unwrap().is_some());
    drop(pending);
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.head(&key).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "uncommitted photo was not removed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Committed: it stays.
    let pending = PendingPhoto::store(store.clone(), org, &photo).await.unwrap();
    let committed = pending.commit();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let got = store.get(&committed).await.unwrap().expect("committed photo kept");
    assert_eq!(got.bytes, photo.bytes);
    store.delete(&committed).await.unwrap();

    // Discarded explicitly: gone when the call returns.
    let pending = PendingPhoto::store(store.clone(), org, &photo).await.unwrap();
    let key = pending.key().clone();
    pending.discard().await.unwrap();
    assert_eq!(store.head(&key).await.unwrap(), None);
}

#[tokio::test]
async fn file_store_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path()).await;
    assert_eq!(store.kind(), "file");
    behaviour(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store_behaviour() {
    let s3 = TestS3::start().await;
    let store = s3_store(&s3, None).await;
    assert_eq!(store.kind(), "s3");
    behaviour(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store_behaviour_under_a_prefix() {
    let s3 = TestS3::start().await;
    let store = s3_store(&s3, Some("tenant-a/photos/")).await;
    behaviour(store.clone()).await;

    let key = PhotoKey::new(Uuid::new_v4());
    store.put(&key, Bytes::from_static(b"abc"), "image/jpeg").await.unwrap();
    let on_disk = s3.object_path(&format!("tenant-a/photos/{key}"));
    assert_eq!(std::fs::read(&on_disk).unwrap(), b"abc");

    // Only our own keys under the prefix are listed: not an object outside it, nor
    // something else put under it.
    let outside = PhotoKey::new(Uuid::new_v4());
    let unprefixed = s3_store(&s3, None).await;
    unprefixed
        .put(&outside, Bytes::from_static(b"x"), "image/jpeg")
        .await
        .unwrap();
    std::fs::write(s3.object_path("tenant-a/photos/notes.txt"), b"not a photo").unwrap();
    let later = Utc::now() + chrono::Duration::seconds(2);
    let (listed, _) = list_all(store.as_ref(), later, 1000).await;
    assert_eq!(listed.iter().map(|p| &p.key).collect::<Vec<_>>(), [&key]);
    // The time is the object's: an object written long ago is listed as such.
    backdate(&on_disk, Duration::from_secs(7200));
    let (old, _) = list_all(store.as_ref(), Utc::now() - chrono::Duration::hours(1), 1000).await;
    assert_eq!(old.iter().map(|p| &p.key).collect::<Vec<_>>(), [&key]);
}

/// The local store lists its files as photos and removes what interrupted writes left.
#[tokio::test]
async fn file_store_listing_finds_lone_sidecars_and_removes_old_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path()).await;
    let root = dir.path().join("photos");
    let hour = Duration::from_secs(3600);
    let two_hours = Duration::from_secs(7200);

    let old = PhotoKey::new(Uuid::new_v4());
    let fresh = PhotoKey::new(old.org_id());
    for key in [&old, &fresh] {
        store.put(key, Bytes::from_static(b"jpeg"), "image/jpeg").await.unwrap();
    }
    let org_dir = root.join(old.org_id().to_string());
    backdate(&org_dir.join(old.id().to_string()), two_hours);
    // A sidecar whose data file a crash never wrote (or already removed).
    let lone = PhotoKey::new(old.org_id());
    let lone_sidecar = org_dir.join(format!("{}.type", lone.id()));
    std::fs::write(&lone_sidecar, "image/jpeg").unwrap();
    backdate(&lone_sidecar, two_hours);
    // Temp files of writes a crash interrupted, in an organisation's directory and (a
    // health probe's) in the root, and one of a write still going on.
    let (old_tmp, root_tmp, fresh_tmp) = (
        org_dir.join(".tmp-0b6e0c1e"),
        root.join(".tmp-health-5d1c"),
        org_dir.join(".tmp-9f3a"),
    );
    for file in [&old_tmp, &root_tmp, &fresh_tmp] {
        std::fs::write(file, b"partial").unwrap();
    }
    backdate(&old_tmp, two_hours);
    backdate(&root_tmp, two_hours);
    // Not the store's: left alone, whatever their age.
    let stranger = org_dir.join("notes.txt");
    std::fs::create_dir(root.join("lost+found")).unwrap();
    let stranger_in_root = root.join("lost+found/.tmp-x");
    for file in [&stranger, &stranger_in_root] {
        std::fs::write(file, b"mine").unwrap();
        backdate(file, two_hours);
    }

    let mut listing = store.list(Utc::now() - chrono::Duration::from_std(hour).unwrap(), 2);
    let (mut listed, mut leftovers) = (Vec::new(), 0);
    while let Some(page) = listing.next_page().await.unwrap() {
        listed.extend(page.photos.into_iter().map(|p| p.key));
        leftovers += page.leftovers_removed;
    }
    listed.sort();
    let mut expected = vec![old.clone(), lone.clone()];
    expected.sort();
    assert_eq!(
        listed, expected,
        "the old photo and the lone sidecar, not the fresh photo"
    );
    assert_eq!(leftovers, 2);
    assert!(!old_tmp.exists() && !root_tmp.exists(), "old temp files are removed");
    assert!(fresh_tmp.exists(), "a write in progress is not disturbed");
    assert!(stranger.exists() && stranger_in_root.exists());

    store.delete(&lone).await.unwrap();
    assert!(!lone_sidecar.exists(), "deleting the key removes a lone sidecar");
    assert!(store.get(&fresh).await.unwrap().is_some());
}

// ---------------------------------------------------------------------------------
// The local store's own promises.

#[cfg(unix)]
#[tokio::test]
async fn file_store_is_private_and_leaves_no_temp_files() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nested/muster-data/photos");
    let store = photos::open(&format!("file://{}", root.display()), &S3Options::default())
        .await
        .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o700);

    let key = PhotoKey::new(Uuid::new_v4());
    store
        .put(&key, Bytes::from_static(b"photo"), "image/webp")
        .await
        .unwrap();
    let org_dir = root.join(key.org_id().to_string());
    assert_eq!(mode(&org_dir), 0o700);
    assert_eq!(mode(&org_dir.join(key.id().to_string())), 0o600);
    let names: Vec<String> = std::fs::read_dir(&org_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");

    // An existing, too-open directory is narrowed.
    let open_dir = dir.path().join("open");
    std::fs::create_dir(&open_dir).unwrap();
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    photos::open(&format!("file://{}", open_dir.display()), &S3Options::default())
        .await
        .unwrap();
    assert_eq!(mode(&open_dir), 0o700);

    // No URLs to hand out: the server streams local photos itself.
    assert_eq!(store.signed_get_url(&key, Duration::from_secs(60)).await.unwrap(), None);
    assert!(
        store
            .presign_put(&key, "image/jpeg", 10, Duration::from_secs(60))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn bad_store_urls_are_clear_errors() {
    let none = S3Options::default();
    for url in [
        "",
        "photos",
        "ftp://host/dir",
        "file://",
        "s3://",
        "s3://Bad_Bucket/x",
        "s3://AKIA:secret@bucket/x",
        "s3://bucket/../escape",
    ] {
        let err = match photos::open(url, &none).await {
            Ok(_) => panic!("{url:?} was accepted"),
            Err(e) => e,
        };
        assert!(matches!(err, StoreError::NotConfigured(_)), "{url}: {err:?}");
        // The message never echoes the URL (it may hold credentials).
        assert!(!err.to_string().contains("secret"), "{err}");
    }
    let half = S3Options {
        endpoint: Some("http://127.0.0.1:9".into()),
        access_key_id: Some("only-the-id".into()),
        ..S3Options::default()
    };
    assert!(matches!(
        photos::open("s3://bucket", &half).await,
        Err(StoreError::NotConfigured(_))
    ));
    let bad_sse = S3Options {
        endpoint: Some("http://127.0.0.1:9".into()),
        server_side_encryption: Some("rot13".into()),
        ..S3Options::default()
    };
    assert!(matches!(
        photos::open("s3://bucket", &bad_sse).await,
        Err(StoreError::NotConfigured(_))
    ));
}

#[test]
fn s3_options_deserialise_and_redact() {
    #[derive(serde::Deserialize)]
    struct Settings {
        s3: S3Options,
    }
    let settings: Settings = serde_json::from_str(
        r#"{"s3": {"endpoint": "http://127.0.0.1:9000", "secret_access_key": "hunter2-secret", "server_side_encryption": "AES256"}}"#,
    )
    .unwrap();
    assert_eq!(settings.s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    assert_eq!(settings.s3.force_path_style, None);
    let debug = format!("{:?}", settings.s3);
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("[redacted]"), "{debug}");
}

// ---------------------------------------------------------------------------------
// What a real S3 does that the store must cope with.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_wrong_secret_is_a_store_error() {
    let s3 = TestS3::start().await;
    let good = s3_store(&s3, None).await;
    let key = PhotoKey::new(Uuid::new_v4());
    good.put(&key, Bytes::from_static(b"kept"), "image/jpeg").await.unwrap();

    let wrong = S3Options {
        secret_access_key: Some("not-the-secret-at-all".into()),
        ..s3_options(&s3)
    };
    let store = photos::open(&s3.store_url(None), &wrong).await.unwrap();
    let denied = |result: Result<(), StoreError>| match result {
        Err(e @ StoreError::Denied { .. }) => {
            assert!(!e.is_transient());
            let text = format!("{e} {:?}", std::error::Error::source(&e));
            assert!(!text.contains("not-the-secret-at-all"), "{text}");
        }
        other => panic!("expected Denied, got {other:?}"),
    };
    denied(store.health().await);
    denied(store.put(&key, Bytes::from_static(b"x"), "image/jpeg").await);
    // A denied read must not look like a missing photo.
    denied(store.get(&key).await.map(|_| ()));
    denied(store.head(&key).await.map(|_| ()));
    denied(store.delete(&key).await);
    // Nothing was changed by the rejected calls.
    assert_eq!(good.get(&key).await.unwrap().unwrap().bytes, &b"kept"[..]);

    // A bucket that does not exist fails the health check, as a non-transient error.
    let missing = photos::open("s3://no-such-bucket", &s3_options(&s3)).await.unwrap();
    let err = missing.health().await.unwrap_err();
    assert!(!err.is_transient(), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_unreachable_endpoint_is_unavailable() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = S3Options {
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: Some("us-east-1".into()),
        access_key_id: Some("id".into()),
        secret_access_key: Some("secret".into()),
        ..S3Options::default()
    };
    let store = photos::open("s3://muster-photos", &options).await.unwrap();
    let err = store.health().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

/// Flips the last character of a query parameter's value.
fn tamper(url: &str, param: &str) -> String {
    let start = url.find(&format!("{param}=")).expect("param present") + param.len() + 1;
    let end = url[start..].find('&').map_or(url.len(), |i| start + i);
    let mut value: Vec<char> = url[start..end].chars().collect();
    let last = value.last_mut().expect("non-empty value");
    *last = if *last == '0' { '1' } else { '0' };
    format!(
        "{}{}{}",
        &url[..start],
        value.into_iter().collect::<String>(),
        &url[end..]
    )
}

fn replace_param(url: &str, param: &str, new_value: &str) -> String {
    let start = url.find(&format!("{param}=")).expect("param present") + param.len() + 1;
    let end = url[start..].find('&').map_or(url.len(), |i| start + i);
    format!("{}{}{}", &url[..start], new_value, &url[end..])
}

async fn put_with(
    client: &reqwest::Client,
    url: &str,
    headers: &[(String, String)],
    body: Bytes,
) -> reqwest::StatusCode {
    let mut request = client.put(url).body(body);
    for (name, value) in headers {
        // reqwest derives Content-Length from the body: that is the value that counts.
        if name != "content-length" {
            request = request.header(name, value);
        }
    }
    request.send().await.expect("PUT sent").status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_presigned_put() {
    let s3 = TestS3::start().await;
    let store = s3_store(&s3, Some("uploads")).await;
    let client = http();
    let photo = clean_jpeg();
    let size = photo.bytes.len() as u64;
    let ttl = Duration::from_secs(120);

    let key = PhotoKey::new(Uuid::new_v4());
    let before = chrono::Utc::now();
    let signed = store
        .presign_put(&key, "image/jpeg", size, ttl)
        .await
        .unwrap()
        .expect("S3 presigns");
    assert!(signed.expires_at >= before + chrono::Duration::seconds(119));
    assert!(signed.expires_at <= chrono::Utc::now() + chrono::Duration::seconds(121));
    // Type and size are signed, so the phone cannot change them.
    let header = |name: &str| signed.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(header("content-type").as_deref(), Some("image/jpeg"));
    assert_eq!(header("content-length"), Some(size.to_string()));
    let signed_headers = signed
        .url
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("X-Amz-SignedHeaders="))
        .expect("signed headers");
    assert!(signed_headers.contains("content-length"), "{signed_headers}");
    assert!(signed_headers.contains("content-type"), "{signed_headers}");
    assert!(!format!("{signed:?}").contains("X-Amz-Signature"));

    // The wrong type, the wrong size, or any change to the URL: refused, nothing stored.
    let mut html_type = signed.headers.clone();
    for (name, value) in &mut html_type {
        if name == "content-type" {
            *value = "text/html".into();
        }
    }
    assert_eq!(
        put_with(&client, &signed.url, &html_type, photo.bytes.clone()).await,
        403
    );
    let mut bigger = photo.bytes.to_vec();
    bigger.extend_from_slice(&[0; 1000]);
    assert_eq!(
        put_with(&client, &signed.url, &signed.headers, bigger.into()).await,
        403
    );
    for url in [
        tamper(&signed.url, "X-Amz-Signature"),
        replace_param(&signed.url, "X-Amz-Expires", "604800"),
        replace_param(&signed.url, "X-Amz-Date", "20990101T000000Z"),
        signed
            .url
            .replace(key.id().to_string().as_str(), &Uuid::now_v7().to_string()),
    ] {
        let status = put_with(&client, &url, &signed.headers, photo.bytes.clone()).await;
        assert!(status == 403 || status == 400, "{status}");
    }
    assert_eq!(store.head(&key).await.unwrap(), None);

    // As signed: accepted and stored with the signed type.
    assert_eq!(
        put_with(&client, &signed.url, &signed.headers, photo.bytes.clone()).await,
        200
    );
    let got = store.get(&key).await.unwrap().expect("uploaded");
    assert_eq!(got.bytes, photo.bytes);
    assert_eq!(got.content_type, "image/jpeg");
    assert!(s3.object_path(&format!("uploads/{key}")).exists());

    // Expired: refused.
    let late_key = PhotoKey::new(Uuid::new_v4());
    let late = store
        .presign_put(&late_key, "image/jpeg", size, Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        put_with(&client, &late.url, &late.headers, photo.bytes.clone()).await,
        403
    );
    assert_eq!(store.head(&late_key).await.unwrap(), None);
}

#[tokio::test]
async fn aws_presigned_put_signs_type_length_and_encryption_only() {
    // Against AWS itself (no custom endpoint) the SDK keeps its default checksum mode;
    // a presigned PUT must still carry no checksum of an empty body, which would make
    // every real upload fail. Presigning is offline: no request is sent.
    let options = S3Options {
        region: Some("eu-west-1".into()),
        access_key_id: Some("AKIAEXAMPLEEXAMPLE".into()),
        secret_access_key: Some("example-secret".into()),
        server_side_encryption: Some("aws:kms".into()),
        sse_kms_key_id: Some("alias/muster-photos".into()),
        ..S3Options::default()
    };
    let store = photos::open("s3://muster-photos/prod", &options).await.unwrap();
    let key = PhotoKey::new(Uuid::new_v4());
    let signed = store
        .presign_put(&key, "image/webp", 1234, Duration::from_secs(300))
        .await
        .unwrap()
        .unwrap();
    assert!(
        signed
            .url
            .starts_with("https://muster-photos.s3.eu-west-1.amazonaws.com/prod/"),
        "virtual-hosted style on AWS"
    );
    assert!(!signed.url.to_ascii_lowercase().contains("checksum"));
    let mut names: Vec<&str> = signed.headers.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "content-length",
            "content-type",
            "x-amz-server-side-encryption",
            "x-amz-server-side-encryption-aws-kms-key-id"
        ]
    );
    assert!(!signed.url.contains("example-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_presigned_get() {
    let s3 = TestS3::start().await;
    let store = s3_store(&s3, None).await;
    let client = http();
    let photo = clean_jpeg();
    let key = PhotoKey::new(Uuid::new_v4());
    store.put(&key, photo.bytes.clone(), photo.content_type).await.unwrap();

    let url = store
        .signed_get_url(&key, Duration::from_secs(300))
        .await
        .unwrap()
        .expect("S3 signs GETs");
    let answer = client.get(&url).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.bytes().await.unwrap(), photo.bytes);

    for tampered in [
        tamper(&url, "X-Amz-Signature"),
        replace_param(&url, "X-Amz-Expires", "604800"),
        replace_param(
            &url,
            "X-Amz-Credential",
            "AKIAOTHER%2F20990101%2Fus-east-1%2Fs3%2Faws4_request",
        ),
        url.replace(key.id().to_string().as_str(), &Uuid::now_v7().to_string()),
    ] {
        let status = client.get(&tampered).send().await.unwrap().status();
        assert!(status == 403 || status == 400, "{status}");
    }

    let short = store
        .signed_get_url(&key, Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(client.get(&short).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(client.get(&short).send().await.unwrap().status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_direct_upload_is_finalised_clean() {
    let s3 = TestS3::start().await;
    let store = s3_store(&s3, None).await;
    let client = http();
    let org = Uuid::new_v4();
    let raw = jpeg_with_metadata(1);
    let upload_key = PhotoKey::new(org);
    let signed = store
        .presign_put(&upload_key, "image/jpeg", raw.len() as u64, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        put_with(&client, &signed.url, &signed.headers, raw.clone().into()).await,
        200
    );

    let (pending, clean) = photos::finalize_upload(store.clone(), &upload_key, &IngestLimits::default())
        .await
        .unwrap();
    let final_key = pending.commit();
    assert_ne!(final_key, upload_key);
    assert_eq!(final_key.org_id(), org);
    assert_eq!(store.head(&upload_key).await.unwrap(), None);
    let stored = store.get(&final_key).await.unwrap().unwrap();
    assert_eq!(stored.bytes, clean.bytes);
    assert_no_secrets(&stored.bytes);

    // An upload that is not an image is refused and removed.
    let bad_key = PhotoKey::new(org);
    store
        .put(&bad_key, Bytes::from_static(b"<html>hi</html>"), "image/jpeg")
        .await
        .unwrap();
    let err = photos::finalize_upload(store.clone(), &bad_key, &IngestLimits::default())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        photos::FinalizeError::Ingest(IngestError::Unsupported { detected: "html" })
    ));
    assert_eq!(store.head(&bad_key).await.unwrap(), None);
    assert!(matches!(
        photos::finalize_upload(store.clone(), &bad_key, &IngestLimits::default()).await,
        Err(photos::FinalizeError::Missing)
    ));
}

/// A versioned bucket, emulated: s3s-fs has no versioning. Every PUT adds a version,
/// a DELETE without a version id adds a delete marker (as S3 does), a DELETE with one
/// removes that version for good, and listings come one entry per page so the store's
/// pagination is exercised.
#[derive(Clone, Default)]
struct VersionedBucket {
    entries: Arc<std::sync::Mutex<Vec<VersionEntry>>>,
}

#[derive(Clone, Debug)]
struct VersionEntry {
    key: String,
    id: String,
    delete_marker: bool,
}

impl VersionedBucket {
    fn push(&self, key: &str, delete_marker: bool) -> String {
        let id = Uuid::new_v4().simple().to_string();
        self.entries.lock().unwrap().push(VersionEntry {
            key: key.to_owned(),
            id: id.clone(),
            delete_marker,
        });
        id
    }

    fn keys(&self) -> Vec<String> {
        self.entries.lock().unwrap().iter().map(|e| e.key.clone()).collect()
    }
}

#[async_trait::async_trait]
impl s3s::S3 for VersionedBucket {
    async fn put_object(
        &self,
        req: s3s::S3Request<s3s::dto::PutObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::PutObjectOutput>> {
        use futures_util::StreamExt;
        if let Some(mut body) = req.input.body {
            while let Some(chunk) = body.next().await {
                chunk.map_err(|_| s3s::s3_error!(IncompleteBody))?;
            }
        }
        let id = self.push(&req.input.key, false);
        Ok(s3s::S3Response::new(s3s::dto::PutObjectOutput {
            version_id: Some(id),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: s3s::S3Request<s3s::dto::DeleteObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::DeleteObjectOutput>> {
        match req.input.version_id {
            Some(id) => self
                .entries
                .lock()
                .unwrap()
                .retain(|e| !(e.key == req.input.key && e.id == id)),
            None => {
                self.push(&req.input.key, true);
            }
        }
        Ok(s3s::S3Response::new(s3s::dto::DeleteObjectOutput::default()))
    }

    async fn list_object_versions(
        &self,
        req: s3s::S3Request<s3s::dto::ListObjectVersionsInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::ListObjectVersionsOutput>> {
        let prefix = req.input.prefix.unwrap_or_default();
        let all: Vec<VersionEntry> = self
            .entries
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.key.starts_with(&prefix))
            .cloned()
            .collect();
        let start = match &req.input.version_id_marker {
            Some(marker) => all.iter().position(|e| &e.id == marker).map_or(0, |i| i + 1),
            None => 0,
        };
        let page: Vec<VersionEntry> = all.iter().skip(start).take(1).cloned().collect();
        let truncated = start + page.len() < all.len();
        let last = page.last().cloned();
        Ok(s3s::S3Response::new(s3s::dto::ListObjectVersionsOutput {
            versions: Some(
                page.iter()
                    .filter(|e| !e.delete_marker)
                    .map(|e| s3s::dto::ObjectVersion {
                        key: Some(e.key.clone()),
                        version_id: Some(e.id.clone()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            delete_markers: Some(
                page.iter()
                    .filter(|e| e.delete_marker)
                    .map(|e| s3s::dto::DeleteMarkerEntry {
                        key: Some(e.key.clone()),
                        version_id: Some(e.id.clone()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            is_truncated: Some(truncated),
            next_key_marker: last.as_ref().filter(|_| truncated).map(|e| e.key.clone()),
            next_version_id_marker: last.filter(|_| truncated).map(|e| e.id),
            ..Default::default()
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_delete_removes_every_version() {
    let bucket = VersionedBucket::default();
    let backend = bucket.clone();
    let s3 = TestS3::start_with(move |_| backend).await;
    let store = s3_store(&s3, Some("p")).await;

    let key = PhotoKey::new(Uuid::new_v4());
    let object = format!("p/{key}");
    // Another object whose key starts with this one's must survive: the version
    // listing is by prefix, the deletion by exact key.
    let longer = format!("{object}-other");
    bucket.push(&longer, false);
    store.put(&key, Bytes::from_static(b"v1"), "image/jpeg").await.unwrap();
    bucket.push(&object, true);
    store.put(&key, Bytes::from_static(b"v2"), "image/jpeg").await.unwrap();
    assert_eq!(bucket.keys().iter().filter(|k| **k == object).count(), 3);

    store.delete(&key).await.unwrap();
    // No noncurrent version and no delete marker left: an erased photo is gone.
    assert_eq!(bucket.keys(), vec![longer]);
    // Deleting again leaves at most a delete marker, never an error.
    store.delete(&key).await.unwrap();
}

// ---------------------------------------------------------------------------------
// Test images, made here.

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode test image");
    out.into_inner()
}

/// A 64x32 picture: the top-left 32x16 block red, the rest blue.
fn quadrant_image() -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(64, 32, |x, y| {
        if x < 32 && y < 16 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    }))
}

/// Six distinct, exactly comparable pixels (3 wide, 2 high).
fn six_pixels() -> RgbImage {
    RgbImage::from_fn(3, 2, |x, y| Rgb([(x * 80) as u8, (y * 200) as u8, 7]))
}

fn clean_jpeg() -> CleanPhoto {
    photos::ingest(&encode(&quadrant_image(), ImageFormat::Jpeg), &IngestLimits::default())
        .expect("a plain JPEG ingests")
}

/// Little-endian TIFF (EXIF) with an orientation, a description, and a GPS IFD with
/// latitude and a map datum: the parts a phone writes that must never be stored.
fn exif_tiff(orientation: u16) -> Vec<u8> {
    const DESCRIPTION: &[u8] = b"SECRET-EXIF-DESCRIPTION\0";
    const DATUM: &[u8] = b"SECRET-GPS-DATUM\0";
    let ifd0 = 8u32;
    let ifd0_len = 2 + 3 * 12 + 4;
    let description_at = ifd0 + ifd0_len;
    let gps_ifd = description_at + DESCRIPTION.len() as u32;
    let gps_len = 2 + 3 * 12 + 4;
    let latitude_at = gps_ifd + gps_len;
    let datum_at = latitude_at + 24;

    let mut t = Vec::new();
    t.extend_from_slice(b"II*\0");
    t.extend_from_slice(&ifd0.to_le_bytes());
    let entry = |t: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: u32| {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&kind.to_le_bytes());
        t.extend_from_slice(&count.to_le_bytes());
        t.extend_from_slice(&value.to_le_bytes());
    };
    t.extend_from_slice(&3u16.to_le_bytes());
    entry(&mut t, 0x010E, 2, DESCRIPTION.len() as u32, description_at); // ImageDescription
    entry(&mut t, 0x0112, 3, 1, u32::from(orientation)); // Orientation
    entry(&mut t, 0x8825, 4, 1, gps_ifd); // GPSInfo
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(DESCRIPTION);
    t.extend_from_slice(&3u16.to_le_bytes());
    entry(&mut t, 0x0001, 2, 2, u32::from_le_bytes(*b"N\0\0\0")); // GPSLatitudeRef
    entry(&mut t, 0x0002, 5, 3, latitude_at); // GPSLatitude
    entry(&mut t, 0x0012, 2, DATUM.len() as u32, datum_at); // GPSMapDatum
    t.extend_from_slice(&0u32.to_le_bytes());
    for (num, den) in [(12u32, 1u32), (58, 1), (179_417, 10_000)] {
        t.extend_from_slice(&num.to_le_bytes());
        t.extend_from_slice(&den.to_le_bytes());
    }
    t.extend_from_slice(DATUM);
    assert_eq!(t.len() as u32, datum_at + DATUM.len() as u32);
    t
}

/// The GPS latitude as stored: its bytes must not survive anywhere.
fn gps_latitude_bytes() -> Vec<u8> {
    let mut b = Vec::new();
    for (num, den) in [(12u32, 1u32), (58, 1), (179_417, 10_000)] {
        b.extend_from_slice(&num.to_le_bytes());
        b.extend_from_slice(&den.to_le_bytes());
    }
    b
}

fn jpeg_segment(marker: u8, body: &[u8]) -> Vec<u8> {
    let mut s = vec![0xFF, marker];
    s.extend_from_slice(&(body.len() as u16 + 2).to_be_bytes());
    s.extend_from_slice(body);
    s
}

/// Inserts `segments` right after SOI, a comment just before EOI (after the scan,
/// where a walker that stops at the first scan would miss it) and HTML after EOI.
fn with_jpeg_metadata(jpeg: &[u8], segments: &[Vec<u8>]) -> Vec<u8> {
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9]);
    let mut out = jpeg[..2].to_vec();
    for s in segments {
        out.extend_from_slice(s);
    }
    out.extend_from_slice(&jpeg[2..jpeg.len() - 2]);
    out.extend_from_slice(&jpeg_segment(0xFE, b"SECRET-COMMENT-AFTER-SCAN"));
    out.extend_from_slice(&[0xFF, 0xD9]);
    out.extend_from_slice(b"<html><script>alert('SECRET-TRAILER')</script></html>");
    out
}

fn metadata_segments(orientation: u16) -> Vec<Vec<u8>> {
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend_from_slice(&exif_tiff(orientation));
    let mut xmp = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    xmp.extend_from_slice(b"<x:xmpmeta><rdf:Description SECRET-XMP-CREATOR/></x:xmpmeta>");
    let mut iptc = b"Photoshop 3.0\08BIM\x04\x04\0\0\0\0\0\x16".to_vec();
    iptc.extend_from_slice(b"\x1c\x02\x5a\0\x11SECRET-IPTC-CITY");
    let mut icc = b"ICC_PROFILE\0\x01\x01".to_vec();
    icc.extend_from_slice(b"SECRET-ICC-DESCRIPTION");
    let mut thumbnail = b"JFIF\0\x01\x02\0\0\x01\0\x01\x01\x01".to_vec();
    thumbnail.extend_from_slice(b"SEC"); // a 1x1 RGB thumbnail
    vec![
        jpeg_segment(0xE1, &exif),
        jpeg_segment(0xE1, &xmp),
        jpeg_segment(0xED, &iptc),
        jpeg_segment(0xE2, &icc),
        jpeg_segment(0xFE, b"SECRET-COMMENT"),
        jpeg_segment(0xE0, &thumbnail),
        jpeg_segment(0xE5, b"SECRET-VENDOR-BLOCK"),
    ]
}

fn jpeg_with_metadata(orientation: u16) -> Vec<u8> {
    with_jpeg_metadata(
        &encode(&quadrant_image(), ImageFormat::Jpeg),
        &metadata_segments(orientation),
    )
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn assert_no_secrets(bytes: &[u8]) {
    for needle in [
        b"SECRET".as_slice(),
        b"Exif\0\0",
        b"II*\0",
        b"http://ns.adobe.com",
        b"Photoshop",
        b"ICC_PROFILE",
        b"<html",
        b"PK\x03\x04",
        &gps_latitude_bytes(),
    ] {
        assert!(
            !contains(bytes, needle),
            "{:?} survived",
            String::from_utf8_lossy(needle)
        );
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend_from_slice(kind);
    c.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    c.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    c
}

/// The chunk types of a PNG, in order.
fn png_chunks(png: &[u8]) -> Vec<String> {
    let mut kinds = Vec::new();
    let mut pos = 8;
    while pos + 8 <= png.len() {
        let len = u32::from_be_bytes(png[pos..pos + 4].try_into().unwrap()) as usize;
        kinds.push(String::from_utf8_lossy(&png[pos + 4..pos + 8]).into_owned());
        pos += 12 + len;
    }
    kinds
}

/// Inserts metadata chunks after IHDR and before IEND, and a ZIP after IEND.
fn with_png_metadata(png: &[u8], orientation: u16) -> Vec<u8> {
    let ihdr_end = 8 + 25;
    let iend_start = png.len() - 12;
    let mut out = png[..ihdr_end].to_vec();
    out.extend(png_chunk(b"eXIf", &exif_tiff(orientation)));
    out.extend(png_chunk(b"tEXt", b"Comment\0SECRET-PNG-TEXT"));
    out.extend(png_chunk(
        b"iTXt",
        b"XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta>SECRET-PNG-XMP</x:xmpmeta>",
    ));
    out.extend(png_chunk(b"zTXt", b"Raw profile type exif\0\0SECRET-PNG-ZTXT"));
    out.extend(png_chunk(b"iCCP", b"SECRET-ICC\0\0xx"));
    out.extend(png_chunk(b"tIME", &[7, 234, 11, 21, 9, 2, 11]));
    out.extend(png_chunk(b"prVt", b"SECRET-PRIVATE-CHUNK"));
    out.extend_from_slice(&png[ihdr_end..iend_start]);
    out.extend(png_chunk(b"tEXt", b"Author\0SECRET-AFTER-IDAT"));
    out.extend_from_slice(&png[iend_start..]);
    out.extend_from_slice(b"PK\x03\x04\x14\0\0\0SECRET-ZIP-ENTRY");
    out
}

fn riff_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = kind.to_vec();
    c.extend_from_slice(&(data.len() as u32).to_le_bytes());
    c.extend_from_slice(data);
    if data.len() % 2 == 1 {
        c.push(0);
    }
    c
}

/// Rewraps a simple (VP8L) WebP as an extended one carrying ICC, EXIF (GPS), XMP, an
/// unknown chunk, and trailing bytes after the RIFF.
fn webp_with_metadata(simple: &[u8], width: u32, height: u32, orientation: u16) -> Vec<u8> {
    assert_eq!(&simple[12..16], b"VP8L");
    let bitstream = &simple[12..];
    let mut vp8x = vec![0x20 | 0x08 | 0x04, 0, 0, 0];
    vp8x.extend_from_slice(&(width - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(height - 1).to_le_bytes()[..3]);
    let mut body = b"WEBP".to_vec();
    body.extend(riff_chunk(b"VP8X", &vp8x));
    body.extend(riff_chunk(b"ICCP", b"SECRET-WEBP-ICC"));
    body.extend_from_slice(bitstream);
    body.extend(riff_chunk(b"EXIF", &exif_tiff(orientation)));
    body.extend(riff_chunk(b"XMP ", b"<x:xmpmeta>SECRET-WEBP-XMP</x:xmpmeta>"));
    body.extend(riff_chunk(b"ZZZZ", b"SECRET-UNKNOWN-CHUNK"));
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend(body);
    out.extend_from_slice(b"<html>SECRET-AFTER-RIFF</html>");
    out
}

fn decode(bytes: &[u8]) -> DynamicImage {
    image::load_from_memory(bytes).expect("output decodes")
}

fn is_red(p: &Rgb<u8>) -> bool {
    p[0] > 180 && p[2] < 90
}

fn is_blue(p: &Rgb<u8>) -> bool {
    p[2] > 180 && p[0] < 90
}

// ---------------------------------------------------------------------------------
// Ingestion.

#[tokio::test]
async fn read_limited_stops_at_the_limit() {
    let polled = Arc::new(AtomicUsize::new(0));
    let counter = polled.clone();
    let chunk = Bytes::from(vec![0u8; 64 * 1024]);
    // 64 MiB on offer; the limit is 5 MiB.
    let stream = futures_util::stream::iter((0..1024).map(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok::<Bytes, Infallible>(chunk.clone())
    }));
    let limit = 5 * 1024 * 1024;
    let err = photos::read_limited(stream, limit).await.unwrap_err();
    assert_eq!(err, IngestError::TooLarge { limit });
    // 80 chunks fill the limit exactly; the 81st passes it; nothing after is read.
    assert_eq!(polled.load(Ordering::SeqCst), 81);

    // Exactly at the limit is fine.
    let exact = futures_util::stream::iter((0..80).map(|_| Ok::<Bytes, Infallible>(Bytes::from(vec![1u8; 64 * 1024]))));
    assert_eq!(photos::read_limited(exact, limit).await.unwrap().len() as u64, limit);

    // A broken body is its own error, not a bad image.
    let broken = futures_util::stream::iter(vec![Ok(Bytes::from_static(b"abc")), Err("connection reset")]);
    assert!(matches!(
        photos::read_limited(broken, limit).await,
        Err(IngestError::Stream(_))
    ));
}

#[test]
fn oversize_input_is_refused_before_parsing() {
    let limits = IngestLimits {
        max_bytes: 100,
        ..IngestLimits::default()
    };
    let big = encode(&quadrant_image(), ImageFormat::Png);
    assert!(big.len() > 100);
    assert_eq!(
        photos::ingest(&big, &limits).unwrap_err(),
        IngestError::TooLarge { limit: 100 }
    );
}

#[test]
fn only_jpeg_png_and_webp_are_accepted() {
    let limits = IngestLimits::default();
    let refused: &[(&[u8], &str)] = &[
        (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "html"),
        (
            b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>",
            "svg",
        ),
        (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;", "gif"),
        // GIFAR-style: a GIF with a ZIP appended is still a GIF.
        (b"GIF89a\x01\x00\x01\x00PK\x03\x04", "gif"),
        (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", "heic"),
        (b"%PDF-1.4 SECRET", "pdf"),
    ];
    for (raw, detected) in refused {
        assert_eq!(
            photos::ingest(raw, &limits).unwrap_err(),
            IngestError::Unsupported { detected },
        );
    }
}

#[test]
fn polyglots_are_rejected_or_neutralised() {
    let limits = IngestLimits::default();
    // JPEG magic followed by HTML is no JPEG.
    let fake = b"\xFF\xD8\xFF\xE0<html><script>alert(document.cookie)</script></html>";
    assert!(matches!(photos::ingest(fake, &limits), Err(IngestError::Corrupt(_))));
    // PNG magic followed by HTML neither.
    let fake = b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>";
    assert!(matches!(photos::ingest(fake, &limits), Err(IngestError::Corrupt(_))));

    // A real PNG with a ZIP appended: the PNG is kept, the ZIP is gone.
    let png = encode(&quadrant_image(), ImageFormat::Png);
    let mut polyglot = png.clone();
    polyglot.extend_from_slice(b"PK\x03\x04\x14\0\0\0\0\0SECRET-ZIP/evil.html<html>");
    let clean = photos::ingest(&polyglot, &limits).unwrap();
    assert_eq!(clean.bytes, png);
    assert_eq!(clean.content_type, "image/png");

    // A real JPEG with HTML appended: likewise.
    let jpeg = encode(&quadrant_image(), ImageFormat::Jpeg);
    let mut polyglot = jpeg.clone();
    polyglot.extend_from_slice(b"<html><script>alert('SECRET')</script></html>");
    let clean = photos::ingest(&polyglot, &limits).unwrap();
    assert_eq!(clean.bytes, jpeg);
}

/// A PNG header declaring 60000x60000, with a tiny IDAT: a few dozen bytes that
/// would ask a naive decoder for 14 GB.
fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(
        b"IDAT",
        &[0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    ));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

#[test]
fn pixel_floods_are_refused_from_the_header() {
    let limits = IngestLimits::default();
    let bomb = png_bomb(60_000, 60_000);
    assert!(bomb.len() < 100);
    let started = Instant::now();
    let err = photos::ingest(&bomb, &limits).unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        err,
        IngestError::TooManyPixels {
            width: 60_000,
            height: 60_000,
            limit: limits.max_pixels
        }
    );
    assert!(took < Duration::from_millis(100), "took {took:?}");

    // Within the pixel budget but absurdly long.
    assert!(matches!(
        photos::ingest(&png_bomb(20_000, 10), &limits),
        Err(IngestError::TooManyPixels {
            width: 20_000,
            height: 10,
            ..
        })
    ));

    // JPEG: a frame header declaring 65000x65000.
    let mut jpeg = vec![0xFF, 0xD8];
    jpeg.extend(jpeg_segment(0xC0, &[8, 0xFD, 0xE8, 0xFD, 0xE8, 1, 1, 0x11, 0]));
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    let started = Instant::now();
    assert!(matches!(
        photos::ingest(&jpeg, &limits),
        Err(IngestError::TooManyPixels {
            width: 65_000,
            height: 65_000,
            ..
        })
    ));
    assert!(started.elapsed() < Duration::from_millis(100));

    // WebP: an extended header declaring 16384x16384.
    let mut vp8x = vec![0, 0, 0, 0];
    vp8x.extend_from_slice(&16_383u32.to_le_bytes()[..3]);
    vp8x.extend_from_slice(&16_383u32.to_le_bytes()[..3]);
    let mut body = b"WEBP".to_vec();
    body.extend(riff_chunk(b"VP8X", &vp8x));
    let mut webp = b"RIFF".to_vec();
    webp.extend_from_slice(&(body.len() as u32).to_le_bytes());
    webp.extend(body);
    assert!(matches!(
        photos::ingest(&webp, &limits),
        Err(IngestError::TooManyPixels {
            width: 16_384,
            height: 16_384,
            ..
        })
    ));

    // Tighter limits are honoured too.
    let small = IngestLimits {
        max_pixels: 1000,
        ..IngestLimits::default()
    };
    assert!(matches!(
        photos::ingest(&encode(&quadrant_image(), ImageFormat::Png), &small),
        Err(IngestError::TooManyPixels {
            width: 64,
            height: 32,
            limit: 1000
        })
    ));
}

#[test]
fn jpeg_metadata_is_stripped_without_reencoding() {
    let original = encode(&quadrant_image(), ImageFormat::Jpeg);
    let raw = jpeg_with_metadata(1);
    assert!(contains(&raw, b"SECRET-GPS-DATUM"));
    assert!(contains(&raw, &gps_latitude_bytes()));

    let clean = photos::ingest(&raw, &IngestLimits::default()).unwrap();
    assert_no_secrets(&clean.bytes);
    // Orientation 1: the encoder's bytes exactly, entropy data untouched.
    assert_eq!(clean.bytes, original);
    assert_eq!(clean.content_type, "image/jpeg");
    assert_eq!((clean.width, clean.height), (64, 32));
    assert_eq!(clean.sha256, hex_sha256(&clean.bytes));
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A 16x16 progressive JPEG made by libjpeg (through Pillow): ten scans with Huffman
/// tables between them, which `image` cannot write. Top-left 8x8 red, rest blue.
fn progressive_jpeg() -> Vec<u8> {
    const HEX: &[&str] = &[
        "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b",
        "0b0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e3334",
        "32ffdb0043010909090c0b0c180d0d1832211c21323232323232323232323232323232323232323232323232",
        "3232323232323232323232323232323232323232323232323232ffc200110800100010030122000211010311",
        "01ffc4001500010100000000000000000000000000000005ffc4001501010100000000000000000000000000",
        "000306ffda000c030100021003100000018b1ca57fffc40014100100000000000000000000000000000020ff",
        "da00080101000105021fffc400191100020301000000000000000000000000041100121422ffda0008010301",
        "013f013cfd75e529ffc400191100020301000000000000000000000000051100121422ffda0008010201013f",
        "011c3b1dba6e7fffc40014100100000000000000000000000000000020ffda0008010100063f021fffc40014",
        "100100000000000000000000000000000020ffda0008010100013f211fffda000c030100020003000000107b",
        "ffc4001a110100010500000000000000000000000011000141516171ffda0008010301013f10e83baa6a989f",
        "ffc4001a110100010500000000000000000000000011000141516171ffda0008010201013f10e1fb00eeb99f",
        "ffc40014100100000000000000000000000000000020ffda0008010100013f101fffd9",
    ];
    hex::decode(HEX.concat()).expect("valid hex")
}

#[test]
fn metadata_between_progressive_scans_is_stripped() {
    let original = progressive_jpeg();
    let sos: Vec<usize> = original
        .windows(2)
        .enumerate()
        .filter(|(_, w)| *w == [0xFF, 0xDA])
        .map(|(i, _)| i)
        .collect();
    assert_eq!(sos.len(), 10);
    // Metadata before the third scan, where a parser that stops at the first scan
    // (or trusts everything after it) would let it through.
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend_from_slice(&exif_tiff(1));
    let mut raw = original[..sos[2]].to_vec();
    raw.extend(jpeg_segment(0xE1, &exif));
    raw.extend(jpeg_segment(0xFE, b"SECRET-BETWEEN-SCANS"));
    raw.extend(jpeg_segment(0xE2, b"ICC_PROFILE\0\x01\x01SECRET-ICC"));
    raw.extend_from_slice(&original[sos[2]..]);
    raw.extend_from_slice(b"PK\x03\x04SECRET-TRAILER");

    let clean = photos::ingest(&raw, &IngestLimits::default()).unwrap();
    assert_no_secrets(&clean.bytes);
    assert_eq!(clean.bytes, original);
    let pixels = decode(&clean.bytes).to_rgb8();
    assert!(is_red(pixels.get_pixel(2, 2)));
    assert!(is_blue(pixels.get_pixel(12, 12)));

    // With orientation 8 (rotate 90° counter-clockwise) the red block moves to the
    // bottom-left.
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend_from_slice(&exif_tiff(8));
    let mut raw = original[..2].to_vec();
    raw.extend(jpeg_segment(0xE1, &exif));
    raw.extend_from_slice(&original[2..]);
    let clean = photos::ingest(&raw, &IngestLimits::default()).unwrap();
    let upright = decode(&clean.bytes).to_rgb8();
    assert!(is_red(upright.get_pixel(2, 13)), "{:?}", upright.get_pixel(2, 13));
    assert!(is_blue(upright.get_pixel(2, 2)), "{:?}", upright.get_pixel(2, 2));
    assert!(is_blue(upright.get_pixel(13, 13)), "{:?}", upright.get_pixel(13, 13));
}

#[test]
fn jpeg_orientation_is_applied_before_stripping() {
    // Orientation 6: the camera was turned; viewers rotate 90° clockwise.
    let clean = photos::ingest(&jpeg_with_metadata(6), &IngestLimits::default()).unwrap();
    assert_no_secrets(&clean.bytes);
    assert_eq!(clean.content_type, "image/jpeg");
    assert_eq!((clean.width, clean.height), (32, 64));
    let upright = decode(&clean.bytes).to_rgb8();
    assert_eq!(upright.dimensions(), (32, 64));
    // The red top-left block of the stored pixels is now top-right.
    assert!(is_red(upright.get_pixel(24, 8)), "{:?}", upright.get_pixel(24, 8));
    assert!(is_blue(upright.get_pixel(8, 8)), "{:?}", upright.get_pixel(8, 8));
    assert!(is_blue(upright.get_pixel(24, 48)), "{:?}", upright.get_pixel(24, 48));
    // No EXIF at all, so no viewer can rotate it a second time.
    assert!(!contains(&clean.bytes, b"Exif"));
}

#[test]
fn png_text_chunks_and_exif_are_stripped() {
    let original = encode(&DynamicImage::ImageRgb8(six_pixels()), ImageFormat::Png);
    let raw = with_png_metadata(&original, 1);
    let clean = photos::ingest(&raw, &IngestLimits::default()).unwrap();
    assert_no_secrets(&clean.bytes);
    assert_eq!(png_chunks(&clean.bytes), png_chunks(&original));
    assert_eq!(clean.bytes, original);
    for kind in ["tEXt", "iTXt", "zTXt", "eXIf", "iCCP", "tIME", "prVt"] {
        assert!(!png_chunks(&clean.bytes).iter().any(|k| k == kind), "{kind}");
    }
}

#[test]
fn png_orientation_gives_the_exact_upright_pixels() {
    let stored = six_pixels();
    let p = |x: u32, y: u32| *stored.get_pixel(x, y);
    let original = encode(&DynamicImage::ImageRgb8(stored.clone()), ImageFormat::Png);

    // 6: rotate 90° clockwise. 3x2 becomes 2x3; the old left column is the new top row, read bottom-up.
    let clean = photos::ingest(&with_png_metadata(&original, 6), &IngestLimits::default()).unwrap();
    assert_no_secrets(&clean.bytes);
    assert_eq!(clean.content_type, "image/png");
    let upright = decode(&clean.bytes).to_rgb8();
    assert_eq!(upright.dimensions(), (2, 3));
    assert_eq!(*upright.get_pixel(0, 0), p(0, 1));
    assert_eq!(*upright.get_pixel(1, 0), p(0, 0));
    assert_eq!(*upright.get_pixel(0, 2), p(2, 1));
    assert_eq!(*upright.get_pixel(1, 2), p(2, 0));

    // 3: rotate 180°.
    let clean = photos::ingest(&with_png_metadata(&original, 3), &IngestLimits::default()).unwrap();
    let upright = decode(&clean.bytes).to_rgb8();
    assert_eq!(upright.dimensions(), (3, 2));
    assert_eq!(*upright.get_pixel(0, 0), p(2, 1));
    assert_eq!(*upright.get_pixel(2, 1), p(0, 0));

    // 8: rotate 90° counter-clockwise.
    let clean = photos::ingest(&with_png_metadata(&original, 8), &IngestLimits::default()).unwrap();
    let upright = decode(&clean.bytes).to_rgb8();
    assert_eq!(upright.dimensions(), (2, 3));
    assert_eq!(*upright.get_pixel(0, 0), p(2, 0));
    assert_eq!(*upright.get_pixel(1, 0), p(2, 1));
    assert_eq!(*upright.get_pixel(0, 2), p(0, 0));

    // 2: mirrored.
    let clean = photos::ingest(&with_png_metadata(&original, 2), &IngestLimits::default()).unwrap();
    let upright = decode(&clean.bytes).to_rgb8();
    assert_eq!(*upright.get_pixel(0, 0), p(2, 0));
    assert_eq!(*upright.get_pixel(2, 1), p(0, 1));
}

#[test]
fn webp_exif_and_xmp_are_stripped() {
    let image = DynamicImage::ImageRgb8(six_pixels());
    let simple = encode(&image, ImageFormat::WebP);
    let raw = webp_with_metadata(&simple, 3, 2, 1);
    let clean = photos::ingest(&raw, &IngestLimits::default()).unwrap();
    assert_no_secrets(&clean.bytes);
    assert_eq!(clean.content_type, "image/webp");
    for kind in [b"EXIF", b"XMP ", b"ICCP", b"ZZZZ"] {
        assert!(!contains(&clean.bytes, kind));
    }
    // The extended header stays, with its metadata flags cleared.
    assert_eq!(&clean.bytes[12..16], b"VP8X");
    assert_eq!(clean.bytes[20] & (0x20 | 0x08 | 0x04), 0);
    assert_eq!(decode(&clean.bytes).to_rgb8(), six_pixels());

    // With orientation 6 the pixels are turned upright; an opaque WebP comes back as JPEG
    // (there is no lossy WebP encoder, and lossless would bloat a camera photo).
    let big = encode(&quadrant_image(), ImageFormat::WebP);
    let clean = photos::ingest(&webp_with_metadata(&big, 64, 32, 6), &IngestLimits::default()).unwrap();
    assert_no_secrets(&clean.bytes);
    assert_eq!(clean.content_type, "image/jpeg");
    let upright = decode(&clean.bytes).to_rgb8();
    assert_eq!(upright.dimensions(), (32, 64));
    assert!(is_red(upright.get_pixel(24, 8)));
    assert!(is_blue(upright.get_pixel(8, 8)));
}

#[test]
fn animated_webp_is_refused() {
    let simple = encode(&DynamicImage::ImageRgb8(six_pixels()), ImageFormat::WebP);
    let mut raw = webp_with_metadata(&simple, 3, 2, 1);
    raw[20] |= 0x02; // the animation flag
    assert_eq!(
        photos::ingest(&raw, &IngestLimits::default()).unwrap_err(),
        IngestError::Unsupported {
            detected: "animated webp"
        }
    );
}

#[test]
fn truncated_and_mutated_images_never_panic() {
    let limits = IngestLimits::default();
    let samples = [
        jpeg_with_metadata(6),
        with_png_metadata(&encode(&DynamicImage::ImageRgb8(six_pixels()), ImageFormat::Png), 6),
        webp_with_metadata(
            &encode(&DynamicImage::ImageRgb8(six_pixels()), ImageFormat::WebP),
            3,
            2,
            6,
        ),
    ];
    for sample in &samples {
        for len in 0..sample.len() {
            let _ = photos::ingest(&sample[..len], &limits);
        }
    }
}

fn valid_samples() -> Vec<Vec<u8>> {
    vec![
        jpeg_with_metadata(6),
        encode(&quadrant_image(), ImageFormat::Png),
        with_png_metadata(&encode(&DynamicImage::ImageRgb8(six_pixels()), ImageFormat::Png), 3),
        webp_with_metadata(
            &encode(&DynamicImage::ImageRgb8(six_pixels()), ImageFormat::WebP),
            3,
            2,
            8,
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random bytes behind each accepted magic: an error or a clean photo, never a panic.
    #[test]
    fn random_bytes_never_panic(
        magic in 0usize..4,
        body in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let prefix: &[u8] = match magic {
            0 => b"\xFF\xD8\xFF",
            1 => b"\x89PNG\r\n\x1a\n",
            2 => b"RIFF\x00\x01\x00\x00WEBPVP8X",
            _ => b"",
        };
        let mut raw = prefix.to_vec();
        raw.extend(body);
        let _ = photos::ingest(&raw, &IngestLimits::default());
    }

    /// Valid files with bytes flipped: an error, or a photo that decodes; never a panic.
    #[test]
    fn mutated_images_never_panic(
        sample in 0usize..4,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut raw = valid_samples().swap_remove(sample);
        for (at, value) in flips {
            let at = at.index(raw.len());
            raw[at] = value;
        }
        if let Ok(clean) = photos::ingest(&raw, &IngestLimits::default()) {
            prop_assert!(image::load_from_memory(&clean.bytes).is_ok());
        }
    }
}
