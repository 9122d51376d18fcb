//! Capture files: pcap (micro/nanosecond, both byte orders, the "modified" variant) and pcapng
//! (several sections and interfaces, per-interface link type and timestamp resolution), read
//! by pulling: `FileReader` is an iterator of `Packet`s borrowed from the input's bytes, so the
//! runtime asks for packets and nothing here calls back up the pipeline.
//!
//! Invariant: nothing here allocates in proportion to a length field; every length is checked
//! against the bytes actually present (pcap-parser's `take` does this), so a hostile record
//! length yields a "truncated" outcome, never a large allocation.

use pcap_parser::pcapng::{self, Block};

use super::input::CaptureError;
use super::Packet;
use crate::time::Timestamp;

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

type FrameParser = fn(&[u8]) -> Result<(&[u8], pcap_parser::LegacyPcapBlock<'_>), PcapErr<'_>>;
type PcapErr<'a> = pcap_parser::nom::Err<pcap_parser::PcapError<&'a [u8]>>;

/// One pcapng interface: link type and timestamp units per second.
#[derive(Clone, Copy)]
struct Interface {
    linktype: u32,
    units_per_sec: u64,
    offset_secs: i64,
}

enum Format {
    Pcap {
        parse: FrameParser,
        nanos: bool,
        linktype: u32,
    },
    Pcapng {
        big_endian: bool,
        interfaces: Vec<Interface>,
        /// Time of the last packet: simple packet blocks, which carry none, inherit it.
        last_time: Timestamp,
    },
}

/// The packets of one capture held in memory, in file order.
pub struct FileReader<'a> {
    bytes: &'a [u8],
    rest: &'a [u8],
    format: Format,
    /// Frame number of the last packet record (1-based, as Wireshark numbers them).
    frame: u64,
    outcome: ReadOutcome,
}

impl<'a> FileReader<'a> {
    /// Checks the file header; `name` labels errors.
    pub fn new(bytes: &'a [u8], name: &str) -> Result<Self, CaptureError> {
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
        let (rest, format) = match &bytes[..4] {
            [0x0a, 0x0d, 0x0d, 0x0a] => {
                let (rest, shb) = pcapng::parse_sectionheaderblock(bytes).map_err(|_| {
                    not_capture("pcapng section header block is malformed or truncated")
                })?;
                let format = Format::Pcapng {
                    big_endian: shb.big_endian(),
                    interfaces: Vec::new(),
                    last_time: Timestamp::default(),
                };
                (rest, format)
            }
            [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xc3, 0xd4]
            | [0x4d, 0x3c, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d]
            | [0x34, 0xcd, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xcd, 0x34] => {
                let (rest, header) = pcap_parser::parse_pcap_header(bytes)
                    .map_err(|_| not_capture("pcap file header is truncated"))?;
                let parse: FrameParser = if header.is_modified_format() {
                    pcap_parser::parse_pcap_frame_modified
                } else if header.is_bigendian() {
                    pcap_parser::parse_pcap_frame_be
                } else {
                    pcap_parser::parse_pcap_frame
                };
                let format = Format::Pcap {
                    parse,
                    nanos: header.is_nanosecond_precision(),
                    linktype: header.network.0 as u32,
                };
                (rest, format)
            }
            _ => return Err(not_capture("unknown magic number")),
        };
        Ok(FileReader {
            bytes,
            rest,
            format,
            frame: 0,
            outcome: ReadOutcome::default(),
        })
    }

    /// Bytes of the input read so far.
    pub fn offset(&self) -> usize {
        self.bytes.len() - self.rest.len()
    }

    /// How reading ended (meaningful once the iterator returned `None`).
    pub fn outcome(&self) -> &ReadOutcome {
        &self.outcome
    }

    pub fn into_outcome(self) -> ReadOutcome {
        self.outcome
    }

