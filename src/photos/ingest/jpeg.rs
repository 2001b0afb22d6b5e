//! JPEG: finding the frame size and rebuilding the marker stream without metadata.
//!
//! A JPEG is a marker stream. Segments before the first scan (SOS) carry tables, the
//! frame header and all metadata; after each scan's entropy-coded data come more
//! segments (tables, comments, even APPn) until EOI. We walk the whole stream, not
//! just the part before the first scan, because metadata hidden between progressive
//! scans or after EOI must not survive either.

use image::metadata::Orientation;

use super::shared::{IngestError, IngestLimits, Stripped, check_dimensions, corrupt};

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const APP0: u8 = 0xE0;
const APP1: u8 = 0xE1;
const APP14: u8 = 0xEE;

/// Starts with the start-of-image marker and the 0xFF of the marker after it.
pub(super) fn has_signature(raw: &[u8]) -> bool {
    raw.starts_with(&[0xFF, SOI, 0xFF])
}

/// Frame headers: C0-CF except DHT (C4), JPG (C8) and DAC (CC).
fn is_sof(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

/// Markers that stand alone, without a length: TEM and the restart markers.
fn is_standalone(marker: u8) -> bool {
    matches!(marker, 0x01 | 0xD0..=0xD7)
}

/// The offset of the first 0xFF at or after `pos`: where a marker may start, both
/// between segments and inside a scan. Fails as `missing` if there is none.
fn next_ff(raw: &[u8], pos: usize, missing: &str) -> Result<usize, IngestError> {
    raw.get(pos..)
        .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
        .map(|ff| pos + ff)
        .ok_or_else(|| corrupt(missing))
}

/// Finds the next marker at or after `pos`, skipping stray bytes and fill bytes
/// (0xFF runs) the way libjpeg does; stray bytes are never copied to the output.
/// Returns the marker and the offset just after it.
fn next_marker(raw: &[u8], mut pos: usize) -> Result<(u8, usize), IngestError> {
    loop {
        pos = next_ff(raw, pos, "the JPEG ends before its end-of-image marker")?;
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

// Every offset in a JPEG is attacker-controlled: reads are bounds-checked.
fn be16(raw: &[u8], at: usize) -> Option<u16> {
    let bytes = raw.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([bytes[0], bytes[1]]))
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

/// The frame size the header declares, from the first frame header (SOF).
pub(super) fn declared_dimensions(raw: &[u8]) -> Result<(u32, u32), IngestError> {
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
        pos = next_ff(raw, pos, "the JPEG ends inside its image data")?;
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

/// Keeps the frame header, tables and image data, and a JFIF or Adobe header only
/// when it carries nothing but what decoding needs.
pub(super) fn strip(raw: &[u8], limits: &IngestLimits) -> Result<Stripped, IngestError> {
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
