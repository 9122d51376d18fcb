//! Capture files: pcap (micro/nanosecond, both byte orders, the "modified" variant), pcapng
//! (several sections and interfaces, per-interface link type and timestamp resolution) and
//! gzip-compressed pcap. Files are memory-mapped and packets are borrowed from the mapping.
//!
//! Invariant: nothing here allocates in proportion to a length field; every length is checked
//! against the bytes actually present (pcap-parser's `take` does this), so a hostile record
//! length yields a "truncated" outcome, never a large allocation.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use pcap_parser::pcapng::{self, Block};

use super::Packet;
use crate::time::Timestamp;

/// Decompressed gzip input larger than this is refused.
pub const MAX_GZIP_BYTES: u64 = 4 << 30;

/// Why a capture file could not be read at all.
#[derive(Debug)]
pub enum CaptureError {
    /// The OS refused to open or read the file.
    Io { path: String, error: std::io::Error },
    /// The bytes are not pcap, pcapng or gzip-compressed pcap (caused by the user's input).
    NotACapture { path: String, detail: String },
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::Io { path, error } => write!(f, "{path}: {error}"),
            CaptureError::NotACapture { path, detail } => {
                write!(f, "{path}: not a pcap or pcapng capture ({detail})")
            }
        }
    }
}

impl std::error::Error for CaptureError {}

/// How reading one file ended, when it could be read at all.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReadOutcome {
    pub packets: u64,
    /// Set when the file ends inside a record or holds an unreadable block: a warning, and
    /// everything before it was read.
    pub truncated: Option<String>,
    /// pcapng blocks skipped (unknown types, packets on undeclared interfaces, bad resolution).
    pub skipped_blocks: u64,
}

/// The bytes of one input: a memory map of the file, or of an unlinked temporary copy for
/// stdin and gzip (a buffer only when no temporary file can be made).
pub enum Input {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

/// Consumed pages are handed back every this many bytes (see `Input::release`).
pub const RELEASE_EVERY: usize = 16 << 20;

impl Input {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Input::Mapped(m) => m,
            Input::Owned(v) => v,
        }
    }

    /// Drops the mapping's pages before `upto` from this process's resident set, so reading a
    /// capture of any size costs bounded memory. The pages stay in the page cache; a later
    /// access (a worker still holding a segment) faults them back in with the same bytes.
    pub fn release(&self, upto: usize) {
        if let Input::Mapped(m) = self {
            let page = 4096;
            let len = (upto.min(m.len()) / page) * page;
            if len > 0 {
                // SAFETY: the map is a read-only, file-backed private mapping: MADV_DONTNEED only
                // discards resident pages, which are re-read from the file on the next access.
                let _ =
                    unsafe { m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, 0, len) };
            }
        }
    }
}

/// Opens `path` (`-` = stdin), decompressing gzip transparently.
pub fn open(path: &Path) -> Result<Input, CaptureError> {
    let name = path.display().to_string();
    let io = |error| CaptureError::Io {
        path: name.clone(),
        error,
    };
    let input = if path == Path::new("-") {
        spool(&mut std::io::stdin().lock(), u64::MAX).map_err(|e| match e {
            SpoolError::Read(e) | SpoolError::Write(e) => io(e),
        })?
    } else {
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len == 0 {
            Input::Owned(Vec::new())
        } else {
            // SAFETY: the map is read-only; a file truncated underneath us by another process
            // is the one risk, as with every mmap reader.
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
            let _ = map.advise(memmap2::Advice::Sequential);
            Input::Mapped(map)
        }
    };
    if input.bytes().starts_with(&[0x1f, 0x8b]) {
        let mut decoder = flate2::read::MultiGzDecoder::new(input.bytes());
        return spool(&mut decoder, MAX_GZIP_BYTES).map_err(|e| match e {
            SpoolError::Read(e) => CaptureError::NotACapture {
                path: name.clone(),
                detail: format!("gzip data is corrupt: {e}"),
            },
            SpoolError::Write(e) => io(e),
        });
    }
    Ok(input)
}

enum SpoolError {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Copies at most `limit` bytes of `reader` into an unlinked temporary file and maps it, so
/// stdin and decompressed input cost page cache, not resident memory (`Input::release` drops
/// their pages behind the reader as for a file). Falls back to memory when no temporary file
/// can be made.
fn spool(reader: &mut dyn Read, limit: u64) -> Result<Input, SpoolError> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = std::env::temp_dir().join(format!(
        "stekwatch-{}-{}.spool",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&tmp);
    let Ok(file) = file else {
        let mut buf = Vec::new();
        reader
            .take(limit)
            .read_to_end(&mut buf)
            .map_err(SpoolError::Read)?;
        return Ok(Input::Owned(buf));
    };
    // Unlinked at once: the file lives as long as the handle and the map.
    let _ = std::fs::remove_file(&tmp);
    let mut reader = reader.take(limit);
    let mut out = std::io::BufWriter::with_capacity(1 << 16, &file);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SpoolError::Read(e)),
        };
        out.write_all(&buf[..n]).map_err(SpoolError::Write)?;
    }
    out.flush().map_err(SpoolError::Write)?;
    drop(out);
    if file.metadata().map_err(SpoolError::Write)?.len() == 0 {
        return Ok(Input::Owned(Vec::new()));
    }
    // SAFETY: read-only map of a file only this process can reach (it is unlinked).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(SpoolError::Write)?;
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(Input::Mapped(map))
}

