//! The S3 photo store (`s3://BUCKET/PREFIX`), for AWS S3 and S3-compatible stores.
//!
//! Besides put/get/delete it hands out presigned URLs, so phones can upload straight
//! to the bucket and viewers can fetch a photo without it passing through the server.
//! Configuration follows the standard AWS chain unless `S3Options` overrides a field,
//! and adapts to non-AWS endpoints (path-style addressing, checksums only when
//! required: CRATES.md explains why some stores reject or corrupt `aws-chunked`
//! uploads otherwise).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Object, ServerSideEncryption};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::store::{
    BoxError, Cause, ListedPage, ListedPhoto, PhotoKey, PhotoListing, PhotoStore, PresignedPut, StoreError,
    StoredPhoto, check_content_type,
};

const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// S3 settings for the server configuration. Every `None` is left to the standard
/// AWS configuration chain (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_ENDPOINT_URL_S3`, profiles, instance roles, ...).
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct S3Options {
    /// An S3-compatible endpoint, e.g. `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`); defaults to true when an
    /// endpoint is set, since most S3-compatible stores have no per-bucket DNS.
    pub force_path_style: Option<bool>,
    /// `AES256` or `aws:kms`; unset leaves it to the bucket's default encryption.
    pub server_side_encryption: Option<String>,
    /// The KMS key for `aws:kms` (the bucket's or AWS-managed key when unset).
    pub sse_kms_key_id: Option<String>,
}

// By hand: the secret must never reach a log through `{:?}` of the settings.
impl fmt::Debug for S3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "[redacted]"),
            )
            .field("force_path_style", &self.force_path_style)
            .field("server_side_encryption", &self.server_side_encryption)
            .field("sse_kms_key_id", &self.sse_kms_key_id)
            .finish()
    }
}

#[derive(Clone, Debug)]
enum Sse {
    Aes256,
    Kms { key_id: Option<String> },
}

