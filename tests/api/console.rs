//! The web console's HTTP side: the page and its files as served, their types, caching and
//! security headers, the tile setting, 404s. (The page itself is tested in a browser by
//! tests/console/.)

use reqwest::{Method, StatusCode};
use std::collections::BTreeSet;

use crate::common::{Answer, TestApp};

async fn fetch(app: &TestApp, method: Method, path: &str) -> Answer {
    TestApp::answer(app.client.request(method, app.url(path)).send().await.expect("sent")).await
}

async fn get(app: &TestApp, path: &str) -> Answer {
    fetch(app, Method::GET, path).await
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The policy's directives by name.
fn policy(answer: &Answer) -> Vec<(String, String)> {
    header(answer, "content-security-policy")
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let (name, sources) = d.split_once(' ').unwrap_or((d, ""));
            (name.to_owned(), sources.to_owned())
        })
        .collect()
}

#[track_caller]
fn assert_console_headers(answer: &Answer, img_src: &str) {
    let directives = policy(answer);
    let of = |name: &str| {
        directives
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.as_str())
            .unwrap_or_else(|| panic!("no {name} in {directives:?}"))
    };
    assert_eq!(of("default-src"), "'self'");
    assert_eq!(of("script-src"), "'self'");
    assert_eq!(of("style-src"), "'self'");
    assert_eq!(of("connect-src"), "'self'");
    assert_eq!(of("img-src"), img_src);
    assert_eq!(of("frame-ancestors"), "'none'");
    assert_eq!(of("object-src"), "'none'");
    assert!(!header(answer, "content-security-policy").contains("unsafe"));
    assert_eq!(header(answer, "x-content-type-options"), "nosniff");
    assert_eq!(header(answer, "x-frame-options"), "DENY");
    assert!(answer.headers.get("set-cookie").is_none(), "the console sets no cookie");
}

/// The `static/{version}/...` paths the page names.
fn static_paths(index: &str) -> Vec<String> {
    index
        .split('"')
        .filter(|s| s.starts_with("static/"))
        .map(|s| format!("/console/{s}"))
        .collect()
}

/// The relative module imports of a script (`from './api.js'`).
fn imports(script: &str) -> Vec<String> {
    script
        .split("from '")
        .skip(1)
        .filter_map(|rest| rest.split_once('\''))
        .map(|(path, _)| path.to_owned())
        .filter(|path| path.starts_with("./"))
        .collect()
}

