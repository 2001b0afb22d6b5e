//! Photo uploads over HTTP: raw and multipart, limits, type sniffing, metadata stripping,
//! presigned uploads.

use serde_json::json;
use std::path::Path;

use crate::common::{Backend, TestApp};

const SECRET: &[u8] = b"GPS-SECRET-12.9716N-77.5946E";

/// A real 8x8 JPEG with an APP1 Exif segment (carrying a GPS-looking secret) after SOI.
pub fn jpeg_with_exif() -> Vec<u8> {
    jpeg_with_exif_of_width(8)
}

/// [`jpeg_with_exif`], `width` pixels wide: for tests that must tell photos apart, as
/// photos of different widths always differ in their bytes (the width is in the header).
pub fn jpeg_with_exif_of_width(width: u32) -> Vec<u8> {
    let mut plain = Vec::new();
    let img = image::RgbImage::from_fn(width, 8, |x, y| image::Rgb([(x * 30) as u8, (y * 30) as u8, 128]));
    img.write_to(&mut std::io::Cursor::new(&mut plain), image::ImageFormat::Jpeg)
        .unwrap();
    let mut payload = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
    payload.extend_from_slice(SECRET);
    let len = (payload.len() + 2) as u16;
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&plain[2..]);
    out
}

fn stored_files(app: &TestApp) -> Vec<Vec<u8>> {
    stored_photos(Path::new(app.settings.photo_store.trim_start_matches("file://")))
}

/// The contents of every photo the local store holds under `root` (every file but the
/// `.type` sidecars), whatever its directory layout.
pub fn stored_photos(root: &Path) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_none() {
                found.push(std::fs::read(path).unwrap());
            }
        }
    }
    found
}

