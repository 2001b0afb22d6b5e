//! Safe ingestion: untrusted upload bytes in, a photo that is safe to keep and show out.
//!
//! The steps, cheapest first, so that hostile input costs little:
//! 1. `read_limited` stops reading a body as soon as it passes the byte limit.
//! 2. Magic bytes decide the type: JPEG, PNG or WebP, nothing else (no SVG/HTML, no
//!    GIF, no HEIC); the client's content type and file name are never trusted.
//! 3. The declared dimensions are read from the header and pixel floods (a tiny file
//!    declaring 60000x60000) refused before anything is decoded.
//! 4. The file is rebuilt from an allow-list of the structures an image needs: every
//!    metadata block goes (EXIF with GPS, XMP, IPTC/Photoshop, ICC profiles, JPEG
//!    comments and thumbnails, MPF, PNG text/time/eXIf/private chunks, WebP
//!    EXIF/XMP/ICCP), and so does anything after the image's end, which is where
//!    polyglots (JPEG+HTML, PNG+ZIP) and phones' extra images hide.
//! 5. The rebuilt file is decoded with `image::Limits` derived from the limits, which
//!    proves it is a real image and bounds decoder memory.
//! 6. If EXIF said the camera was rotated (orientation ≠ 1), the decoded pixels are
//!    turned upright and re-encoded, since the orientation tag went with the EXIF;
//!    otherwise the rebuilt file is kept as is (no generation loss).
//!
//! ICC profiles are dropped: they are free-form blobs (device and vendor text) and a
//! parser attack surface in viewers, and the re-encode path could not keep them anyway.
//! The cost is that wide-gamut (Display P3) photos look slightly less saturated.
//!
//! `ingest` is CPU work (a full decode, up to tens of milliseconds per megapixel):
//! call it from `tokio::task::spawn_blocking`, never on an async worker.
//!
//! This file runs the steps in order and holds what is common to every format
//! (reading, naming refused types, decoding, turning upright, hashing); `jpeg`, `png`
//! and `webp` each hold what only their format needs (its signature, its header's
//! size, step 4), and `shared` the types and checks both sides use.

use std::fmt;
use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageError, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};

mod jpeg;
mod png;
mod shared;
mod webp;

pub use shared::{IngestError, IngestLimits};
use shared::{Stripped, check_dimensions};

/// A photo that passed ingestion: what to store and what to record about it.
#[derive(Clone)]
pub struct CleanPhoto {
    pub bytes: Bytes,
    /// `image/jpeg`, `image/png` or `image/webp`: the type of `bytes`, which can differ
    /// from the upload's when it had to be re-encoded (see [`ingest`]).
    pub content_type: &'static str,
    /// Lower-case hex SHA-256 of `bytes`.
    pub sha256: String,
    pub width: u32,
    pub height: u32,
}

// By hand so that a stray `{:?}` never dumps image bytes into a log.
impl fmt::Debug for CleanPhoto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CleanPhoto")
            .field("len", &self.bytes.len())
            .field("content_type", &self.content_type)
            .field("sha256", &self.sha256)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