    fn next_pcap(&mut self) -> Option<Packet<'a>> {
        let Format::Pcap {
            parse,
            nanos,
            linktype,
        } = self.format
        else {
            unreachable!("pcap state")
        };
        if self.rest.is_empty() {
            return None;
        }
        match parse(self.rest) {
            Ok((next, block)) => {
                self.rest = next;
                prefetch(next);
                self.frame += 1;
                self.outcome.packets += 1;
                let frac = if nanos {
                    block.ts_usec as i64
                } else {
                    block.ts_usec as i64 * 1000
                };
                Some(Packet {
                    time: Timestamp::from_parts(block.ts_sec as i64, frac),
                    frame: self.frame,
                    linktype,
                    data: block.data,
                    orig_len: block.origlen,
                })
            }
            Err(_) => {
                let offset = self.offset();
                self.outcome.truncated = Some(format!(
                    "file ends inside packet record {} (byte offset {offset}); {} packets read",
                    self.frame + 1,
                    self.frame
                ));
                self.rest = &[];
                None
            }
        }
    }

    fn next_pcapng(&mut self) -> Option<Packet<'a>> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let Format::Pcapng { big_endian, .. } = self.format else {
                unreachable!("pcapng state")
            };
            let parsed = if big_endian {
                pcapng::parse_block_be(self.rest)
            } else {
                pcapng::parse_block_le(self.rest)
            };
            let block = match parsed {
                Ok((next, block)) => {
                    self.rest = next;
                    prefetch(next);
                    block
                }
                Err(_) => {
                    let offset = self.bytes.len() - self.rest.len();
                    self.outcome.truncated = Some(format!(
                        "unreadable or truncated pcapng block at byte offset {offset}; {} packets read",
                        self.frame
                    ));
                    self.rest = &[];
                    return None;
                }
            };
            let Some((iface, time, data, orig_len)) = self.packet_of(block) else {
                continue;
            };
            self.outcome.packets += 1;
            return Some(Packet {
                time,
                frame: self.frame,
                linktype: iface.linktype,
                data,
                orig_len,
            });
        }
    }

    /// What one pcapng block means: a packet (interface, time, bytes, length on the wire), or
    /// `None` for blocks that only change the reader's state or are skipped (counted).
    fn packet_of(&mut self, block: Block<'a>) -> Option<(Interface, Timestamp, &'a [u8], u32)> {
        let Format::Pcapng {
            big_endian,
            interfaces,
            last_time,
        } = &mut self.format
        else {
            unreachable!("pcapng state")
        };
        match block {
            Block::SectionHeader(shb) => {
                *big_endian = shb.big_endian();
                interfaces.clear();
                None
            }
            Block::InterfaceDescription(idb) => {
                interfaces.push(Interface {
                    linktype: idb.linktype.0 as u32,
                    units_per_sec: ts_units_per_sec(idb.if_tsresol).unwrap_or(0),
                    offset_secs: idb.if_tsoffset,
                });
                None
            }
            Block::EnhancedPacket(epb) => {
                self.frame += 1;
                let iface = interfaces.get(epb.if_id as usize).copied();
                let Some(iface) = iface.filter(|i| i.units_per_sec != 0) else {
                    self.outcome.skipped_blocks += 1;
                    return None;
                };
                let raw = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                *last_time = epb_time(raw, &iface);
                let data = &epb.data[..(epb.caplen as usize).min(epb.data.len())];
                Some((iface, *last_time, data, epb.origlen))
            }
            Block::SimplePacket(spb) => {
                self.frame += 1;
                let Some(iface) = interfaces.first().copied() else {
                    self.outcome.skipped_blocks += 1;
                    return None;
                };
                // Simple packet blocks carry no time: they inherit the previous packet's.
                let data = &spb.data[..(spb.origlen as usize).min(spb.data.len())];
                Some((iface, *last_time, data, spb.origlen))
            }
            // TLS key logs embedded in the capture (editcap --inject-secrets): into the
            // secrets store before the packets that follow them.
            Block::DecryptionSecrets(dsb) => {
                crate::secrets::add_block(dsb.secrets_type.0, dsb.data);
                None
            }
            // Block types this reader does not know (or vendors' custom blocks): skipped,
            // counted.
            Block::Unknown(_) | Block::Custom(_) => {
                self.outcome.skipped_blocks += 1;
                None
            }
            _ => None,
        }
    }
}

impl<'a> Iterator for FileReader<'a> {
    type Item = Packet<'a>;

    fn next(&mut self) -> Option<Packet<'a>> {
        match self.format {
            Format::Pcap { .. } => self.next_pcap(),
            Format::Pcapng { .. } => self.next_pcapng(),
        }
    }
}

/// Asks the CPU to start loading the next record's header (and the packet headers after it)
/// while the caller works on this one: packets are far apart in memory, and reading each
/// record header from a cold cache line was the largest single cost of a read.
#[inline(always)]
fn prefetch(next: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    if next.len() >= 128 {
        // SAFETY: prefetching only hints the cache; both addresses are inside `next`.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(next.as_ptr() as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(next.as_ptr().add(64) as *const i8);
        }
    }
}

/// Calls `sink` for every packet of a capture held in `bytes` (for tests and tools; the
/// runtimes pull from a `FileReader`).
pub fn read_packets<'a>(
    bytes: &'a [u8],
    name: &str,
    sink: &mut dyn FnMut(&Packet<'a>),
) -> Result<ReadOutcome, CaptureError> {
    let mut reader = FileReader::new(bytes, name)?;
    for pkt in &mut reader {
        sink(&pkt);
    }
    Ok(reader.into_outcome())
}

/// The time of an enhanced packet block. Hostile `if_tsresol`/`if_tsoffset` must not
/// overflow: times saturate instead.
fn epb_time(raw: u64, iface: &Interface) -> Timestamp {
    let secs = i64::try_from(raw / iface.units_per_sec)
        .unwrap_or(i64::MAX)
        .saturating_add(iface.offset_secs);
    let frac = raw % iface.units_per_sec;
    let nanos = (frac as u128 * 1_000_000_000 / iface.units_per_sec as u128) as i64;
    Timestamp::from_parts(secs, nanos)
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
