//! WebP: reading the canvas or bitstream size and rebuilding the RIFF container from
//! the chunks that hold the picture.
//!
//! A WebP is a RIFF container of chunks. Simple files hold one VP8 (lossy) or VP8L
//! (lossless) bitstream; extended ones start with VP8X and may add ICCP, ANIM/ANMF,
//! ALPH, EXIF, XMP and unknown chunks.

use super::shared::{IngestError, IngestLimits, Stripped, check_dimensions, corrupt, exif_orientation};

pub(super) fn has_signature(raw: &[u8]) -> bool {
    raw.starts_with(b"RIFF") && raw.get(8..12) == Some(b"WEBP".as_slice())
}

// Every offset and length in a WebP is attacker-controlled: reads are bounds-checked.
fn le32(raw: &[u8], at: usize) -> Option<u32> {
    let bytes = raw.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn le24(raw: &[u8], at: usize) -> Option<u32> {
    let bytes = raw.get(at..at.checked_add(3)?)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], 0]))
}

/// Flags in the first byte of a VP8X header.
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

/// The size the first chunk declares: the canvas of an extended file, else the
/// bitstream's own.
pub(super) fn declared_dimensions(raw: &[u8]) -> Result<(u32, u32), IngestError> {
    let kind = raw.get(12..16).ok_or_else(|| corrupt("truncated WebP header"))?;
    let data = raw.get(20..).unwrap_or_default();
    match kind {
        b"VP8 " => vp8_dimensions(data),
        b"VP8L" => vp8l_dimensions(data),
        b"VP8X" => vp8x_dimensions(data),
        _ => Err(corrupt("the WebP does not start with an image header")),
    }
}

/// Keeps the extended header (with only its alpha flag), the one bitstream and its
/// alpha chunk; animations are refused rather than cut to a frame.
pub(super) fn strip(raw: &[u8], limits: &IngestLimits) -> Result<Stripped, IngestError> {
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