/// Photos as objects in one bucket, under an optional prefix.
#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    /// `"PREFIX/"`, or empty without a prefix: what every object key starts with.
    key_prefix: String,
    sse: Option<Sse>,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.bucket)
            .field("key_prefix", &self.key_prefix)
            .field("sse", &self.sse)
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// Builds the client. No request is sent: see [`PhotoStore::health`].
    pub async fn connect(
        bucket: impl Into<String>,
        prefix: impl Into<String>,
        options: &S3Options,
    ) -> Result<S3Store, StoreError> {
        let sse = match (options.server_side_encryption.as_deref(), &options.sse_kms_key_id) {
            (None, None) => None,
            (Some("AES256"), None) => Some(Sse::Aes256),
            (Some("aws:kms"), key_id) => Some(Sse::Kms { key_id: key_id.clone() }),
            (_, Some(_)) => {
                return Err(StoreError::NotConfigured(
                    "sse_kms_key_id needs server_side_encryption = \"aws:kms\"".into(),
                ));
            }
            (Some(_), None) => {
                return Err(StoreError::NotConfigured(
                    "server_side_encryption must be \"AES256\" or \"aws:kms\"".into(),
                ));
            }
        };

        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
            // Without these a hung endpoint would hold check-in requests forever.
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(60))
                .operation_timeout(Duration::from_secs(120))
                .build(),
        );
        if let Some(region) = &options.region {
            loader = loader.region(Region::new(region.clone()));
        }
        match (&options.access_key_id, &options.secret_access_key) {
            (Some(id), Some(secret)) => {
                loader = loader.credentials_provider(Credentials::new(
                    id.clone(),
                    secret.clone(),
                    None,
                    None,
                    "muster-config",
                ));
            }
            (None, None) => {}
            _ => {
                return Err(StoreError::NotConfigured(
                    "set both access_key_id and secret_access_key, or neither".into(),
                ));
            }
        }
        if let Some(endpoint) = &options.endpoint {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(StoreError::NotConfigured(
                    "the S3 endpoint must be an http:// or https:// URL".into(),
                ));
            }
            loader = loader.endpoint_url(endpoint.clone());
        }
        let sdk = loader.load().await;

        // The S3 client resolves AWS_ENDPOINT_URL_S3 itself; we look too, because a
        // custom endpoint changes addressing and checksum defaults below.
        let endpoint = options
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_S3").ok())
            .or_else(|| sdk.endpoint_url().map(str::to_owned))
            .filter(|url| !url.is_empty());

        let mut config = aws_sdk_s3::config::Builder::from(&sdk);
        if sdk.region().is_none() {
            if endpoint.is_some() {
                // SigV4 needs a region; S3-compatible stores conventionally accept this one.
                config = config.region(Region::new("us-east-1"));
            } else {
                return Err(StoreError::NotConfigured(
                    "no AWS region: set AWS_REGION or the photo store's region".into(),
                ));
            }
        }
        if let Some(path_style) = options.force_path_style.or(endpoint.as_ref().map(|_| true)) {
            config = config.force_path_style(path_style);
        }
        if endpoint.as_deref().is_some_and(|url| !is_aws_endpoint(url)) {
            config = config
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        }

        Ok(S3Store {
            client: Client::from_conf(config.build()),
            bucket: bucket.into(),
            key_prefix: match prefix.into().trim_matches('/') {
                "" => String::new(),
                prefix => format!("{prefix}/"),
            },
            sse,
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The object key of a photo: `PREFIX/{org_id}/{photo_id}`.
    pub fn object_key(&self, key: &PhotoKey) -> String {
        format!("{}{}", self.key_prefix, key.as_str())
    }

    /// Deletes every version and delete marker of `object`. `Ok(false)` when the store
    /// cannot list versions (not implemented, or not permitted), so the caller falls
    /// back to a plain delete.
    async fn delete_versions(&self, object: &str) -> Result<bool, StoreError> {
        let mut versions: Vec<String> = Vec::new();
        let mut key_marker: Option<String> = None;
        let mut version_marker: Option<String> = None;
        loop {
            let listed = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(object)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await;
            let page = match listed {
                Ok(page) => page,
                Err(e) if listing_unsupported(&e) => {
                    // A versioned bucket would keep noncurrent copies of an erased
                    // photo: say so loudly rather than silently.
                    tracing::warn!(
                        error = %DisplayErrorContext(&e),
                        "cannot list object versions; deleting the current version only"
                    );
                    return Ok(false);
                }
                Err(e) => return Err(sdk_error("delete", e)),
            };
            let exact = |key: Option<&str>| key == Some(object);
            versions.extend(
                page.versions()
                    .iter()
                    .filter(|v| exact(v.key()))
                    .filter_map(|v| v.version_id().map(str::to_owned)),
            );
            versions.extend(
                page.delete_markers()
                    .iter()
                    .filter(|m| exact(m.key()))
                    .filter_map(|m| m.version_id().map(str::to_owned)),
            );
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
            if key_marker.is_none() && version_marker.is_none() {
                break;
            }
        }
        if versions.is_empty() {
            // Some compatible stores list nothing for unversioned buckets.
            return Ok(false);
        }
        for version in versions {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(object)
                .version_id(version)
                .send()
                .await
                .map_err(|e| sdk_error("delete", e))?;
        }
        Ok(true)
    }
}

#[async_trait]
impl PhotoStore for S3Store {
    async fn put(&self, key: &PhotoKey, body: Bytes, content_type: &str) -> Result<(), StoreError> {
        check_content_type(content_type)?;
        let length = i64::try_from(body.len()).map_err(|e| StoreError::Failed {
            op: "put",
            source: Box::new(e),
        })?;
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .content_type(content_type)
            .content_length(length)
            .body(ByteStream::from(body));
        match &self.sse {
            Some(Sse::Aes256) => {
                request = request.server_side_encryption(ServerSideEncryption::Aes256);
            }
            Some(Sse::Kms { key_id }) => {
                request = request
                    .server_side_encryption(ServerSideEncryption::AwsKms)
                    .set_ssekms_key_id(key_id.clone());
            }
            None => {}
        }
        request.send().await.map_err(|e| sdk_error("put", e))?;
        tracing::debug!(key = %key, "photo stored in S3");
        Ok(())
    }

    async fn get(&self, key: &PhotoKey) -> Result<Option<StoredPhoto>, StoreError> {
        let answer = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .send()
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => return Ok(None),
            Err(e) => return Err(sdk_error("get", e)),
        };
        let content_type = output.content_type().unwrap_or(DEFAULT_CONTENT_TYPE).to_owned();
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Unavailable {
                op: "get",
                source: Box::new(e),
            })?
            .into_bytes();
        Ok(Some(StoredPhoto { bytes, content_type }))
    }

    async fn head(&self, key: &PhotoKey) -> Result<Option<u64>, StoreError> {
        let answer = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .send()
            .await;
        match answer {
            Ok(output) => Ok(Some(
                output
                    .content_length()
                    .and_then(|len| u64::try_from(len).ok())
                    .unwrap_or(0),
            )),
            // HEAD answers carry no body, so a 404 is all S3 says about a missing key.
            Err(SdkError::ServiceError(e)) if e.err().is_not_found() => Ok(None),
            Err(e) => Err(sdk_error("head", e)),
        }
    }

    async fn delete(&self, key: &PhotoKey) -> Result<(), StoreError> {
        let object = self.object_key(key);
        if !self.delete_versions(&object).await? {
            // Unversioned (or unlistable) bucket: one delete; S3 answers 204 for a
            // missing key too, which is what makes this idempotent.
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(&object)
                .send()
                .await
                .map_err(|e| sdk_error("delete", e))?;
        }
        tracing::debug!(key = %key, "photo deleted from S3");
        Ok(())
    }

    async fn signed_get_url(&self, key: &PhotoKey, ttl: Duration) -> Result<Option<String>, StoreError> {
        let op = "signed get url";
        let config = presigning_config(op, ttl)?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            // Personal data: browsers and proxies should not keep a copy.
            .response_cache_control("private, no-store")
            .presigned(config)
            .await
            .map_err(|e| sdk_error(op, e))?;
        Ok(Some(request.uri().to_owned()))
    }

    async fn presign_put(
        &self,
        key: &PhotoKey,
        content_type: &str,
        max_bytes: u64,
        ttl: Duration,
    ) -> Result<Option<PresignedPut>, StoreError> {
        let op = "presigned put";
        check_content_type(content_type)?;
        let length = i64::try_from(max_bytes)
            .ok()
            .filter(|len| *len > 0)
            .ok_or_else(|| StoreError::Failed {
                op,
                source: Box::new(Cause("the signed upload size must be positive".into())),
            })?;
        let config = presigning_config(op, ttl)?;
        let expires_at = Utc::now()
            + chrono::Duration::from_std(ttl).map_err(|e| StoreError::Failed {
                op,
                source: Box::new(e),
            })?;
        // Content type and length become signed headers: the phone cannot send a
        // different type or a bigger file with this URL.
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .content_type(content_type)
            .content_length(length);
        match &self.sse {
            Some(Sse::Aes256) => {
                request = request.server_side_encryption(ServerSideEncryption::Aes256);
            }
            Some(Sse::Kms { key_id }) => {
                request = request
                    .server_side_encryption(ServerSideEncryption::AwsKms)
                    .set_ssekms_key_id(key_id.clone());
            }
            None => {}
        }
        let presigned = request.presigned(config).await.map_err(|e| sdk_error(op, e))?;
        let headers = presigned
            .headers()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
            .collect();
        Ok(Some(PresignedPut {
            url: presigned.uri().to_owned(),
            headers,
            expires_at,
        }))
    }

    fn list(&self, older_than: DateTime<Utc>, page_size: u32) -> Box<dyn PhotoListing> {
        Box::new(Listing {
            store: self.clone(),
            older_than,
            // S3 answers at most 1,000 keys a page whatever is asked.
            page_size: i32::try_from(page_size).unwrap_or(i32::MAX),
            next: Some(None),
        })
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| sdk_error("health check", e))?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "s3"
    }
}