pub async fn upload(app: &TestApp, token: &str, content_type: &str, body: Vec<u8>) -> crate::common::Answer {
    let res = app
        .client
        .post(app.url("/v1/photos"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    TestApp::answer(res).await
}

backend_tests! {
    async fn photos_are_stored_without_metadata(app: TestApp) {
        let admin = app.admin().await;
        let (_, employee) = app.user(&admin, "e@example.com", &["employee"], None).await;
        let raw = jpeg_with_exif();
        assert!(raw.windows(SECRET.len()).any(|w| w == SECRET));
        let photo = upload(&app, &employee, "image/jpeg", raw.clone()).await.expect(201);
        assert_eq!(photo["content_type"], "image/jpeg");
        assert!(photo["bytes"].as_i64().unwrap() < raw.len() as i64);
        assert_eq!(photo["sha256"].as_str().unwrap().len(), 64);
        let form = reqwest::multipart::Form::new()
            .text("note", "ignored")
            .part("photo", reqwest::multipart::Part::bytes(raw).file_name("../../etc/passwd.jpg").mime_str("image/jpeg").unwrap());
        let res = app.client.post(app.url("/v1/photos")).bearer_auth(&employee).multipart(form).send().await.unwrap();
        TestApp::answer(res).await.expect(201);
        let files = stored_files(&app);
        assert_eq!(files.len(), 2);
        for file in files {
            assert!(!file.windows(SECRET.len()).any(|w| w == SECRET), "metadata survived");
            assert!(!file.windows(4).any(|w| w == b"Exif"));
            assert!(image::load_from_memory(&file).is_ok());
        }
    }

    async fn bad_uploads_are_refused_and_leave_nothing(app: TestApp) {
        let admin = app.admin().await;
        let (_, employee) = app.user(&admin, "e@example.com", &["employee"], None).await;
        upload(&app, &employee, "image/jpeg", b"<html><script>alert(1)</script></html>".to_vec()).await.problem(415, "unsupported_media_type");
        upload(&app, &employee, "image/png", b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec()).await.problem(415, "unsupported_media_type");
        upload(&app, &employee, "text/plain", jpeg_with_exif()).await.problem(415, "unsupported_media_type");
        // A 60000x60000 PNG header: refused from the header alone.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&60_000u32.to_be_bytes());
        png.extend_from_slice(&60_000u32.to_be_bytes());
        png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        let started = std::time::Instant::now();
        upload(&app, &employee, "image/png", png).await.problem(422, "validation_failed");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let huge = vec![0xFFu8; 6 * 1024 * 1024];
        upload(&app, &employee, "image/jpeg", huge).await.problem(413, "payload_too_large");
        let form = reqwest::multipart::Form::new().text("other", "x");
        let res = app.client.post(app.url("/v1/photos")).bearer_auth(&employee).multipart(form).send().await.unwrap();
        TestApp::answer(res).await.problem(422, "validation_failed");
        assert!(stored_files(&app).is_empty(), "nothing left behind");
        let (_, auditor) = app.user(&admin, "a@example.com", &["auditor"], None).await;
        upload(&app, &auditor, "image/jpeg", jpeg_with_exif()).await.problem(403, "forbidden");
        app.post("/v1/photos:presign", &employee, json!({"content_type": "image/jpeg", "bytes": 1000})).await.problem(404, "not_found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_uploads_go_straight_to_s3() {
    let s3 = crate::common::s3::TestS3::start().await;
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.photo_store = s3.store_url(Some("photos"));
        s.s3_endpoint = Some(s3.endpoint.clone());
        s.s3_region = Some(s3.region.clone());
        s.s3_access_key_id = Some(s3.access_key.clone());
        s.s3_secret_access_key = Some(muster::config::Secret::new(s3.secret_key.clone()));
    })
    .await
    .unwrap();
    let admin = app.admin().await;
    let (_, employee) = app.user(&admin, "e@example.com", &["employee"], None).await;
    let raw = jpeg_with_exif();
    let bad = app
        .post(
            "/v1/photos:presign",
            &employee,
            json!({"content_type": "image/gif", "bytes": 0}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(bad["errors"].as_array().unwrap().len(), 2);
    let presigned = app
        .post(
            "/v1/photos:presign",
            &employee,
            json!({"content_type": "image/jpeg", "bytes": raw.len()}),
        )
        .await
        .expect(201);
    let url = presigned["upload_url"].as_str().unwrap();
    let mut put = app.client.put(url).body(raw.clone());
    for (k, v) in presigned["headers"].as_object().unwrap() {
        put = put.header(k.as_str(), v.as_str().unwrap());
    }
    let res = put.send().await.unwrap();
    assert!(res.status().is_success(), "PUT to the presigned URL: {}", res.status());
    // A check-in naming the photo makes the server vet it: stored clean under a new key.
    // Six at once (different events, one photo) vet it concurrently: one event gets the
    // photo, the others are refused, and no second clean copy is left behind.
    let check_in = || {
        json!({
            "client_event_id": uuid::Uuid::new_v4(), "kind": "check_in", "captured_at": chrono::Utc::now().to_rfc3339(),
            "location": {"lat": 12.97, "lon": 77.59, "accuracy_m": 8.0, "provider": "gps", "is_mock": false},
            "photo_id": presigned["photo_id"],
        })
    };
    let claims =
        futures_util::future::join_all((0..6).map(|_| app.post("/v1/attendance/events", &employee, check_in()))).await;
    let statuses: Vec<u16> = claims.iter().map(|a| a.status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 422).count(), 5, "{statuses:?}");
    let event = claims.into_iter().find(|a| a.status == 201).unwrap().body;
    // A loser's copy is removed by its drop guard, in the background: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while stored_photos(s3.dir.path()).len() > 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        stored_photos(s3.dir.path()).len(),
        1,
        "one clean copy, no upload and no loser's copy left"
    );
    let photo_url = event["photo_url"].as_str().expect("photo link");
    let redirect = app
        .client
        .get(app.url(photo_url))
        .bearer_auth(&employee)
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 307);
    let signed = redirect.headers()["location"].to_str().unwrap().to_owned();
    let expires: u64 = signed
        .split("X-Amz-Expires=")
        .nth(1)
        .and_then(|v| v.split('&').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(expires <= 300, "signed links live at most 5 minutes");
    let downloaded = app.client.get(&signed).send().await.unwrap().bytes().await.unwrap();
    assert!(image::load_from_memory(&downloaded).is_ok());
    assert!(
        !downloaded.windows(SECRET.len()).any(|w| w == SECRET),
        "metadata survived the direct upload"
    );
    // Someone else's, a reused or a never-uploaded photo is refused on photo_id.
    let (_, colleague) = app.user(&admin, "c@example.com", &["employee"], None).await;
    let mut reuse = json!({"client_event_id": uuid::Uuid::new_v4(), "kind": "check_out", "captured_at": chrono::Utc::now().to_rfc3339(),
        "location": {"lat": 12.97, "lon": 77.59, "accuracy_m": 8.0, "provider": "gps", "is_mock": false}, "photo_id": presigned["photo_id"]});
    let problem = app
        .post("/v1/attendance/events", &colleague, reuse.clone())
        .await
        .problem(422, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "photo_id");
    app.post("/v1/attendance/events", &employee, reuse.clone())
        .await
        .problem(422, "validation_failed");
    let never = app
        .post(
            "/v1/photos:presign",
            &employee,
            json!({"content_type": "image/jpeg", "bytes": 1000}),
        )
        .await
        .expect(201);
    reuse["photo_id"] = never["photo_id"].clone();
    reuse["client_event_id"] = json!(uuid::Uuid::new_v4());
    app.post("/v1/attendance/events", &employee, reuse)
        .await
        .problem(422, "validation_failed");
    // Direct uploads through the server land in S3 too, without metadata.
    let photo = upload(&app, &employee, "image/jpeg", raw).await.expect(201);
    assert_eq!(photo["content_type"], "image/jpeg");
}
