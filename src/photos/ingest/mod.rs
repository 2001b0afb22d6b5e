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
    let (width, height) = declared_dimensions(format, raw)?;
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
    let stripped = match format {
        Format::Jpeg => strip_jpeg(raw, limits)?,
        Format::Png => strip_png(raw, limits)?,
        Format::WebP => strip_webp(raw, limits)?,
    };
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
}

const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// Step 2: the type from the magic bytes; for anything else, a name for what it
/// looks like, so the client's error (and our logs) can say "heic" or "svg".
fn sniff(raw: &[u8]) -> Result<Format, IngestError> {
    if raw.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Format::Jpeg);
    }
    if raw.starts_with(PNG_SIGNATURE) {
        return Ok(Format::Png);
    }
    if raw.starts_with(b"RIFF") && raw.get(8..12) == Some(b"WEBP".as_slice()) {
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

fn check_dimensions(width: u32, height: u32, limits: &IngestLimits) -> Result<(), IngestError> {
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

fn corrupt(what: &str) -> IngestError {
    IngestError::Corrupt(what.to_owned())
}

// Bounds-checked readers: every offset in these formats is attacker-controlled.
fn be16(raw: &[u8], at: usize) -> Option<u16> {
    let bytes = raw.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([bytes[0], bytes[1]]))
}

fn be32(raw: &[u8], at: usize) -> Option<u32> {
    let bytes = raw.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn le32(raw: &[u8], at: usize) -> Option<u32> {
    let bytes = raw.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn le24(raw: &[u8], at: usize) -> Option<u32> {
    let bytes = raw.get(at..at.checked_add(3)?)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], 0]))
}

/// Step 3: the size the header claims, read without decoding anything.
fn declared_dimensions(format: Format, raw: &[u8]) -> Result<(u32, u32), IngestError> {
    match format {
        Format::Jpeg => jpeg_declared_dimensions(raw),
        Format::Png => png_declared_dimensions(raw),
        Format::WebP => webp_declared_dimensions(raw),
    }
}

/// The result of step 4.
struct Stripped {
    bytes: Vec<u8>,
    /// From the first EXIF block, if any.
    orientation: Option<Orientation>,
}

/// EXIF blocks in PNG and WebP are bare TIFF, but some writers keep JPEG's prefix.
fn exif_orientation(exif: &[u8]) -> Option<Orientation> {
    let tiff = exif.strip_prefix(b"Exif\0\0").unwrap_or(exif);
    Orientation::from_exif_chunk(tiff)
}

// ---------------------------------------------------------------------------------
// JPEG: a marker stream. Segments before the first scan (SOS) carry tables, the
// frame header and all metadata; after each scan's entropy-coded data come more
// segments (tables, comments, even APPn) until EOI. We walk the whole stream, not
// just the part before the first scan, because metadata hidden between progressive
// scans or after EOI must not survive either.

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const APP0: u8 = 0xE0;
const APP1: u8 = 0xE1;
const APP14: u8 = 0xEE;

