//! PNG: reading the header chunk and rebuilding the file from an allow-list of chunks.
//!
//! A PNG is a signature, then length/type/data/CRC chunks from IHDR to IEND.

use super::shared::{IngestError, Stripped, corrupt, exif_orientation};

const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

pub(super) fn has_signature(raw: &[u8]) -> bool {
    raw.starts_with(SIGNATURE)
}

// Every offset and length in a PNG is attacker-controlled: reads are bounds-checked.
fn be32(raw: &[u8], at: usize) -> Option<u32> {
    let bytes = raw.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Chunks kept: the critical ones and colour-correctness ones with no free text.
/// Everything else goes: tEXt/iTXt/zTXt, eXIf, tIME, iCCP, APNG animation chunks
/// (the default image stays), and unknown or private chunks where data can hide.
const KEEP: &[&[u8; 4]] = &[
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"cICP", b"mDCV", b"cLLI", b"pHYs",
];

/// The size in the header chunk, which must come first.
pub(super) fn declared_dimensions(raw: &[u8]) -> Result<(u32, u32), IngestError> {
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

/// Keeps the `KEEP` chunks up to IEND; the first eXIf chunk only lends its orientation.
/// No limits to check here: a PNG declares its size in its header chunk alone, which
/// was checked before stripping.
pub(super) fn strip(raw: &[u8]) -> Result<Stripped, IngestError> {
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(SIGNATURE);
    let mut orientation = None;
    let mut pos = SIGNATURE.len();
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
        if pos == SIGNATURE.len() && kind != b"IHDR" {
            return Err(corrupt("the PNG does not start with its header chunk"));
        }
        if kind == b"eXIf" && orientation.is_none() {
            orientation = exif_orientation(&raw[data_start..data_end]);
        }
        if KEEP.iter().any(|keep| keep.as_slice() == kind) {
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
