//! QUIC packet headers as a passive observer reads them (RFC 9000 §17, RFC 8999 for the
//! version-independent parts, RFC 9369 §3.2 for v2's packet types): where one long-header
//! packet ends inside a datagram, so coalesced packets are walked one by one, and Initial
//! packets opened in place (header protection removed, payload authenticated).
//!
//! Invariants: every read is bounds-checked; `split` always consumes at least one byte of the
//! datagram or fails, so a walk over a datagram ends; a packet is only ever opened in the
//! caller's scratch buffer, never in the capture's bytes.

use std::ops::Range;

use super::keys::{Keys, V2};

/// Most bytes of a connection ID (RFC 9000 §17.2: at most 20 in v1).
pub const MAX_CID_LEN: usize = 20;

/// A header that is cut or inconsistent (a truncated capture, a bad length, not QUIC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

/// Long-header packet types, whatever their version's code points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
}

/// One packet at the start of a datagram's remaining bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Version 0: the server lists the versions it supports; the rest of the datagram.
    VersionNegotiation,
    /// A long-header packet of a version this build knows the types of.
    Long(Long<'a>),
    /// A long header of a version this build does not know: its length is not readable, so
    /// it takes the rest of the datagram.
    UnknownVersion(u32),
    /// A short-header (1-RTT) packet: always the last of a datagram (its bytes, protected).
    Short(&'a [u8]),
}

/// A long-header packet (RFC 9000 §17.2).
#[derive(Debug, PartialEq, Eq)]
pub struct Long<'a> {
    pub version: u32,
    pub kind: Kind,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
    /// The whole packet, header included (protected).
    pub bytes: &'a [u8],
    /// Offset of the packet number in `bytes` (Initial, 0-RTT, Handshake).
    pub pn_offset: usize,
}

/// A variable-length integer (RFC 9000 §16) at the start of `b`: value and its length.
pub fn varint(b: &[u8]) -> Result<(u64, usize), Malformed> {
    let first = *b.first().ok_or(Malformed)?;
    let len = 1usize << (first >> 6);
    let bytes = b.get(..len).ok_or(Malformed)?;
    let mut v = u64::from(first & 0x3f);
    for &x in &bytes[1..] {
        v = v << 8 | u64::from(x);
    }
    Ok((v, len))
}

fn kind(version: u32, bits: u8) -> Kind {
    // v2 rotates the code points by one (RFC 9369 §3.2).
    let bits = if version == V2 { (bits + 3) & 3 } else { bits };
    match bits {
        0 => Kind::Initial,
        1 => Kind::ZeroRtt,
        2 => Kind::Handshake,
        _ => Kind::Retry,
    }
}

/// Whether long headers of `version` are laid out as v1's (v1, v2, and the IETF drafts).
fn known_layout(version: u32) -> bool {
    version == 1 || version == V2 || version >> 8 == 0x00ff_0000
}

/// Splits the first packet off `d`: the packet and what follows it in the datagram.
pub fn split(d: &[u8]) -> Result<(Packet<'_>, &[u8]), Malformed> {
    let first = *d.first().ok_or(Malformed)?;
    if first & 0x80 == 0 {
        return Ok((Packet::Short(d), &[]));
    }
    let version = u32::from_be_bytes(d.get(1..5).ok_or(Malformed)?.try_into().unwrap_or([0; 4]));
    let mut pos = 5;
    let cid = |pos: &mut usize| -> Result<&[u8], Malformed> {
        let n = *d.get(*pos).ok_or(Malformed)? as usize;
        let c = d.get(*pos + 1..*pos + 1 + n).ok_or(Malformed)?;
        *pos += 1 + n;
        Ok(c)
    };
    let dcid = cid(&mut pos)?;
    let scid = cid(&mut pos)?;
    if version == 0 {
        return Ok((Packet::VersionNegotiation, &[]));
    }
    if !known_layout(version) {
        return Ok((Packet::UnknownVersion(version), &[]));
    }
    // The fixed bit (0x40) is not checked: peers may grease it (RFC 9287).
    if dcid.len() > MAX_CID_LEN || scid.len() > MAX_CID_LEN {
        return Err(Malformed);
    }
    let kind = kind(version, (first >> 4) & 3);
    if kind == Kind::Retry {
        let p = Long {
            version,
            kind,
            dcid,
            scid,
            bytes: d,
            pn_offset: d.len(),
        };
        return Ok((Packet::Long(p), &[]));
    }
    if kind == Kind::Initial {
        let (n, l) = varint(d.get(pos..).ok_or(Malformed)?)?;
        pos = pos.checked_add(l).ok_or(Malformed)?;
        pos = usize::try_from(n)
            .ok()
            .and_then(|n| pos.checked_add(n))
            .ok_or(Malformed)?;
    }
    let (len, l) = varint(d.get(pos..).ok_or(Malformed)?)?;
    let pn_offset = pos + l;
    let end = usize::try_from(len)
        .ok()
        .and_then(|n| pn_offset.checked_add(n))
        .ok_or(Malformed)?;
    // The packet number (1..4 bytes) and the AEAD tag (16) at least.
    if end > d.len() || len < 17 {
        return Err(Malformed);
    }
    let p = Long {
        version,
        kind,
        dcid,
        scid,
        bytes: &d[..end],
        pn_offset,
    };
    Ok((Packet::Long(p), &d[end..]))
}