/// Frame headers: C0-CF except DHT (C4), JPG (C8) and DAC (CC).
fn is_sof(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

/// Markers that stand alone, without a length: TEM and the restart markers.
fn is_standalone(marker: u8) -> bool {
    matches!(marker, 0x01 | 0xD0..=0xD7)
}

/// Finds the next marker at or after `pos`, skipping stray bytes and fill bytes
/// (0xFF runs) the way libjpeg does; stray bytes are never copied to the output.
/// Returns the marker and the offset just after it.
fn next_marker(raw: &[u8], mut pos: usize) -> Result<(u8, usize), IngestError> {
    loop {
        let ff = raw
            .get(pos..)
            .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
            .ok_or_else(|| corrupt("the JPEG ends before its end-of-image marker"))?;
        pos += ff;
        while raw.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        match raw.get(pos) {
            None => return Err(corrupt("the JPEG ends before its end-of-image marker")),
            // A stuffed zero outside a scan is garbage, not a marker.
            Some(0x00) => pos += 1,
            Some(&marker) => return Ok((marker, pos + 1)),
        }
    }
}

/// The bounds of a segment whose length field starts at `at`: (body start, end).
fn segment_bounds(raw: &[u8], at: usize) -> Result<(usize, usize), IngestError> {
    let len = usize::from(be16(raw, at).ok_or_else(|| corrupt("truncated JPEG segment"))?);
    let end = at.saturating_add(len);
    if len < 2 || end > raw.len() {
        return Err(corrupt("truncated JPEG segment"));
    }
    Ok((at + 2, end))
}

/// Width and height from a frame header body.
fn sof_dimensions(body: &[u8]) -> Result<(u32, u32), IngestError> {
    let height = be16(body, 1).ok_or_else(|| corrupt("truncated JPEG frame header"))?;
    let width = be16(body, 3).ok_or_else(|| corrupt("truncated JPEG frame header"))?;
    if height == 0 {
        // The height would come from a DNL segment after the first scan: too rare
        // to support, and it defeats the check before decoding.
        return Err(corrupt("JPEG height defined after the image data"));
    }
    Ok((u32::from(width), u32::from(height)))
}

fn jpeg_declared_dimensions(raw: &[u8]) -> Result<(u32, u32), IngestError> {
    let mut pos = 2;
    loop {
        let (marker, after) = next_marker(raw, pos)?;
        if is_standalone(marker) {
            pos = after;
            continue;
        }
        if matches!(marker, SOI | EOI | SOS) {
            return Err(corrupt("the JPEG has no frame header before its image data"));
        }
        let (body, end) = segment_bounds(raw, after)?;
        if is_sof(marker) {
            return sof_dimensions(&raw[body..end]);
        }
        pos = end;
    }
}

/// The end of a scan's entropy-coded data starting at `pos`: the first 0xFF that is
/// neither a stuffed zero (FF 00) nor a restart marker (FF D0-D7).
fn entropy_end(raw: &[u8], mut pos: usize) -> Result<usize, IngestError> {
    loop {
        let ff = raw
            .get(pos..)
            .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
            .ok_or_else(|| corrupt("the JPEG ends inside its image data"))?;
        pos += ff;
        match raw.get(pos + 1) {
            None => return Err(corrupt("the JPEG ends inside its image data")),
            Some(0x00 | 0xD0..=0xD7) => pos += 2,
            Some(_) => return Ok(pos),
        }
    }
}

/// A JFIF header without a thumbnail (a thumbnail is a second, unstripped picture).
fn is_plain_jfif(body: &[u8]) -> bool {
    body.len() == 14 && body.starts_with(b"JFIF\0") && body[12] == 0 && body[13] == 0
}

/// Adobe's colour-transform flag, needed to decode CMYK/YCCK JPEGs correctly.
fn is_adobe_transform(body: &[u8]) -> bool {
    body.len() == 12 && body.starts_with(b"Adobe")
}

fn strip_jpeg(raw: &[u8], limits: &IngestLimits) -> Result<Stripped, IngestError> {
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(&[0xFF, SOI]);
    let mut orientation = None;
    let mut frame = false;
    let mut scans = 0usize;
    let mut pos = 2;
    loop {
        let (marker, after) = next_marker(raw, pos)?;
        if marker == EOI {
            out.extend_from_slice(&[0xFF, EOI]);
            // Everything after EOI (HTML, ZIP, a phone's depth map or gain-map image
            // with its own EXIF) is dropped here.
            break;
        }
        if marker == SOI {
            return Err(corrupt("a second JPEG start-of-image marker"));
        }
        if is_standalone(marker) {
            // Outside a scan these carry nothing.
            pos = after;
            continue;
        }
        let (body_start, end) = segment_bounds(raw, after)?;
        let body = &raw[body_start..end];
        let keep = match marker {
            m if is_sof(m) => {
                if frame {
                    return Err(corrupt("more than one JPEG frame"));
                }
                let (width, height) = sof_dimensions(body)?;
                check_dimensions(width, height, limits)?;
                frame = true;
                true
            }
            SOS => {
                if !frame {
                    return Err(corrupt("JPEG image data before the frame header"));
                }
                true
            }
            // Tables and the like: DHT, DAC, DQT, DNL, DRI, DHP, EXP.
            0xC4 | 0xCC | 0xDB | 0xDC | 0xDD | 0xDE | 0xDF => true,
            APP0 => is_plain_jfif(body),
            APP14 => is_adobe_transform(body),
            APP1 => {
                if orientation.is_none()
                    && let Some(exif) = body.strip_prefix(b"Exif\0\0")
                {
                    orientation = Orientation::from_exif_chunk(exif);
                }
                false
            }
            // Every other APPn (XMP, ICC, MPF, IPTC, vendor blocks), comments (FE),
            // and reserved markers: not needed to show the picture.
            _ => false,
        };
        if keep {
            out.extend_from_slice(&[0xFF, marker]);
            out.extend_from_slice(&raw[after..end]);
        }
        pos = end;
        if marker == SOS {
            let data_end = entropy_end(raw, end)?;
            out.extend_from_slice(&raw[end..data_end]);
            pos = data_end;
            scans += 1;
        }
    }
    if scans == 0 {
        return Err(corrupt("the JPEG has no image data"));
    }
    Ok(Stripped {
        bytes: out,
        orientation,
    })
}

// ---------------------------------------------------------------------------------
// PNG: a signature, then length/type/data/CRC chunks from IHDR to IEND.

/// Chunks kept: the critical ones and colour-correctness ones with no free text.
/// Everything else goes: tEXt/iTXt/zTXt, eXIf, tIME, iCCP, APNG animation chunks
/// (the default image stays), and unknown or private chunks where data can hide.
const PNG_KEEP: &[&[u8; 4]] = &[
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"cICP", b"mDCV", b"cLLI", b"pHYs",
];

fn png_declared_dimensions(raw: &[u8]) -> Result<(u32, u32), IngestError> {
    if raw.get(12..16) != Some(b"IHDR".as_slice()) || be32(raw, 8) != Some(13) {
        return Err(corrupt("the PNG does not start with its header chunk"));
    }
    let width = be32(raw, 16).ok_or_else(|| corrupt("truncated PNG header"))?;
    let height = be32(raw, 20).ok_or_else(|| corrupt("truncated PNG header"))?;
    if width > 0x7FFF_FFFF || height > 0x7FFF_FFFF {
        return Err(corrupt("invalid PNG dimensions"));
    }
    Ok((width, height))
}

fn strip_png(raw: &[u8], _limits: &IngestLimits) -> Result<Stripped, IngestError> {
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(PNG_SIGNATURE);
    let mut orientation = None;
    let mut pos = PNG_SIGNATURE.len();
    loop {
        let len = be32(raw, pos).ok_or_else(|| corrupt("the PNG ends before IEND"))?;
        if len > 0x7FFF_FFFF {
            return Err(corrupt("invalid PNG chunk length"));
        }
        let kind = raw
            .get(pos + 4..pos + 8)
            .ok_or_else(|| corrupt("the PNG ends before IEND"))?;
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(corrupt("invalid PNG chunk type"));
        }
        let data_start = pos + 8;
        let data_end = data_start
            .checked_add(len as usize)
            .ok_or_else(|| corrupt("truncated PNG chunk"))?;
        let end = data_end
            .checked_add(4)
            .filter(|end| *end <= raw.len())
            .ok_or_else(|| corrupt("truncated PNG chunk"))?;
        if pos == PNG_SIGNATURE.len() && kind != b"IHDR" {
            return Err(corrupt("the PNG does not start with its header chunk"));
        }
        if kind == b"eXIf" && orientation.is_none() {
            orientation = exif_orientation(&raw[data_start..data_end]);
        }
        if PNG_KEEP.iter().any(|keep| keep.as_slice() == kind) {
            out.extend_from_slice(&raw[pos..end]);
        }
        pos = end;
        if kind == b"IEND" {
            // Anything after IEND (a ZIP, HTML) is dropped here.
            break;
        }
    }
    Ok(Stripped {
        bytes: out,
        orientation,
    })
}