/// ListObjectsV2 under the store's prefix, a page per request.
struct Listing {
    store: S3Store,
    older_than: DateTime<Utc>,
    page_size: i32,
    /// The continuation token of the next request (`Some(None)`: the first one), or
    /// `None` once the last page was read.
    next: Option<Option<String>>,
}

impl Listing {
    /// The photo `object` holds, if it is one of ours written before the cutoff. An object
    /// without a time is skipped: its age is unknown, so it is not judged an orphan.
    fn photo(&self, object: &Object) -> Option<ListedPhoto> {
        let key = object.key()?.strip_prefix(&self.store.key_prefix)?;
        let key = PhotoKey::from_stored(key.to_owned()).ok()?;
        let modified = object.last_modified()?;
        let modified = DateTime::from_timestamp(modified.secs(), modified.subsec_nanos())?;
        (modified < self.older_than).then_some(ListedPhoto { key, modified })
    }
}

#[async_trait]
impl PhotoListing for Listing {
    async fn next_page(&mut self) -> Result<Option<ListedPage>, StoreError> {
        let Some(token) = self.next.take() else {
            return Ok(None);
        };
        let answer = self
            .store
            .client
            .list_objects_v2()
            .bucket(&self.store.bucket)
            .prefix(&self.store.key_prefix)
            .max_keys(self.page_size)
            .set_continuation_token(token.clone())
            .send()
            .await;
        let page = match answer {
            Ok(page) => page,
            Err(e) => {
                // Asked again, the listing retries this page.
                self.next = Some(token);
                return Err(sdk_error("list", e));
            }
        };
        if page.is_truncated() == Some(true) {
            self.next = page.next_continuation_token().map(|token| Some(token.to_owned()));
        }
        Ok(Some(ListedPage {
            photos: page.contents().iter().filter_map(|object| self.photo(object)).collect(),
            leftovers_removed: 0,
        }))
    }
}