backend_tests! {
    async fn the_page_and_its_files_are_served_with_types_caching_and_a_strict_policy(app: TestApp) {
        let osm = "'self' https://tile.openstreetmap.org";
        let redirect = get(&app, "/console").await;
        assert_eq!(redirect.status, StatusCode::PERMANENT_REDIRECT);
        assert_eq!(header(&redirect, "location"), "console/");
        assert_console_headers(&redirect, osm);

        let page = get(&app, "/console/").await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&page, "cache-control"), "no-cache");
        assert_eq!(header(&page, "referrer-policy"), "strict-origin-when-cross-origin");
        assert_console_headers(&page, osm);
        assert!(page.text.contains("<script type=\"module\""));
        assert!(!page.text.contains("__VERSION__"));
        assert!(!page.text.contains("style="), "no inline styles");
        assert!(!page.text.contains("<style"), "no inline styles");

        // Unchanged: 304, with the same headers and no body.
        let etag = header(&page, "etag").to_owned();
        assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
        let again = TestApp::answer(app.client.get(app.url("/console/")).header("if-none-match", &etag).send().await.unwrap()).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        assert!(again.text.is_empty());
        assert_eq!(header(&again, "etag"), etag);
        assert_console_headers(&again, osm);

        // Every file the page names, and every module those import, is there with its type,
        // cached for good under its versioned URL.
        let mut seen = BTreeSet::new();
        let mut queue = static_paths(&page.text);
        assert!(queue.len() >= 6, "{queue:?}");
        while let Some(path) = queue.pop() {
            if !seen.insert(path.clone()) {
                continue;
            }
            let file = get(&app, &path).await;
            assert_eq!(file.status, StatusCode::OK, "{path}");
            assert_eq!(header(&file, "cache-control"), "public, max-age=31536000, immutable", "{path}");
            assert!(!header(&file, "etag").is_empty(), "{path}");
            assert_console_headers(&file, osm);
            let expected = match path.rsplit('.').next() {
                Some("js") => "text/javascript; charset=utf-8",
                Some("css") => "text/css; charset=utf-8",
                Some("svg") => "image/svg+xml",
                Some("md") => "text/plain; charset=utf-8",
                _ => panic!("unexpected file {path}"),
            };
            assert_eq!(header(&file, "content-type"), expected, "{path}");
            if path.ends_with(".js") {
                let dir = &path[..path.rfind('/').unwrap()];
                queue.extend(imports(&file.text).into_iter().map(|i| format!("{dir}/{}", i.trim_start_matches("./"))));
            }
        }
        assert!(seen.iter().any(|p| p.ends_with("/js/geofences.js")), "{seen:?}");
        assert!(seen.iter().any(|p| p.ends_with("/js/team.js")), "{seen:?}");

        let main = seen.iter().find(|p| p.ends_with("/js/main.js")).unwrap().clone();
        let version_dir = &main[..main.len() - "js/main.js".len()];
        for (file, kind) in [("vendor/leaflet/images/layers.png", "image/png"), ("img/empty.gif", "image/gif"),
            ("vendor/leaflet/LICENSE", "text/plain; charset=utf-8"), ("vendor/geoman/THIRD-PARTY-LICENSES", "text/plain; charset=utf-8")] {
            let answer = get(&app, &format!("{version_dir}{file}")).await;
            assert_eq!(answer.status, StatusCode::OK, "{file}");
            assert_eq!(header(&answer, "content-type"), kind, "{file}");
        }

        // HEAD: the headers of a GET, no body.
        let head = fetch(&app, Method::HEAD, &main).await;
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(header(&head, "content-type"), "text/javascript; charset=utf-8");
        assert!(head.text.is_empty());
    }

    async fn unknown_console_paths_are_404_with_the_console_headers(app: TestApp) {
        let osm = "'self' https://tile.openstreetmap.org";
        let page = get(&app, "/console/").await;
        let main = static_paths(&page.text).into_iter().find(|p| p.ends_with("/js/main.js")).unwrap();
        let version_dir = &main[..main.len() - "js/main.js".len()];
        for path in [
            format!("{version_dir}js/missing.js"),
            format!("{version_dir}index.html"),
            format!("{version_dir}..%2F..%2F..%2FCargo.toml"),
            "/console/static/0000000000000000/js/main.js".to_owned(),
            "/console/js/main.js".to_owned(),
            "/console/index.html".to_owned(),
            "/console/nothing/here".to_owned(),
        ] {
            let answer = get(&app, &path).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(header(&answer, "content-type"), "application/problem+json", "{path}");
            assert_eq!(answer.body["code"], "not_found");
            assert_console_headers(&answer, osm);
        }
        let posted = fetch(&app, Method::POST, "/console/").await;
        assert_eq!(posted.status, StatusCode::NOT_FOUND);
        assert_console_headers(&posted, osm);
        // The API's answers are not the console's: no console policy on them.
        assert!(get(&app, "/healthz").await.headers.get("content-security-policy").is_none());
    }

    async fn the_tile_source_is_a_setting_named_in_the_policy(app: TestApp) {
        let config = get(&app, "/console/config.json").await;
        assert_eq!(config.status, StatusCode::OK);
        assert_eq!(header(&config, "content-type"), "application/json");
        assert_eq!(header(&config, "cache-control"), "no-cache");
        assert_eq!(config.body["tiles"]["url"], "https://tile.openstreetmap.org/{z}/{x}/{y}.png");
        assert_eq!(config.body["tiles"]["attribution"], "© OpenStreetMap contributors");
        assert_eq!(config.body["tiles"]["attribution_url"], "https://www.openstreetmap.org/copyright");
        assert_eq!(config.body["tiles"]["max_zoom"], 19);
        assert_console_headers(&config, "'self' https://tile.openstreetmap.org");

        let off = app.replica_with(|s| s.console_tile_url = "off".into()).await;
        let answer = TestApp::answer(app.client.get(format!("{off}/console/config.json")).send().await.unwrap()).await;
        assert_eq!(answer.body, serde_json::json!({"tiles": null}));
        assert_console_headers(&answer, "'self'");

        let custom = app.replica_with(|s| {
            s.console_tile_url = "https://{s}.tiles.example.org/{z}/{x}/{y}.png".into();
            s.console_tile_attribution_url = "off".into();
        }).await;
        let answer = TestApp::answer(app.client.get(format!("{custom}/console/")).send().await.unwrap()).await;
        assert_console_headers(&answer, "'self' https://*.tiles.example.org");
        let answer = TestApp::answer(app.client.get(format!("{custom}/console/config.json")).send().await.unwrap()).await;
        assert_eq!(answer.body["tiles"]["attribution_url"], serde_json::Value::Null);
    }

    async fn the_console_can_be_switched_off(app: TestApp) {
        let off = app.replica_with(|s| s.console_enabled = false).await;
        for path in ["/console", "/console/", "/console/config.json"] {
            let answer = TestApp::answer(app.client.get(format!("{off}{path}")).send().await.unwrap()).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        }
        let on = get(&app, "/console/").await;
        let main = static_paths(&on.text).into_iter().find(|p| p.ends_with("/js/main.js")).unwrap();
        let answer = TestApp::answer(app.client.get(format!("{off}{main}")).send().await.unwrap()).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
    }
}

#[test]
fn bad_tile_settings_stop_the_server_from_starting() {
    for (url, attribution_url) in [
        ("https://tiles.example/{z}/{x}/{y}.png; script-src *", "off"),
        ("javascript:alert(1)", "off"),
        ("https://tiles.example/{z}/{x}/{y}.png", "javascript:alert(1)"),
    ] {
        let args = muster::config::SettingsArgs {
            console_tile_url: Some(url.into()),
            console_tile_attribution_url: Some(attribution_url.into()),
            ..Default::default()
        };
        assert!(
            muster::config::Settings::load(&args).is_err(),
            "{url} / {attribution_url} was accepted"
        );
    }
}