/// Why an Initial did not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Too short for the header-protection sample.
    Short,
    /// It does not authenticate under these keys.
    NotAuthentic,
}

/// What opens one packet-number space's packets: the header-protection mask of a sample
/// and the AEAD (Initial keys, or the keys of the user's secrets in `protected`).
pub trait Protection {
    /// The header-protection mask for a 16-byte ciphertext sample (RFC 9001 §5.4).
    fn mask(&self, sample: &[u8; 16]) -> [u8; 5];
    /// Opens `payload` (ciphertext then tag) in place as packet `pn` with `header` as AAD.
    fn open(&self, pn: u64, header: &[u8], payload: &mut [u8]) -> Option<usize>;
}

impl Protection for Keys {
    fn mask(&self, sample: &[u8; 16]) -> [u8; 5] {
        Keys::mask(self, sample)
    }
    fn open(&self, pn: u64, header: &[u8], payload: &mut [u8]) -> Option<usize> {
        Keys::open(self, pn, header, payload)
    }
}

/// Opens the protected long-header packet `bytes` (copied into `scratch`) with `keys`:
/// returns the packet number and where the plaintext payload (frames) lies in `scratch`.
/// `largest` is the largest packet number seen in this direction and packet-number space,
/// for the full number (RFC 9000 §A.3).
pub fn open(
    keys: &impl Protection,
    bytes: &[u8],
    pn_offset: usize,
    largest: Option<u64>,
    scratch: &mut Vec<u8>,
) -> Result<(u64, Range<usize>), OpenError> {
    open_masked(keys, bytes, pn_offset, 0x0f, largest, scratch)
}

/// The same for a short-header (1-RTT) packet whose Destination Connection ID is `dcid_len`
/// bytes long (RFC 9000 §17.3: the receiver knows it, the header does not say).
pub fn open_short(
    keys: &impl Protection,
    bytes: &[u8],
    dcid_len: usize,
    largest: Option<u64>,
    scratch: &mut Vec<u8>,
) -> Result<(u64, Range<usize>), OpenError> {
    open_masked(keys, bytes, 1 + dcid_len, 0x1f, largest, scratch)
}

/// Header protection removed (`first_bits` of the first byte: 0x0f long, 0x1f short), the
/// packet number reconstructed, the payload authenticated.
fn open_masked(
    keys: &impl Protection,
    bytes: &[u8],
    pn_offset: usize,
    first_bits: u8,
    largest: Option<u64>,
    scratch: &mut Vec<u8>,
) -> Result<(u64, Range<usize>), OpenError> {
    let sample: [u8; 16] = bytes
        .get(pn_offset + 4..pn_offset + 20)
        .and_then(|s| s.try_into().ok())
        .ok_or(OpenError::Short)?;
    let mask = keys.mask(&sample);
    scratch.clear();
    scratch.extend_from_slice(bytes);
    scratch[0] ^= mask[0] & first_bits;
    let pn_len = usize::from(scratch[0] & 3) + 1;
    let mut truncated = 0u64;
    for i in 0..pn_len {
        scratch[pn_offset + i] ^= mask[1 + i];
        truncated = truncated << 8 | u64::from(scratch[pn_offset + i]);
    }
    let pn = full_packet_number(largest, truncated, pn_len * 8);
    let (header, payload) = scratch.split_at_mut(pn_offset + pn_len);
    let n = keys
        .open(pn, header, payload)
        .ok_or(OpenError::NotAuthentic)?;
    let start = pn_offset + pn_len;
    Ok((pn, start..start + n))
}

/// A client Initial as a sender builds it: `version`, `dcid`, `scid`, no token, a 2-byte
/// packet number `pn`, `frames` (padded so the header-protection sample exists) sealed with
/// `keys` and header protection applied. For tests, seeds and the fuzz target.
pub fn build_initial(
    version: u32,
    dcid: &[u8],
    scid: &[u8],
    pn: u16,
    frames: &[u8],
    keys: &Keys,
) -> Vec<u8> {
    let mut payload = frames.to_vec();
    payload.resize(payload.len().max(20), 0);
    let bits = if version == V2 { 1 } else { 0 };
    let mut p = vec![0xc0 | bits << 4 | 0x01];
    p.extend(version.to_be_bytes());
    for cid in [dcid, scid] {
        p.push(cid.len().min(MAX_CID_LEN) as u8);
        p.extend_from_slice(&cid[..cid.len().min(MAX_CID_LEN)]);
    }
    p.push(0);
    let len = (2 + payload.len() + 16).min(0x3fff) as u16;
    payload.truncate(usize::from(len) - 18);
    p.extend((0x4000 | len).to_be_bytes());
    let pn_offset = p.len();
    p.extend(pn.to_be_bytes());
    keys.seal(u64::from(pn), &p, &mut payload);
    p.extend(payload);
    let mut sample = [0u8; 16];
    sample.copy_from_slice(&p[pn_offset + 4..pn_offset + 20]);
    let mask = keys.mask(&sample);
    p[0] ^= mask[0] & 0x0f;
    p[pn_offset] ^= mask[1];
    p[pn_offset + 1] ^= mask[2];
    p
}