// ---------------------------------------------------------------------------------
// WebP: a RIFF container of chunks. Simple files hold one VP8 (lossy) or VP8L
// (lossless) bitstream; extended ones start with VP8X and may add ICCP, ANIM/ANMF,
// ALPH, EXIF, XMP and unknown chunks.

const VP8X_ANIMATION: u8 = 0x02;
const VP8X_ALPHA: u8 = 0x10;

/// Dimensions of a VP8 (lossy) key frame.
fn vp8_dimensions(data: &[u8]) -> Result<(u32, u32), IngestError> {
    let tag = data.first().ok_or_else(|| corrupt("truncated WebP bitstream"))?;
    if tag & 1 != 0 || data.get(3..6) != Some([0x9D, 0x01, 0x2A].as_slice()) {
        return Err(corrupt("invalid WebP (VP8) header"));
    }
    let width = data.get(6..8).ok_or_else(|| corrupt("truncated WebP bitstream"))?;
    let height = data.get(8..10).ok_or_else(|| corrupt("truncated WebP bitstream"))?;
    Ok((
        u32::from(u16::from_le_bytes([width[0], width[1]]) & 0x3FFF),
        u32::from(u16::from_le_bytes([height[0], height[1]]) & 0x3FFF),
    ))
}

/// Dimensions of a VP8L (lossless) bitstream.
fn vp8l_dimensions(data: &[u8]) -> Result<(u32, u32), IngestError> {
    if data.first() != Some(&0x2F) {
        return Err(corrupt("invalid WebP (VP8L) header"));
    }
    let bits = le32(data, 1).ok_or_else(|| corrupt("truncated WebP bitstream"))?;
    Ok(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
}

/// Canvas size from a VP8X chunk.
fn vp8x_dimensions(data: &[u8]) -> Result<(u32, u32), IngestError> {
    let width = le24(data, 4).ok_or_else(|| corrupt("truncated WebP header"))?;
    let height = le24(data, 7).ok_or_else(|| corrupt("truncated WebP header"))?;
    Ok((width + 1, height + 1))
}

fn webp_declared_dimensions(raw: &[u8]) -> Result<(u32, u32), IngestError> {
    let kind = raw.get(12..16).ok_or_else(|| corrupt("truncated WebP header"))?;
    let data = raw.get(20..).unwrap_or_default();
    match kind {
        b"VP8 " => vp8_dimensions(data),
        b"VP8L" => vp8l_dimensions(data),
        b"VP8X" => vp8x_dimensions(data),
        _ => Err(corrupt("the WebP does not start with an image header")),
    }
}

fn strip_webp(raw: &[u8], limits: &IngestLimits) -> Result<Stripped, IngestError> {
    let riff_len = le32(raw, 4).ok_or_else(|| corrupt("truncated WebP header"))?;
    let riff_end = 8usize.saturating_add(riff_len as usize);
    if riff_end > raw.len() || riff_end < 12 {
        return Err(corrupt("truncated WebP file"));
    }
    let mut orientation = None;
    let mut canvas: Option<(u32, u32)> = None;
    let mut bitstreams = 0usize;
    let mut kept: Vec<([u8; 4], Vec<u8>)> = Vec::new();
    let mut pos = 12;
    // Anything after the RIFF's declared end, or too short to be a chunk, is dropped.
    while pos + 8 <= riff_end {
        let mut kind = [0u8; 4];
        kind.copy_from_slice(&raw[pos..pos + 4]);
        let len = le32(raw, pos + 4).ok_or_else(|| corrupt("truncated WebP chunk"))? as usize;
        let data_start = pos + 8;
        let data_end = data_start
            .checked_add(len)
            .filter(|end| *end <= riff_end)
            .ok_or_else(|| corrupt("truncated WebP chunk"))?;
        let data = &raw[data_start..data_end];
        let first = pos == 12;
        match &kind {
            b"VP8X" => {
                if !first {
                    return Err(corrupt("misplaced WebP extended header"));
                }
                let flags = *data.first().ok_or_else(|| corrupt("truncated WebP header"))?;
                if flags & VP8X_ANIMATION != 0 {
                    return Err(IngestError::Unsupported {
                        detected: "animated webp",
                    });
                }
                let (width, height) = vp8x_dimensions(data)?;
                check_dimensions(width, height, limits)?;
                canvas = Some((width, height));
                // Only the alpha flag survives: ICC, EXIF and XMP chunks are gone.
                let mut header = data.to_vec();
                header[0] = flags & VP8X_ALPHA;
                kept.push((kind, header));
            }
            b"VP8 " | b"VP8L" => {
                if !first && canvas.is_none() {
                    return Err(corrupt("misplaced WebP bitstream"));
                }
                let (width, height) = if &kind == b"VP8 " {
                    vp8_dimensions(data)?
                } else {
                    vp8l_dimensions(data)?
                };
                check_dimensions(width, height, limits)?;
                if canvas.is_some_and(|canvas| canvas != (width, height)) {
                    return Err(corrupt("the WebP bitstream and canvas sizes differ"));
                }
                bitstreams += 1;
                kept.push((kind, data.to_vec()));
            }
            b"ALPH" if canvas.is_some() => kept.push((kind, data.to_vec())),
            b"ANIM" | b"ANMF" => {
                return Err(IngestError::Unsupported {
                    detected: "animated webp",
                });
            }
            b"EXIF" if orientation.is_none() => orientation = exif_orientation(data),
            // ICCP, XMP and unknown chunks.
            _ => {}
        }
        if first && canvas.is_none() && bitstreams == 0 {
            return Err(corrupt("the WebP does not start with an image header"));
        }
        // Chunks are padded to an even length.
        pos = data_end + (len & 1);
    }
    if bitstreams != 1 {
        return Err(corrupt("a WebP must hold exactly one image bitstream"));
    }
    let body_len: usize = kept.iter().map(|(_, data)| 8 + data.len() + (data.len() & 1)).sum();
    let riff_size = u32::try_from(4 + body_len).map_err(|_| corrupt("WebP too large"))?;
    let mut out = Vec::with_capacity(12 + body_len);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&riff_size.to_le_bytes());
    out.extend_from_slice(b"WEBP");
    for (kind, data) in &kept {
        out.extend_from_slice(kind);
        // Fits: each chunk came from a file whose RIFF size fit in a u32.
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        if data.len() & 1 == 1 {
            out.push(0);
        }
    }
    Ok(Stripped {
        bytes: out,
        orientation,
    })
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