fn presigning_config(op: &'static str, ttl: Duration) -> Result<PresigningConfig, StoreError> {
    PresigningConfig::expires_in(ttl).map_err(|e| StoreError::Failed {
        op,
        source: Box::new(e),
    })
}

/// AWS's own endpoints keep the SDK's default (and stronger) checksum behaviour.
fn is_aws_endpoint(url: &str) -> bool {
    let host = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', ':', '?'])
        .next()
        .unwrap_or("");
    host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn")
}

/// S3 error codes that mean "your credentials or grants are wrong".
const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "NotSignedUp",
    "AllAccessDisabled",
    "AccountProblem",
];

/// Maps an SDK error to a `StoreError`, keeping its text (code and message, never the
/// request URL or credentials) as the cause for the logs.
fn sdk_error<E>(op: &'static str, error: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let source: BoxError = Box::new(Cause(DisplayErrorContext(&error).to_string()));
    match &error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().unwrap_or_default();
            if status == 401 || status == 403 || DENIED_CODES.contains(&code) {
                StoreError::Denied { op, source }
            } else if status >= 500 || status == 429 || code == "SlowDown" {
                StoreError::Unavailable { op, source }
            } else {
                StoreError::Failed { op, source }
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable { op, source }
        }
        _ => StoreError::Failed { op, source },
    }
}

/// Whether a ListObjectVersions failure means "this store or these grants do not do
/// versions" rather than an outage.
fn listing_unsupported<E>(error: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    match error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().unwrap_or_default();
            matches!(status, 403 | 405 | 501) || matches!(code, "NotImplemented" | "AccessDenied" | "MethodNotAllowed")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_secret() {
        let options = S3Options {
            access_key_id: Some("AKIAEXAMPLE".into()),
            secret_access_key: Some("super-secret-value".into()),
            ..S3Options::default()
        };
        let text = format!("{options:?}");
        assert!(text.contains("[redacted]"), "{text}");
        assert!(!text.contains("super-secret-value"), "{text}");
    }

    #[test]
    fn aws_endpoints_are_recognised() {
        assert!(is_aws_endpoint("https://s3.eu-west-1.amazonaws.com"));
        assert!(is_aws_endpoint("https://bucket.s3.amazonaws.com:443/x"));
        assert!(!is_aws_endpoint("http://127.0.0.1:9000"));
        assert!(!is_aws_endpoint("https://amazonaws.com.evil.example"));
    }
}