/// Collects a body stream, failing with `TooLarge` as soon as the total would pass
/// `max_bytes`: the stream is not polled again, so an endless or huge upload costs
/// at most `max_bytes` of memory and one chunk of reading beyond it.
pub async fn read_limited<S, E>(mut stream: S, max_bytes: u64) -> Result<Bytes, IngestError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: fmt::Display,
{
    let mut body = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| IngestError::Stream(e.to_string()))?;
        let total = (body.len() as u64).saturating_add(chunk.len() as u64);
        if total > max_bytes {
            return Err(IngestError::TooLarge { limit: max_bytes });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Vets and cleans an uploaded photo (see the module documentation for the steps).
///
/// CPU-bound: run it in `tokio::task::spawn_blocking`. Never panics: every parser
/// here is bounds-checked, and a panic inside a third-party decoder is caught and
/// reported as `Corrupt`.
pub fn ingest(raw: &[u8], limits: &IngestLimits) -> Result<CleanPhoto, IngestError> {
    if raw.len() as u64 > limits.max_bytes {
        return Err(IngestError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    let format = sniff(raw)?;
    let (width, height) = format.declared_dimensions(raw)?;
    check_dimensions(width, height, limits)?;
    match catch_unwind(AssertUnwindSafe(|| clean(format, raw, width, height, limits))) {
        Ok(result) => result,
        Err(_) => Err(IngestError::Corrupt("the image could not be processed".into())),
    }
}

/// Steps 4 to 6, once the header has passed.
fn clean(
    format: Format,
    raw: &[u8],
    width: u32,
    height: u32,
    limits: &IngestLimits,
) -> Result<CleanPhoto, IngestError> {
    let stripped = format.strip(raw, limits)?;
    let mut image = decode(format, &stripped.bytes, width, height, limits)?;
    if (image.width(), image.height()) != (width, height) {
        return Err(IngestError::Corrupt("the decoded size differs from the header".into()));
    }
    let (bytes, content_type) = match stripped.orientation {
        Some(orientation) if orientation != Orientation::NoTransforms => {
            image.apply_orientation(orientation);
            reencode(&image, format)?
        }
        _ => (stripped.bytes, format.content_type()),
    };
    let sha256 = hex::encode(Sha256::digest(&bytes));
    Ok(CleanPhoto {
        bytes: Bytes::from(bytes),
        content_type,
        sha256,
        width: image.width(),
        height: image.height(),
    })
}

/// The accepted formats. Each has a module of its own offering the same three steps,
/// `has_signature`, `declared_dimensions` and `strip`, which these methods dispatch to;
/// everything else (decoding, re-encoding, hashing) is common.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Jpeg,
    Png,
    WebP,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::WebP => "image/webp",
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            Format::Jpeg => ImageFormat::Jpeg,
            Format::Png => ImageFormat::Png,
            Format::WebP => ImageFormat::WebP,
        }
    }

    /// Step 3: the size the header claims, read without decoding anything.
    fn declared_dimensions(self, raw: &[u8]) -> Result<(u32, u32), IngestError> {
        match self {
            Format::Jpeg => jpeg::declared_dimensions(raw),
            Format::Png => png::declared_dimensions(raw),
            Format::WebP => webp::declared_dimensions(raw),
        }
    }

    /// Step 4: the file rebuilt without metadata or trailing data. The limits are
    /// checked again on every size header met on the way, not only the first.
    fn strip(self, raw: &[u8], limits: &IngestLimits) -> Result<Stripped, IngestError> {
        match self {
            Format::Jpeg => jpeg::strip(raw, limits),
            Format::Png => png::strip(raw),
            Format::WebP => webp::strip(raw, limits),
        }
    }
}

/// Step 2: the type from the magic bytes; for anything else, a name for what it
/// looks like, so the client's error (and our logs) can say "heic" or "svg".
fn sniff(raw: &[u8]) -> Result<Format, IngestError> {
    if jpeg::has_signature(raw) {
        return Ok(Format::Jpeg);
    }
    if png::has_signature(raw) {
        return Ok(Format::Png);
    }
    if webp::has_signature(raw) {
        return Ok(Format::WebP);
    }
    Err(IngestError::Unsupported {
        detected: describe_other(raw),
    })
}

fn describe_other(raw: &[u8]) -> &'static str {
    let starts = |magic: &[u8]| raw.starts_with(magic);
    if raw.is_empty() {
        return "empty";
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return "gif";
    }
    if starts(b"II*\0") || starts(b"MM\0*") {
        return "tiff";
    }
    if starts(b"%PDF-") {
        return "pdf";
    }
    if starts(b"PK\x03\x04") {
        return "zip";
    }
    if starts(b"BM") {
        return "bmp";
    }
    if starts(&[0, 0, 1, 0]) {
        return "ico";
    }
    if starts(&[0xFF, 0x0A]) || starts(b"\0\0\0\x0CJXL ") {
        return "jxl";
    }
    if raw.get(4..8) == Some(b"ftyp".as_slice()) {
        return match raw.get(8..12) {
            Some(b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"mif1" | b"msf1") => "heic",
            Some(b"avif" | b"avis") => "avif",
            _ => "isobmff",
        };
    }
    if starts(b"RIFF") {
        return "riff";
    }
    // Markup: skip a UTF-8 byte-order mark and leading whitespace, as browsers do.
    let text = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
    let text = &text[text.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(text.len())..];
    if text.starts_with(b"<") {
        let head: Vec<u8> = text.iter().take(1024).map(u8::to_ascii_lowercase).collect();
        let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
        if has(b"<svg") {
            return "svg";
        }
        if has(b"<html") || has(b"<!doctype html") || has(b"<script") || has(b"<body") {
            return "html";
        }
        return "xml";
    }
    if std::str::from_utf8(raw).is_ok() {
        return "text";
    }
    "unknown"
}

