//! Opening the configured photo store from its URL (`MUSTER_PHOTO_STORE`).
//!
//! The one place that knows every backend: the backends depend on the store contract
//! (`store.rs`) and this file on them, so the contract never has to name a backend.

use std::sync::Arc;

use super::local::FileStore;
use super::s3::{S3Options, S3Store};
use super::store::{PhotoStore, StoreError};

/// Opens the store named by `url` (`MUSTER_PHOTO_STORE`):
/// - `file://DIR`: a directory, relative (`file://muster-data/photos`) or absolute
///   (`file:///var/lib/muster/photos`), created if missing with owner-only permissions;
/// - `s3://BUCKET` or `s3://BUCKET/PREFIX`: keys go under `PREFIX/`; credentials,
///   region and endpoint come from `s3`, else from the standard AWS chain.
///
/// No network call is made: use [`PhotoStore::health`] to check reachability, so a
/// server can start (and report not-ready) while S3 is briefly away.
pub async fn open(url: &str, s3: &S3Options) -> Result<Arc<dyn PhotoStore>, StoreError> {
    // Error messages never echo the URL: an operator might have pasted credentials in it.
    if let Some(dir) = url.strip_prefix("file://") {
        if dir.is_empty() || dir.contains('\0') {
            return Err(StoreError::NotConfigured(
                "a file:// photo store URL needs a directory, e.g. file://muster-data/photos".into(),
            ));
        }
        let store = FileStore::open(dir).await?;
        Ok(Arc::new(store))
    } else if let Some(location) = url.strip_prefix("s3://") {
        let (bucket, prefix) = parse_s3_location(location)?;
        let store = S3Store::connect(bucket, prefix, s3).await?;
        Ok(Arc::new(store))
    } else {
        Err(StoreError::NotConfigured(
            "the photo store URL must start with file:// or s3://".into(),
        ))
    }
}

/// Splits `BUCKET/PREFIX` and checks both, so a typo fails at startup rather than on
/// the first upload.
fn parse_s3_location(location: &str) -> Result<(String, String), StoreError> {
    let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !bucket.starts_with(['.', '-'])
        && !bucket.ends_with(['.', '-']);
    if !bucket_ok {
        return Err(StoreError::NotConfigured(
            "s3:// photo store URL: the bucket name must be 3-63 lower-case letters, digits, '.' or '-'".into(),
        ));
    }
    let prefix = prefix.trim_end_matches('/');
    let prefix_ok = prefix.len() <= 512
        && (prefix.is_empty()
            || prefix.split('/').all(|segment| {
                !segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.!*'()".contains(&b))
            }));
    if !prefix_ok {
        return Err(StoreError::NotConfigured(
            "s3:// photo store URL: the prefix must be '/'-separated segments of letters, digits and -_.!*'()".into(),
        ));
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_locations() {
        assert_eq!(parse_s3_location("photos").unwrap(), ("photos".into(), String::new()));
        assert_eq!(
            parse_s3_location("my.bucket-1/tenant/photos/").unwrap(),
            ("my.bucket-1".into(), "tenant/photos".into())
        );
        for bad in [
            "",
            "ab",
            "Bucket",
            "key:secret@bucket",
            "bucket/../x",
            "bucket/a//b",
            "-bucket",
            "bucket/a b",
        ] {
            assert!(parse_s3_location(bad).is_err(), "{bad}");
        }
    }
}