/// RFC 9000 §A.3: the packet number closest to the next expected one.
fn full_packet_number(largest: Option<u64>, truncated: u64, bits: usize) -> u64 {
    let expected = largest.map_or(0, |l| l.saturating_add(1));
    let win = 1u64 << bits;
    let half = win / 2;
    let candidate = (expected & !(win - 1)) | truncated;
    if candidate.saturating_add(half) <= expected && candidate < (1u64 << 62) - win {
        candidate + win
    } else if candidate > expected.saturating_add(half) && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_of_every_length_read_as_rfc9000_appendix_a1() {
        assert_eq!(
            varint(&[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c]),
            Ok((151_288_809_941_952_652, 8))
        );
        assert_eq!(varint(&[0x9d, 0x7f, 0x3e, 0x7d]), Ok((494_878_333, 4)));
        assert_eq!(varint(&[0x7b, 0xbd]), Ok((15_293, 2)));
        assert_eq!(varint(&[0x25]), Ok((37, 1)));
        assert_eq!(varint(&[0x7b]), Err(Malformed));
        assert_eq!(varint(&[]), Err(Malformed));
    }

    #[test]
    fn packet_numbers_decode_as_rfc9000_appendix_a3() {
        assert_eq!(full_packet_number(Some(0xa82f30ea), 0x9b32, 16), 0xa82f9b32);
        assert_eq!(full_packet_number(None, 0, 8), 0);
        assert_eq!(full_packet_number(Some(255), 1, 8), 257);
    }

    #[test]
    fn v2_packet_types_are_rotated() {
        assert_eq!(kind(V2, 1), Kind::Initial);
        assert_eq!(kind(V2, 2), Kind::ZeroRtt);
        assert_eq!(kind(V2, 3), Kind::Handshake);
        assert_eq!(kind(V2, 0), Kind::Retry);
        assert_eq!(kind(1, 0), Kind::Initial);
        assert_eq!(kind(1, 3), Kind::Retry);
    }

    fn initial(len_field: &[u8], body: usize) -> Vec<u8> {
        let mut p = vec![0xc3, 0, 0, 0, 1, 4, 1, 2, 3, 4, 0, 0];
        p.extend_from_slice(len_field);
        p.extend(std::iter::repeat_n(0, body));
        p
    }

    #[test]
    fn a_length_past_the_datagram_is_malformed() {
        // Length 100, 50 bytes there.
        assert_eq!(split(&initial(&[0x40, 100], 50)), Err(Malformed));
        // A token length past the datagram.
        assert_eq!(
            split(&[0xc3, 0, 0, 0, 1, 0, 0, 0x7f]).map(|_| ()),
            Err(Malformed)
        );
        // A length too small for a packet number and a tag.
        assert_eq!(split(&initial(&[5], 5)), Err(Malformed));
        // Cut inside the connection IDs.
        assert_eq!(split(&[0xc3, 0, 0, 0, 1, 8, 1]), Err(Malformed));
        assert_eq!(split(&[0xc3, 0, 0]), Err(Malformed));
        // A connection ID longer than 20 bytes in v1.
        let mut p = vec![0xc3, 0, 0, 0, 1, 21];
        p.extend([0; 40]);
        assert_eq!(split(&p), Err(Malformed));
    }

    #[test]
    fn coalesced_packets_split_one_by_one() {
        let mut d = initial(&[20], 20);
        d.extend(initial(&[30], 30));
        d.extend([0x40, 1, 2, 3]); // a short header at the end
        let (p1, rest) = split(&d).unwrap();
        let Packet::Long(p1) = p1 else { panic!() };
        assert_eq!(p1.bytes.len(), 13 + 20);
        assert_eq!(p1.pn_offset, 13);
        let (p2, rest) = split(rest).unwrap();
        assert!(matches!(
            p2,
            Packet::Long(Long {
                kind: Kind::Initial,
                ..
            })
        ));
        let (p3, rest) = split(rest).unwrap();
        assert_eq!(p3, Packet::Short(&[0x40, 1, 2, 3][..]));
        assert!(rest.is_empty());
    }

    #[test]
    fn version_negotiation_and_unknown_versions_end_the_datagram() {
        let vn = [0x80, 0, 0, 0, 0, 1, 9, 1, 8, 0, 0, 0, 1];
        assert_eq!(split(&vn), Ok((Packet::VersionNegotiation, &[][..])));
        let unknown = [0xc0, 0x51, 0x30, 0x35, 0x30, 0, 0, 1, 2, 3];
        assert_eq!(
            split(&unknown),
            Ok((Packet::UnknownVersion(0x5130_3530), &[][..]))
        );
    }
}
