//! The web console's files (the top-level `console/` folder), embedded in the binary so the
//! console is served with no build step and nothing to install beside `muster`.
//!
//! Every file but `index.html` is served under `/console/static/{version}/`, where the
//! version is a hash of all the files: a new binary with changed files gets new URLs, so those
//! answers may be cached for ever. The modules import each other and the stylesheets name
//! their images by relative paths, which keep the versioned prefix without rewriting a file;
//! only `index.html` names it, through [`VERSION_MARK`].

use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::LazyLock;

/// Written in `index.html` where the versioned prefix goes (`static/__VERSION__/js/main.js`).
const VERSION_MARK: &str = "__VERSION__";

/// The page every console URL starts from; served at `/console/`, never under `static/`.
const INDEX: &str = "index.html";

macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/console/", $path)) as &[u8])),*]
    };
}

/// Every file of `console/` (a unit test fails when one is added there but not here).
const FILES: &[(&str, &[u8])] = embed![
    "index.html",
    "css/console.css",
    "img/empty.gif",
    "img/favicon.svg",
    "js/api.js",
    "js/dom.js",
    "js/geofences.js",
    "js/geometry.js",
    "js/main.js",
    "js/map.js",
    "js/team.js",
    "js/testpoint.js",
    "vendor/README.md",
    "vendor/geoman/LICENSE",
    "vendor/geoman/THIRD-PARTY-LICENSES",
    "vendor/geoman/leaflet-geoman.css",
    "vendor/geoman/leaflet-geoman.min.js",
    "vendor/leaflet/LICENSE",
    "vendor/leaflet/images/layers-2x.png",
    "vendor/leaflet/images/layers.png",
    "vendor/leaflet/images/marker-icon-2x.png",
    "vendor/leaflet/images/marker-icon.png",
    "vendor/leaflet/images/marker-shadow.png",
    "vendor/leaflet/leaflet.css",
    "vendor/leaflet/leaflet.js",
];

/// One file as it is answered.
pub struct Asset {
    /// Shared, so an answer clones a pointer, not the file.
    pub body: Bytes,
    pub content_type: &'static str,
    /// A strong validator: a hash of the body, quoted.
    pub etag: String,
}

impl Asset {
    pub fn new(path: &str, body: Vec<u8>) -> Asset {
        let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..32]);
        Asset {
            body: Bytes::from(body),
            content_type: content_type(path).unwrap_or("application/octet-stream"),
            etag,
        }
    }
}

pub struct Assets {
    /// The hash of every file, naming this build's `static/` prefix.
    pub version: String,
    /// `index.html` with the version written in.
    pub index: Asset,
    files: HashMap<&'static str, Asset>,
}

impl Assets {
    /// The file at `path` below `static/{version}/`.
    pub fn file(&self, path: &str) -> Option<&Asset> {
        self.files.get(path)
    }
}

/// The console's files, hashed once per process.
pub fn assets() -> &'static Assets {
    static ASSETS: LazyLock<Assets> = LazyLock::new(|| build(FILES));
    &ASSETS
}

fn build(files: &[(&'static str, &[u8])]) -> Assets {
    let mut hash = Sha256::new();
    for (path, body) in files {
        // Lengths first, so that no two different file sets hash alike.
        hash.update((path.len() as u64).to_le_bytes());
        hash.update(path.as_bytes());
        hash.update((body.len() as u64).to_le_bytes());
        hash.update(body);
    }
    let version = hex::encode(hash.finalize())[..16].to_owned();
    let index = files
        .iter()
        .find(|(path, _)| *path == INDEX)
        .map(|(_, body)| String::from_utf8_lossy(body).replace(VERSION_MARK, &version))
        .unwrap_or_default();
    Assets {
        index: Asset::new(INDEX, index.into_bytes()),
        files: files
            .iter()
            .filter(|(path, _)| *path != INDEX)
            .map(|(path, body)| (*path, Asset::new(path, body.to_vec())))
            .collect(),
        version,
    }
}

/// The media type of a console file, by its name. Scripts are `text/javascript`, which
/// HTML requires of module scripts; licence files have no extension and are text. The
/// vendor README (the page's "Third-party licences" link) is plain text too: browsers
/// download `text/markdown` instead of showing it.
fn content_type(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let extension = name.rsplit_once('.').map(|(_, e)| e);
    Some(match extension {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("md") => "text/plain; charset=utf-8",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        None if name.chars().all(|c| c.is_ascii_uppercase() || c == '-') => "text/plain; charset=utf-8",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn files_below(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files_below(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }

    #[test]
    fn every_file_of_the_folder_is_embedded_with_a_known_type() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        let mut on_disk = Vec::new();
        files_below(&root, &root, &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk, "console/ and FILES differ");
        for (path, _) in FILES {
            assert!(content_type(path).is_some(), "{path} has no content type");
        }
    }

    #[test]
    fn the_index_names_the_versioned_prefix_and_the_version_follows_the_files() {
        let a = assets();
        let index = String::from_utf8(a.index.body.to_vec()).unwrap();
        assert!(!index.contains(VERSION_MARK));
        assert!(index.contains(&format!("static/{}/js/main.js", a.version)));
        let changed = build(&[("index.html", b"x"), ("js/main.js", b"1")]);
        let again = build(&[("index.html", b"x"), ("js/main.js", b"1")]);
        let other = build(&[("index.html", b"x"), ("js/main.js", b"2")]);
        assert_eq!(changed.version, again.version);
        assert_ne!(changed.version, other.version);
        assert_ne!(
            changed.file("js/main.js").unwrap().etag,
            other.file("js/main.js").unwrap().etag
        );
        assert!(changed.file("index.html").is_none(), "the index has one URL only");
    }
}
