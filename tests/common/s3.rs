//! A real S3 server inside the test process, for any integration test that needs one.
//!
//! s3s + s3s-fs serve a temp directory on `127.0.0.1:0` and verify SigV4 signatures
//! (headers and presigned URLs, with expiry) against one fixed key pair, so tests see
//! what a real S3 does with wrong secrets or tampered URLs, with nothing installed.
//! Self-contained: use it through `mod common;` (with `pub mod s3;` in
//! `tests/common/mod.rs`) or directly with `#[path = "common/s3.rs"] mod s3;`.
//!
//! ```ignore
//! let s3 = TestS3::start().await;
//! // MUSTER_PHOTO_STORE = s3.store_url(), with s3.endpoint / access_key / secret_key
//! ```
//!
//! s3s-fs does not implement object versioning (ListObjectVersions answers 501).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub const TEST_ACCESS_KEY: &str = "MUSTERTESTACCESSKEY1";
pub const TEST_SECRET_KEY: &str = "muster-test-secret-key/0123456789abcdef";
pub const TEST_BUCKET: &str = "muster-photos";
pub const TEST_REGION: &str = "us-east-1";

/// A running in-process S3 server. Stops accepting connections when dropped; its
/// files live as long as `dir`.
pub struct TestS3 {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    /// Already created.
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    /// The server's data: `dir/BUCKET/KEY` is the object `KEY`.
    pub dir: tempfile::TempDir,
    server: JoinHandle<()>,
}

impl TestS3 {
    /// Starts an s3s-fs server with a fresh temp directory and bucket. Panics on
    /// failure (it is test setup).
    pub async fn start() -> TestS3 {
        TestS3::start_with(|root| s3s_fs::FileSystem::new(root).expect("s3s-fs over the temp dir")).await
    }

    /// Starts a server backed by another `s3s::S3` implementation (e.g. one that
    /// emulates behaviour s3s-fs lacks), built from the temp directory's path; the same
    /// SigV4 authentication applies.
    pub async fn start_with<S: s3s::S3>(make: impl FnOnce(&Path) -> S) -> TestS3 {
        let dir = tempfile::tempdir().expect("temp dir for the S3 server");
        // s3s-fs keeps each bucket as a directory of the root.
        std::fs::create_dir(dir.path().join(TEST_BUCKET)).expect("create the test bucket");
        let backend = make(dir.path());

        let service = {
            let mut builder = S3ServiceBuilder::new(backend);
            builder.set_auth(SimpleAuth::from_single(TEST_ACCESS_KEY, TEST_SECRET_KEY));
            builder.build()
        };

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the S3 server");
        let addr = listener.local_addr().expect("S3 server address");
        let server = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    // Out of descriptors or similar: back off instead of spinning.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = ConnBuilder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });

        TestS3 {
            endpoint: format!("http://{addr}"),
            bucket: TEST_BUCKET.to_owned(),
            access_key: TEST_ACCESS_KEY.to_owned(),
            secret_key: TEST_SECRET_KEY.to_owned(),
            region: TEST_REGION.to_owned(),
            dir,
            server,
        }
    }

    /// The photo store URL for this server: `s3://BUCKET` (or with a prefix).
    pub fn store_url(&self, prefix: Option<&str>) -> String {
        match prefix {
            Some(prefix) => format!("s3://{}/{prefix}", self.bucket),
            None => format!("s3://{}", self.bucket),
        }
    }

    /// Environment variables that point the standard AWS chain at this server, for
    /// tests that start the whole server with `MUSTER_PHOTO_STORE = store_url(..)`.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_S3", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            ("AWS_REGION", self.region.clone()),
        ]
    }

    /// Where the server keeps object `key` on disk.
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.dir.path().join(&self.bucket).join(key)
    }
}

impl Drop for TestS3 {
    fn drop(&mut self) {
        self.server.abort();
    }
}
