//! Erasure and retention.

use serde_json::json;

use crate::common::{Backend, TestApp};
use crate::photos::jpeg_with_exif;

async fn upload(app: &TestApp, token: &str) -> String {
    let res = app
        .client
        .post(app.url("/v1/photos"))
        .bearer_auth(token)
        .header("content-type", "image/jpeg")
        .body(jpeg_with_exif())
        .send()
        .await
        .unwrap();
    TestApp::answer(res).await.expect(201)["photo_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn s3_app_settings(s3: &crate::common::s3::TestS3) -> impl FnOnce(&mut muster::config::Settings) + '_ {
    move |s| {
        s.photo_store = s3.store_url(Some("photos"));
        s.s3_endpoint = Some(s3.endpoint.clone());
        s.s3_region = Some(s3.region.clone());
        s.s3_access_key_id = Some(s3.access_key.clone());
        s.s3_secret_access_key = Some(muster::config::Secret::new(s3.secret_key.clone()));
    }
}

fn objects(s3: &crate::common::s3::TestS3) -> usize {
    walk(&s3.dir.path().join(&s3.bucket))
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 })
        .sum()
}

async fn erasure_removes_photos_from_s3_on(backend: Backend) {
    let s3 = crate::common::s3::TestS3::start().await;
    let Some(app) = TestApp::spawn_with(backend, s3_app_settings(&s3)).await else {
        return;
    };
    let admin = app.admin().await;
    let (employee, token) = app.user(&admin, "e@example.com", &["employee"], None).await;
    let (_, colleague) = app.user(&admin, "c@example.com", &["employee"], None).await;
    upload(&app, &token).await;
    upload(&app, &token).await;
    upload(&app, &colleague).await;
    assert_eq!(objects(&s3), 3);
    let id = employee["id"].as_str().unwrap();
    app.post(&format!("/v1/users/{id}/erase"), &colleague, json!({}))
        .await
        .problem(403, "forbidden");
    let erased = app
        .post(&format!("/v1/users/{id}/erase"), &admin, json!({}))
        .await
        .expect(202);
    assert_eq!(erased["status"], "erased");
    assert_eq!(objects(&s3), 1, "only the colleague's photo is left");
    // Idempotent, audited once per request, and another org cannot reach the user.
    app.post(&format!("/v1/users/{id}/erase"), &admin, json!({}))
        .await
        .expect(202);
    let audit = app
        .get(&format!("/v1/audit?action=privacy.erased&subject_id={id}"), &admin)
        .await
        .expect(200);
    assert_eq!(audit["items"].as_array().unwrap().len(), 2);
    let other = app.second_org("admin2@example.com").await;
    app.post(&format!("/v1/users/{id}/erase"), &other, json!({}))
        .await
        .problem(404, "not_found");
    app.post(&format!("/v1/users/{}/erase", uuid::Uuid::now_v7()), &admin, json!({}))
        .await
        .problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_removes_photos_from_s3_sqlite() {
    erasure_removes_photos_from_s3_on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_removes_photos_from_s3_postgres() {
    erasure_removes_photos_from_s3_on(Backend::Postgres).await;
}

backend_tests! {
    async fn retention_removes_photos_older_than_the_policy(app: TestApp) {
        let admin = app.admin().await;
        let (_, token) = app.user(&admin, "e@example.com", &["employee"], None).await;
        let old = upload(&app, &token).await;
        let fresh = upload(&app, &token).await;
        let mut policy = app.get("/v1/policy", &admin).await.expect(200);
        policy["retention"]["photo_days"] = json!(30);
        app.put("/v1/policy", &admin, policy).await.expect(200);
        let stamp = match app.backend { Backend::Postgres => "now() - interval '31 days'".to_owned(), Backend::Sqlite => format!("'{}'", (chrono::Utc::now() - chrono::Duration::days(31)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)) };
        let id_literal = match app.backend { Backend::Postgres => format!("'{old}'"), Backend::Sqlite => format!("X'{}'", old.replace('-', "")) };
        app.sql(&format!("UPDATE photos SET created_at = {stamp} WHERE id = {id_literal}")).await;
        let repo = muster::startup::open_repo(&app.settings).await.unwrap();
        let photos = muster::photos::open(&app.settings.photo_store, &app.settings.s3_options()).await.unwrap();
        let purged = muster::privacy::run_retention(repo.as_ref(), photos.as_ref(), app.retention(10)).await.unwrap();
        assert_eq!(purged.photos, 1);
        assert_eq!(purged.skipped, 0);
        let again = muster::privacy::run_retention(repo.as_ref(), photos.as_ref(), app.retention(10)).await.unwrap();
        assert_eq!(again.photos, 0, "nothing is removed twice");
        let org = repo.org_ids().await.unwrap()[0];
        let kept = repo.get_photo(org, fresh.parse().unwrap()).await.unwrap().unwrap();
        assert_eq!(kept.status, muster::storage::photos::PhotoStatus::Ready);
        let gone = repo.get_photo(org, old.parse().unwrap()).await.unwrap().unwrap();
        assert_eq!(gone.status, muster::storage::photos::PhotoStatus::Deleted);
        assert!(photos.get(&muster::photos::PhotoKey::from_stored(gone.storage_key).unwrap()).await.unwrap().is_none());
    }
}

/// The orphan sweep, run by `muster purge` and the retention job.
mod orphans {
    use super::*;

    /// On S3 the sweep pages through the bucket prefix and deletes an old object no photo
    /// names, keeping the photos in use and an object still within its grace period.
    async fn retention_sweeps_orphans_from_s3_on(backend: Backend) {
        let s3 = crate::common::s3::TestS3::start().await;
        let Some(app) = TestApp::spawn_with(backend, s3_app_settings(&s3)).await else {
            return;
        };
        let admin = app.admin().await;
        let (_, token) = app.user(&admin, "e@example.com", &["employee"], None).await;
        upload(&app, &token).await;
        upload(&app, &token).await;
        let repo = muster::startup::open_repo(&app.settings).await.unwrap();
        let photos = muster::photos::open(&app.settings.photo_store, &app.settings.s3_options())
            .await
            .unwrap();
        let org = repo.org_ids().await.unwrap()[0];
        let (orphan, young) = (muster::photos::PhotoKey::new(org), muster::photos::PhotoKey::new(org));
        for key in [&orphan, &young] {
            photos
                .put(key, bytes::Bytes::from_static(b"orphan"), "image/jpeg")
                .await
                .unwrap();
        }
        age(
            &s3.object_path(&format!("photos/{orphan}")),
            std::time::Duration::from_secs(2 * 3600),
        );
        // Every photo in use is as old as the orphan: only the missing row tells them apart.
        for dir in std::fs::read_dir(s3.object_path("photos")).unwrap() {
            for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
                let path = file.unwrap().path();
                if !path.ends_with(young.id().to_string()) {
                    age(&path, std::time::Duration::from_secs(2 * 3600));
                }
            }
        }
        let options = muster::privacy::RetentionOptions {
            orphan_grace: std::time::Duration::from_secs(3600),
            ..app.retention(1)
        };
        let purged = muster::privacy::run_retention(repo.as_ref(), photos.as_ref(), options)
            .await
            .unwrap();
        assert_eq!((purged.orphans, purged.skipped), (1, 0));
        assert!(photos.head(&orphan).await.unwrap().is_none());
        assert!(photos.head(&young).await.unwrap().is_some());
        assert_eq!(objects(&s3), 3, "both photos in use and the young orphan are kept");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn retention_sweeps_orphans_from_s3_sqlite() {
        retention_sweeps_orphans_from_s3_on(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn retention_sweeps_orphans_from_s3_postgres() {
        retention_sweeps_orphans_from_s3_on(Backend::Postgres).await;
    }

    /// Writes an object (data and content-type sidecar) under `key` straight into the local
    /// photo directory, as a crash between store write and database commit leaves it, aged `ago`.
    fn plant(
        root: &std::path::Path,
        key: &muster::photos::PhotoKey,
        ago: std::time::Duration,
    ) -> [std::path::PathBuf; 2] {
        let dir = root.join(key.org_id().to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let files = [dir.join(key.id().to_string()), dir.join(format!("{}.type", key.id()))];
        for file in &files {
            std::fs::write(file, b"orphan").unwrap();
            age(file, ago);
        }
        files
    }

    fn age(file: &std::path::Path, ago: std::time::Duration) {
        let handle = std::fs::File::options().write(true).open(file).unwrap();
        handle.set_modified(std::time::SystemTime::now() - ago).unwrap();
    }

    backend_tests! {
        /// `muster purge` (the real binary) deletes exactly the old objects no live photo row
        /// names: a crash's orphan, a temp file of an interrupted write, and an object that
        /// reappeared under an erased photo's key; it keeps a photo in use however old, and an
        /// orphan younger than the grace period (its upload may still be committing).
        async fn purge_sweeps_exactly_the_old_orphans(app: TestApp) {
            let admin = app.admin().await;
            let (_, token) = app.user(&admin, "e@example.com", &["employee"], None).await;
            let (leaver, leaver_token) = app.user(&admin, "l@example.com", &["employee"], None).await;
            let kept_id = upload(&app, &token).await;
            let erased_id = upload(&app, &leaver_token).await;
            app.post(&format!("/v1/users/{}/erase", leaver["id"].as_str().unwrap()), &admin, json!({})).await.expect(202);

            let repo = muster::startup::open_repo(&app.settings).await.unwrap();
            let org = repo.org_ids().await.unwrap()[0];
            let key_of = |photo: muster::storage::photos::PhotoRecord| muster::photos::PhotoKey::from_stored(photo.storage_key).unwrap();
            let kept = key_of(repo.get_photo(org, kept_id.parse().unwrap()).await.unwrap().unwrap());
            let erased = key_of(repo.get_photo(org, erased_id.parse().unwrap()).await.unwrap().unwrap());
            let root = std::path::PathBuf::from(app.settings.photo_store.strip_prefix("file://").unwrap());
            let old = std::time::Duration::from_secs(2 * 3600);
            let kept_file = root.join(kept.org_id().to_string()).join(kept.id().to_string());
            age(&kept_file, old);
            // A late PUT through a presigned URL issued before the erasure.
            let reappeared = plant(&root, &erased, old);
            let orphan = plant(&root, &muster::photos::PhotoKey::new(org), old);
            let young = plant(&root, &muster::photos::PhotoKey::new(org), std::time::Duration::ZERO);
            let leftover = root.join(org.to_string()).join(".tmp-0b6e0c1e-interrupted");
            std::fs::write(&leftover, b"half a photo").unwrap();
            age(&leftover, old);

            let metrics_dir = tempfile::tempdir().unwrap();
            let metrics_file = metrics_dir.path().join("muster_purge.prom");
            let purge = || {
                let dir = tempfile::tempdir().unwrap();
                let out = crate::cli::muster(dir.path())
                    .arg("purge")
                    .arg("--metrics-file")
                    .arg(&metrics_file)
                    .env("MUSTER_DATABASE_URL", &app.settings.database_url)
                    .env("MUSTER_PHOTO_STORE", &app.settings.photo_store)
                    .env("MUSTER_PHOTO_ORPHAN_GRACE_S", "3600")
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                String::from_utf8_lossy(&out.stdout).into_owned()
            };
            let first = purge();
            assert!(first.contains("2 orphaned photos and 1 leftovers of interrupted writes swept"), "{first}");
            // The one-off run's metrics, for a textfile collector.
            let metrics = std::fs::read_to_string(&metrics_file).unwrap();
            for line in [
                "muster_retention_runs_total{outcome=\"ok\"} 1",
                "muster_retention_removed_total{what=\"orphans\"} 2",
                "muster_retention_removed_total{what=\"leftovers\"} 1",
                "muster_retention_run_duration_seconds_count 1",
            ] {
                assert!(metrics.lines().any(|l| l == line), "no `{line}` in:\n{metrics}");
            }
            assert!(metrics.contains("muster_retention_last_success_timestamp_seconds "), "{metrics}");
            for gone in reappeared.iter().chain(&orphan).chain([&leftover]) {
                assert!(!gone.exists(), "{} was not swept", gone.display());
            }
            for stays in young.iter().chain([&kept_file]) {
                assert!(stays.exists(), "{} was swept", stays.display());
            }
            let photo = repo.get_photo(org, kept_id.parse().unwrap()).await.unwrap().unwrap();
            assert_eq!(photo.status, muster::storage::photos::PhotoStatus::Ready);
            let again = purge();
            assert!(again.contains("0 orphaned photos and 0 leftovers"), "{again}");
        }
    }
}

/// Export and erasure of a person with events, photos, app logs and disclosures.
mod export {
    use super::*;

    fn check_in_body(lat: f64, lon: f64) -> serde_json::Value {
        json!({
            "client_event_id": uuid::Uuid::new_v4(), "kind": "check_in", "captured_at": chrono::Utc::now().to_rfc3339(),
            "location": {"lat": lat, "lon": lon, "accuracy_m": 8.0, "provider": "gps", "is_mock": false},
            "device": {"id": "device-1", "model": "Pixel 8", "os": "android", "os_version": "15", "app_version": "1.0"},
            "note": "at the gate",
        })
    }

    backend_tests! {
        async fn exports_hold_everything_and_erasure_keeps_only_the_skeleton(app: TestApp) {
            let admin = app.admin().await;
            let (manager, manager_token) = app.user(&admin, "m@example.com", &["employee", "manager"], None).await;
            let (employee, token) = app.user(&admin, "e@example.com", &["employee"], Some(manager["id"].as_str().unwrap())).await;
            let (_, hr) = app.user(&admin, "hr@example.com", &["employee", "hr"], None).await;
            let id = employee["id"].as_str().unwrap().to_owned();
            let event = app.post("/v1/attendance/events", &token, check_in_body(12.97, 77.59)).await.expect(201);
            upload(&app, &token).await;
            let logs = json!({"device": {"id": "d1", "name": "Asha's phone", "model": "Pixel 8", "os": "android", "os_version": "15", "app_version": "1.0"},
                "app_config": {"tracking": true}, "entries": [{"ts": chrono::Utc::now().to_rfc3339(), "level": "info", "event": "sync", "message": "synced", "attrs": {}}]});
            app.post("/v1/app-logs", &token, logs).await.expect(202);
            // The manager sees the direct report's location: a disclosure.
            let seen = app.get(&format!("/v1/attendance/events/{}", event["id"].as_str().unwrap()), &manager_token).await.expect(200);
            assert_eq!(seen["location"]["lat"], 12.97);

            let mine = app.get("/v1/me/export", &token).await.expect(200);
            assert_eq!(mine["profile"]["email"], "e@example.com");
            assert_eq!(mine["events"].as_array().unwrap().len(), 1);
            assert_eq!(mine["events"][0]["location"]["lat"], 12.97);
            assert_eq!(mine["photos"].as_array().unwrap().len(), 1);
            assert_eq!(mine["event_details"][0]["note"], "at the gate");
            assert_eq!(mine["event_details"][0]["device"]["model"], "Pixel 8");
            assert_eq!(mine["app_logs"][0]["ip"], "127.0.0.1");
            assert_eq!(mine["disclosures"][0]["actor_id"], manager["id"]);
            assert_eq!(mine["disclosures"][0]["action"], "location.disclosed");

            app.get(&format!("/v1/users/{id}/export"), &manager_token).await.problem(403, "forbidden");
            let by_hr = app.get(&format!("/v1/users/{id}/export"), &hr).await.expect(200);
            assert_eq!(by_hr["events"], mine["events"]);
            let other = app.second_org("admin2@example.com").await;
            app.get(&format!("/v1/users/{id}/export"), &other).await.problem(404, "not_found");
            let audit = app.get(&format!("/v1/audit?action=privacy.exported&subject_id={id}"), &admin).await.expect(200);
            assert_eq!(audit["items"].as_array().unwrap().len(), 2);

            app.post(&format!("/v1/users/{id}/erase"), &hr, json!({})).await.expect(202);
            let after = app.get("/v1/me/export", &token).await.expect(200);
            let skeleton = &after["events"][0];
            assert_eq!(skeleton["kind"], "check_in", "the attendance skeleton stays");
            assert_eq!(skeleton["status"], event["status"]);
            assert!(skeleton["location"].is_null());
            assert!(skeleton["decision"]["distance_m"].is_null());
            assert!(skeleton["photo_url"].is_null());
            assert!(after["photos"].as_array().unwrap().is_empty());
            assert!(after["event_details"].as_array().unwrap().is_empty(), "device data and notes are erased");
            assert!(after["app_logs"].as_array().unwrap().is_empty());
            let listed = app.get("/v1/attendance/events", &token).await.expect(200);
            assert!(listed["items"][0]["location"].is_null());
        }

        async fn retention_removes_locations_older_than_the_policy(app: TestApp) {
            let admin = app.admin().await;
            let (_, token) = app.user(&admin, "e@example.com", &["employee"], None).await;
            let old = app.post("/v1/attendance/events", &token, check_in_body(12.97, 77.59)).await.expect(201);
            let mut policy = app.get("/v1/policy", &admin).await.expect(200);
            policy["retention"]["location_days"] = json!(30);
            app.put("/v1/policy", &admin, policy).await.expect(200);
            let stamp = match app.backend {
                Backend::Postgres => "now() - interval '31 days'".to_owned(),
                Backend::Sqlite => format!(
                    "'{}'",
                    (chrono::Utc::now() - chrono::Duration::days(31)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                ),
            };
            app.sql(&format!("UPDATE attendance_events SET captured_at = {stamp}")).await;
            let fresh = app.post("/v1/attendance/events", &token, check_in_body(12.97, 77.59)).await.expect(201);
            let repo = muster::startup::open_repo(&app.settings).await.unwrap();
            let photos = muster::photos::open(&app.settings.photo_store, &app.settings.s3_options()).await.unwrap();
            let purged = muster::privacy::run_retention(repo.as_ref(), photos.as_ref(), app.retention(1)).await.unwrap();
            assert_eq!(purged.locations, 1);
            let get = |e: &serde_json::Value| format!("/v1/attendance/events/{}", e["id"].as_str().unwrap());
            let expired = app.get(&get(&old), &token).await.expect(200);
            assert!(expired["location"].is_null(), "the old location is gone");
            assert_eq!(expired["kind"], "check_in", "the event itself stays");
            assert_eq!(app.get(&get(&fresh), &token).await.expect(200)["location"]["lat"], 12.97);
        }
    }
}