/// Expands directories (recursively, sorted) into the capture files they hold.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CaptureError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|error| CaptureError::Io {
                    path: p.display().to_string(),
                    error,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            let files: Vec<PathBuf> = entries
                .into_iter()
                .filter(|e| e.is_dir() || looks_like_capture_name(e))
                .collect();
            out.extend(expand_paths(&files)?);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn looks_like_capture_name(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    [".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".dmp"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// Calls `sink` for every packet of a capture held in `bytes`.
pub fn read_packets<'a>(
    bytes: &'a [u8],
    name: &str,
    sink: &mut dyn FnMut(&Packet<'a>),
) -> Result<ReadOutcome, CaptureError> {
    read_packets_with(bytes, name, sink, &mut |_| {})
}

/// As `read_packets`, and calls `progress` with the offset read so far every
/// `RELEASE_EVERY` bytes (for `Input::release`).
pub fn read_packets_with<'a>(
    bytes: &'a [u8],
    name: &str,
    sink: &mut dyn FnMut(&Packet<'a>),
    progress: &mut dyn FnMut(usize),
) -> Result<ReadOutcome, CaptureError> {
    let not_capture = |detail: &str| CaptureError::NotACapture {
        path: name.to_string(),
        detail: detail.to_string(),
    };
    if bytes.is_empty() {
        return Err(not_capture("the file is empty"));
    }
    if bytes.len() < 4 {
        return Err(not_capture("too short for a capture header"));
    }
    match &bytes[..4] {
        [0x0a, 0x0d, 0x0d, 0x0a] => read_pcapng(bytes, sink, progress, &not_capture),
        [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xc3, 0xd4]
        | [0x4d, 0x3c, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d]
        | [0x34, 0xcd, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xcd, 0x34] => read_pcap(bytes, sink, progress, &not_capture),
        _ => Err(not_capture("unknown magic number")),
    }
}

fn read_pcap<'a>(
    bytes: &'a [u8],
    sink: &mut dyn FnMut(&Packet<'a>),
    progress: &mut dyn FnMut(usize),
    not_capture: &dyn Fn(&str) -> CaptureError,
) -> Result<ReadOutcome, CaptureError> {
    let (mut rest, header) = pcap_parser::parse_pcap_header(bytes)
        .map_err(|_| not_capture("pcap file header is truncated"))?;
    let nanos = header.is_nanosecond_precision();
    let linktype = header.network.0 as u32;
    let parse = if header.is_modified_format() {
        pcap_parser::parse_pcap_frame_modified
    } else if header.is_bigendian() {
        pcap_parser::parse_pcap_frame_be
    } else {
        pcap_parser::parse_pcap_frame
    };
    let mut out = ReadOutcome::default();
    let mut next_tick = RELEASE_EVERY;
    while !rest.is_empty() {
        match parse(rest) {
            Ok((next, block)) => {
                out.packets += 1;
                let frac = if nanos {
                    block.ts_usec as i64
                } else {
                    block.ts_usec as i64 * 1000
                };
                let pkt = Packet {
                    time: Timestamp::from_parts(block.ts_sec as i64, frac),
                    frame: out.packets,
                    linktype,
                    data: block.data,
                    orig_len: block.origlen,
                };
                sink(&pkt);
                rest = next;
                tick(bytes, rest, &mut next_tick, progress);
            }
            Err(_) => {
                let offset = bytes.len() - rest.len();
                out.truncated = Some(format!(
                    "file ends inside packet record {} (byte offset {offset}); {} packets read",
                    out.packets + 1,
                    out.packets
                ));
                break;
            }
        }
    }
    Ok(out)
}

/// One pcapng interface: link type and timestamp units per second.
#[derive(Clone, Copy)]
struct Interface {
    linktype: u32,
    units_per_sec: u64,
    offset_secs: i64,
}

fn read_pcapng<'a>(
    bytes: &'a [u8],
    sink: &mut dyn FnMut(&Packet<'a>),
    progress: &mut dyn FnMut(usize),
    not_capture: &dyn Fn(&str) -> CaptureError,
) -> Result<ReadOutcome, CaptureError> {
    let (mut rest, shb) = pcapng::parse_sectionheaderblock(bytes)
        .map_err(|_| not_capture("pcapng section header block is malformed or truncated"))?;
    let mut big_endian = shb.big_endian();
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut out = ReadOutcome::default();
    let mut frame = 0u64;
    let mut last_time = Timestamp::default();
    let mut next_tick = RELEASE_EVERY;
    while !rest.is_empty() {
        let parsed = if big_endian {
            pcapng::parse_block_be(rest)
        } else {
            pcapng::parse_block_le(rest)
        };
        let (next, block) = match parsed {
            Ok(ok) => ok,
            Err(_) => {
                let offset = bytes.len() - rest.len();
                out.truncated = Some(format!(
                    "unreadable or truncated pcapng block at byte offset {offset}; {frame} packets read"
                ));
                break;
            }
        };
        rest = next;
        tick(bytes, rest, &mut next_tick, progress);
        match block {
            Block::SectionHeader(shb) => {
                big_endian = shb.big_endian();
                interfaces.clear();
            }
            Block::InterfaceDescription(idb) => {
                let units = ts_units_per_sec(idb.if_tsresol);
                interfaces.push(Interface {
                    linktype: idb.linktype.0 as u32,
                    units_per_sec: units.unwrap_or(0),
                    offset_secs: idb.if_tsoffset,
                });
            }
            Block::EnhancedPacket(epb) => {
                frame += 1;
                let Some(iface) = interfaces.get(epb.if_id as usize).copied() else {
                    out.skipped_blocks += 1;
                    continue;
                };
                if iface.units_per_sec == 0 {
                    out.skipped_blocks += 1;
                    continue;
                }
                let raw = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                // Hostile if_tsresol/if_tsoffset must not overflow: times saturate instead.
                let secs = i64::try_from(raw / iface.units_per_sec)
                    .unwrap_or(i64::MAX)
                    .saturating_add(iface.offset_secs);
                let frac = raw % iface.units_per_sec;
                let nanos = (frac as u128 * 1_000_000_000 / iface.units_per_sec as u128) as i64;
                last_time = Timestamp::from_parts(secs, nanos);
                emit(
                    sink,
                    &mut out,
                    frame,
                    iface.linktype,
                    last_time,
                    &epb.data[..(epb.caplen as usize).min(epb.data.len())],
                    epb.origlen,
                );
            }
            Block::SimplePacket(spb) => {
                frame += 1;
                let Some(iface) = interfaces.first().copied() else {
                    out.skipped_blocks += 1;
                    continue;
                };
                // Simple packet blocks carry no time: they inherit the previous packet's.
                emit(
                    sink,
                    &mut out,
                    frame,
                    iface.linktype,
                    last_time,
                    &spb.data[..(spb.origlen as usize).min(spb.data.len())],
                    spb.origlen,
                );
            }
            // Block types this reader does not know (or vendors' custom blocks): skipped, counted.
            Block::Unknown(_) | Block::Custom(_) => out.skipped_blocks += 1,
            _ => {}
        }
    }
    Ok(out)
}

/// Reports progress once per `RELEASE_EVERY` bytes.
fn tick(bytes: &[u8], rest: &[u8], next_tick: &mut usize, progress: &mut dyn FnMut(usize)) {
    let done = bytes.len() - rest.len();
    if done >= *next_tick {
        *next_tick = done + RELEASE_EVERY;
        progress(done);
    }
}

/// Timestamp units per second of an `if_tsresol` value: 10^v, or 2^(v & 0x7f) when the top
/// bit is set; `None` when that does not fit in a u64. (pcap-parser 0.17's
/// `build_ts_resolution` compares the exponent with the flag bit still set, so it refuses
/// every power-of-two resolution.)
fn ts_units_per_sec(tsresol: u8) -> Option<u64> {
    let exp = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 != 0 {
        1u64.checked_shl(exp).filter(|_| exp <= 63)
    } else {
        10u64.checked_pow(exp)
    }
}

fn emit<'a>(
    sink: &mut dyn FnMut(&Packet<'a>),
    out: &mut ReadOutcome,
    frame: u64,
    linktype: u32,
    time: Timestamp,
    data: &'a [u8],
    orig_len: u32,
) {
    out.packets += 1;
    sink(&Packet {
        time,
        frame,
        linktype,
        data,
        orig_len,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_resolutions_cover_powers_of_ten_and_of_two() {
        assert_eq!(ts_units_per_sec(6), Some(1_000_000));
        assert_eq!(ts_units_per_sec(9), Some(1_000_000_000));
        assert_eq!(ts_units_per_sec(19), Some(10_000_000_000_000_000_000));
        assert_eq!(ts_units_per_sec(20), None);
        assert_eq!(ts_units_per_sec(0x80), Some(1));
        assert_eq!(ts_units_per_sec(0x80 | 10), Some(1024));
        assert_eq!(ts_units_per_sec(0x80 | 63), Some(1 << 63));
        assert_eq!(ts_units_per_sec(0x80 | 64), None);
        assert_eq!(ts_units_per_sec(0xff), None);
    }
}