// ---------------------------------------------------------------------------------
// Steps 5 and 6.

/// Decodes with limits so that neither the header nor the decoder can make us
/// allocate beyond what the limits allow (8 bytes per pixel covers 16-bit RGBA
/// output; the slack covers decoder working buffers).
fn decode(
    format: Format,
    bytes: &[u8],
    width: u32,
    height: u32,
    limits: &IngestLimits,
) -> Result<DynamicImage, IngestError> {
    let mut decode_limits = Limits::default();
    decode_limits.max_image_width = Some(limits.max_dimension);
    decode_limits.max_image_height = Some(limits.max_dimension);
    decode_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(64 * 1024 * 1024));
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    reader.limits(decode_limits);
    reader.decode().map_err(|e| match e {
        ImageError::Limits(_) => IngestError::TooManyPixels {
            width,
            height,
            limit: limits.max_pixels,
        },
        other => IngestError::Corrupt(other.to_string()),
    })
}

/// Encodes upright pixels. JPEG stays JPEG (quality 90) and PNG stays PNG. The `image`
/// crate has no lossy WebP encoder and a lossless one would make a camera photo 3-5x
/// larger, so an opaque WebP becomes a JPEG; one with transparency stays WebP,
/// losslessly.
fn reencode(image: &DynamicImage, format: Format) -> Result<(Vec<u8>, &'static str), IngestError> {
    let failed = |e: ImageError| IngestError::Corrupt(format!("re-encoding failed: {e}"));
    let mut out = Vec::new();
    let content_type = match format {
        Format::Png => {
            image.write_with_encoder(PngEncoder::new(&mut out)).map_err(failed)?;
            Format::Png.content_type()
        }
        Format::WebP if image.color().has_alpha() => {
            DynamicImage::ImageRgba8(image.to_rgba8())
                .write_with_encoder(WebPEncoder::new_lossless(&mut out))
                .map_err(failed)?;
            Format::WebP.content_type()
        }
        Format::Jpeg | Format::WebP => {
            // JPEG has no alpha and no 16-bit: grey stays grey, the rest is RGB.
            let pixels = match image {
                DynamicImage::ImageLuma8(_) => image.clone(),
                _ => DynamicImage::ImageRgb8(image.to_rgb8()),
            };
            pixels
                .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 90))
                .map_err(failed)?;
            Format::Jpeg.content_type()
        }
    };
    Ok((out, content_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_names_what_it_refuses() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty"),
            (b"GIF89a\x01\x00\x01\x00", "gif"),
            (b"  <svg xmlns='http://www.w3.org/2000/svg'/>", "svg"),
            (b"\xEF\xBB\xBF<!DOCTYPE html><html>", "html"),
            (b"<?xml version='1.0'?><svg/>", "svg"),
            (b"\0\0\0\x18ftypheic\0\0\0\0", "heic"),
            (b"%PDF-1.7", "pdf"),
            (b"PK\x03\x04zip", "zip"),
            (b"RIFF\0\0\0\0WAVE", "riff"),
            (b"hello", "text"),
            (&[0x80, 0x81, 0x82], "unknown"),
        ];
        for (raw, detected) in cases {
            assert_eq!(sniff(raw), Err(IngestError::Unsupported { detected }), "{raw:?}");
        }
    }
}
