//! What the common ingest path and the per-format modules both use: the limits an
//! upload is held to, the reasons it is refused, the pixel check every format runs on
//! its header, and what stripping a file's metadata hands back.
//!
//! A leaf of its own, rather than part of `ingest/mod.rs`, because `mod.rs` calls the
//! format modules: were these in `mod.rs`, each format would import its caller, a cycle.

use image::metadata::Orientation;

/// Limits for one uploaded photo. Each is enforced before the work it guards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestLimits {
    /// Largest upload accepted, in bytes (default 5 MiB).
    pub max_bytes: u64,
    /// Largest width × height (default 40 MP: more than any phone camera's output).
    pub max_pixels: u64,
    /// Longest side in pixels (default 12,000), which also refuses absurd strips
    /// like 40,000,000 × 1 that pass the pixel count.
    pub max_dimension: u32,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            max_bytes: 5 * 1024 * 1024,
            max_pixels: 40_000_000,
            max_dimension: 12_000,
        }
    }
}

/// Why an upload was refused. The HTTP layer answers `TooLarge` with 413,
/// `Unsupported` with 415, `TooManyPixels` and `Corrupt` with 422, and `Stream`
/// (the client's body broke off) with 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    #[error("the photo is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("unsupported image type ({detected}); send JPEG, PNG or WebP")]
    Unsupported { detected: &'static str },
    /// Either side is longer than `max_dimension` or the pixel count exceeds
    /// `limit` (`max_pixels`).
    #[error("the photo's dimensions {width}x{height} exceed the limits ({limit} pixels)")]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("the photo is not a valid image: {0}")]
    Corrupt(String),
    #[error("the upload could not be read: {0}")]
    Stream(String),
}

/// Refuses a size with no pixels, or one past the limits. Run on the header before
/// anything is decoded, and again by the formats on every frame or bitstream header
/// they meet while stripping, since a file may declare one size and hold another.
pub(super) fn check_dimensions(width: u32, height: u32, limits: &IngestLimits) -> Result<(), IngestError> {
    if width == 0 || height == 0 {
        return Err(IngestError::Corrupt("the image has no pixels".into()));
    }
    if width > limits.max_dimension
        || height > limits.max_dimension
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(IngestError::TooManyPixels {
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    Ok(())
}

pub(super) fn corrupt(what: &str) -> IngestError {
    IngestError::Corrupt(what.to_owned())
}

/// A file rebuilt from the structures its format needs to show the picture (step 4).
pub(super) struct Stripped {
    pub(super) bytes: Vec<u8>,
    /// From the first EXIF block, if any.
    pub(super) orientation: Option<Orientation>,
}

/// EXIF blocks in PNG and WebP are bare TIFF, but some writers keep JPEG's prefix.
pub(super) fn exif_orientation(exif: &[u8]) -> Option<Orientation> {
    let tiff = exif.strip_prefix(b"Exif\0\0").unwrap_or(exif);
    Orientation::from_exif_chunk(tiff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimension_limits() {
        let limits = IngestLimits::default();
        assert!(check_dimensions(4000, 3000, &limits).is_ok());
        assert!(check_dimensions(12_000, 3000, &limits).is_ok());
        assert!(matches!(
            check_dimensions(12_001, 10, &limits),
            Err(IngestError::TooManyPixels { .. })
        ));
        assert!(matches!(
            check_dimensions(8000, 8000, &limits),
            Err(IngestError::TooManyPixels { .. })
        ));
        assert!(matches!(check_dimensions(0, 10, &limits), Err(IngestError::Corrupt(_))));
    }
}
