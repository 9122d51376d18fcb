//! Tunnel and mirror encapsulation headers etherparse 0.21 does not know, read by hand: VXLAN,
//! Geneve, GRE (with ERSPAN I/II/III inside), MPLS label stacks, PPPoE sessions and GTP-U, plus
//! the `Tunnel` identity they may give a connection.
//!
//! Every function takes the bytes after the outer header and returns what comes next (`Next`),
//! or `Err(Bad)` when the header is cut or inconsistent: no index goes unchecked, so no input
//! panics. Which identifiers count as identity (`Tunnel`): VXLAN and Geneve VNIs, the GRE key
//! and the ERSPAN session id — each names one tenant or mirror session for both directions of
//! a connection. Not GTP-U TEIDs (each direction of a bearer has its own, so the two halves of
//! one TCP connection would never meet), nor MPLS labels (rewritten per hop and per direction),
//! nor PPPoE session ids (subscriber addresses are unique within the access network).

use serde::{Deserialize, Serialize};

/// The kind of tunnel whose identifier separates connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelKind {
    Vxlan,
    Geneve,
    Gre,
    Erspan,
}

impl TunnelKind {
    pub fn label(self) -> &'static str {
        match self {
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::Gre => "gre",
            TunnelKind::Erspan => "erspan",
        }
    }
}

/// The innermost identified tunnel a packet came through: part of its endpoints' identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tunnel {
    pub kind: TunnelKind,
    pub id: u32,
}

impl std::fmt::Display for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.label(), self.id)
    }
}

/// What follows a tunnel header.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<'a> {
    /// An Ethernet frame (with its header).
    Ethernet(&'a [u8]),
    /// A payload named by an EtherType (GRE's protocol type, Geneve's).
    EtherType(u16, &'a [u8]),
    /// An IP packet, either version.
    Ip(&'a [u8]),
    /// A payload this build does not follow (signalling, another PPP protocol, ...).
    Other,
}

/// A cut or inconsistent tunnel header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bad;

pub const VXLAN_PORT: u16 = 4789;
pub const GENEVE_PORT: u16 = 6081;
pub const GTPU_PORT: u16 = 2152;

pub const ETHERTYPE_TEB: u16 = 0x6558;
pub const ETHERTYPE_ERSPAN_2: u16 = 0x88BE;
pub const ETHERTYPE_ERSPAN_3: u16 = 0x22EB;
pub const ETHERTYPE_MPLS: u16 = 0x8847;
pub const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;
pub const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;

/// Most MPLS labels followed before a stack counts as malformed.
pub const MAX_MPLS_LABELS: usize = 16;

fn be16(b: &[u8], at: usize) -> Result<u16, Bad> {
    Ok(u16::from_be_bytes([
        *b.get(at).ok_or(Bad)?,
        *b.get(at + 1).ok_or(Bad)?,
    ]))
}

fn be24(b: &[u8], at: usize) -> Result<u32, Bad> {
    Ok((u32::from(be16(b, at)?) << 8) | u32::from(*b.get(at + 2).ok_or(Bad)?))
}

fn rest(b: &[u8], at: usize) -> Result<&[u8], Bad> {
    b.get(at..).ok_or(Bad)
}

/// A UDP header: (source port, destination port, payload). The length field bounds the
/// payload when it fits the bytes; a capture cut short keeps what there is.
pub fn udp(b: &[u8]) -> Result<(u16, u16, &[u8]), Bad> {
    let (src, dst, len) = (be16(b, 0)?, be16(b, 2)?, usize::from(be16(b, 4)?));
    let payload = rest(b, 8)?;
    if len != 0 && len < 8 {
        return Err(Bad);
    }
    let end = if len == 0 {
        payload.len()
    } else {
        (len - 8).min(payload.len())
    };
    Ok((src, dst, &payload[..end]))
}

/// VXLAN (RFC 7348): flags with the I bit, 24-bit VNI, then an Ethernet frame.
pub fn vxlan(b: &[u8]) -> Result<(Tunnel, Next<'_>), Bad> {
    let flags = *b.first().ok_or(Bad)?;
    if flags & 0x08 == 0 {
        return Err(Bad);
    }
    let id = be24(b, 4)?;
    Ok((
        Tunnel {
            kind: TunnelKind::Vxlan,
            id,
        },
        Next::Ethernet(rest(b, 8)?),
    ))
}

/// Geneve (RFC 8926): version 0, options of `opt_len` 4-byte words, protocol type, VNI.
pub fn geneve(b: &[u8]) -> Result<(Tunnel, Next<'_>), Bad> {
    let first = *b.first().ok_or(Bad)?;
    if first >> 6 != 0 {
        return Err(Bad);
    }
    let options = usize::from(first & 0x3f) * 4;
    let proto = be16(b, 2)?;
    let id = be24(b, 4)?;
    let payload = rest(b, 8 + options)?;
    let tunnel = Tunnel {
        kind: TunnelKind::Geneve,
        id,
    };
    Ok((tunnel, ether_type_next(proto, payload)))
}

fn ether_type_next(proto: u16, payload: &[u8]) -> Next<'_> {
    match proto {
        ETHERTYPE_TEB => Next::Ethernet(payload),
        p => Next::EtherType(p, payload),
    }
}

/// GRE (RFC 2784/2890): checksum, key and sequence words per flag; version 0 only (version 1
/// is PPTP's). ERSPAN rides on GRE and is unwrapped here too. The tunnel is the ERSPAN
/// session when there is one, else the GRE key when present.
pub fn gre(b: &[u8]) -> Result<(Option<Tunnel>, Next<'_>), Bad> {
    let flags = be16(b, 0)?;
    let (c, r, k, s) = (
        flags & 0x8000 != 0,
        flags & 0x4000 != 0,
        flags & 0x2000 != 0,
        flags & 0x1000 != 0,
    );
    if flags & 0x0007 != 0 {
        return Ok((None, Next::Other));
    }
    if r {
        // Source routing (RFC 1701) is deprecated and never seen in mirrors.
        return Err(Bad);
    }
    let proto = be16(b, 2)?;
    let mut at = 4 + if c { 4 } else { 0 };
    let mut tunnel = None;
    if k {
        let key = u32::from_be_bytes(b.get(at..at + 4).ok_or(Bad)?.try_into().map_err(|_| Bad)?);
        tunnel = Some(Tunnel {
            kind: TunnelKind::Gre,
            id: key,
        });
        at += 4;
    }
    if s {
        at += 4;
    }
    let payload = rest(b, at)?;
    match proto {
        ETHERTYPE_ERSPAN_2 if !s => Ok((tunnel, Next::Ethernet(payload))), // type I
        ETHERTYPE_ERSPAN_2 => erspan2(payload).map(|(t, n)| (Some(t), n)),
        ETHERTYPE_ERSPAN_3 => erspan3(payload).map(|(t, n)| (Some(t), n)),
        p => Ok((tunnel, ether_type_next(p, payload))),
    }
}

fn erspan_session(b: &[u8], version: u8) -> Result<Tunnel, Bad> {
    if b.first().ok_or(Bad)? >> 4 != version {
        return Err(Bad);
    }
    let id = u32::from(be16(b, 2)? & 0x03ff);
    Ok(Tunnel {
        kind: TunnelKind::Erspan,
        id,
    })
}

/// ERSPAN type II: 8 bytes (version 1, VLAN, session id, index), then the mirrored frame.
fn erspan2(b: &[u8]) -> Result<(Tunnel, Next<'_>), Bad> {
    Ok((erspan_session(b, 1)?, Next::Ethernet(rest(b, 8)?)))
}

/// ERSPAN type III: 12 bytes (version 2, ..., timestamp, SGT, flags with the frame type and
/// O = an 8-byte platform-specific subheader follows), then the mirrored frame.
fn erspan3(b: &[u8]) -> Result<(Tunnel, Next<'_>), Bad> {
    let tunnel = erspan_session(b, 2)?;
    let flags = be16(b, 10)?;
    let frame_type = (flags >> 10) & 0x1f;
    let subheader = if flags & 0x0001 != 0 { 8 } else { 0 };
    let payload = rest(b, 12 + subheader)?;
    Ok(match frame_type {
        0 => (tunnel, Next::Ethernet(payload)),
        2 => (tunnel, Next::Ip(payload)),
        _ => (tunnel, Next::Other),
    })
}

/// An MPLS label stack: labels up to the bottom-of-stack bit, then IP by its version nibble,
/// or an Ethernet pseudowire after a zero control word (RFC 4448).
pub fn mpls(b: &[u8]) -> Result<Next<'_>, Bad> {
    for i in 0..MAX_MPLS_LABELS {
        let entry = b.get(i * 4..i * 4 + 4).ok_or(Bad)?;
        if entry[2] & 0x01 == 0 {
            continue;
        }
        let payload = rest(b, i * 4 + 4)?;
        return Ok(match payload.first().map(|v| v >> 4) {
            Some(4 | 6) => Next::Ip(payload),
            Some(0) => Next::Ethernet(rest(payload, 4)?),
            _ => Next::Other,
        });
    }
    Err(Bad)
}

/// A PPPoE session header (RFC 2516: version and type 1, code 0, session id, length), then the
/// PPP protocol (one byte when compressed): IPv4 (0x0021) and IPv6 (0x0057) are followed.
/// The length field does not bound the payload: the inner IP header's length does, and real
/// captures carry PPPoE lengths shorter than their packets (Zeek's `pppoe-over-qinq` trace).
pub fn pppoe(b: &[u8]) -> Result<Next<'_>, Bad> {
    if *b.first().ok_or(Bad)? != 0x11 || *b.get(1).ok_or(Bad)? != 0 {
        return Err(Bad);
    }
    ppp(rest(b, 6)?)
}

/// A PPP frame (RFC 1661): the protocol field, 1 byte when compressed (odd) or 2, after an
/// optional HDLC-like `ff 03` address and control (RFC 1662, as the PPP link type carries).
pub fn ppp(b: &[u8]) -> Result<Next<'_>, Bad> {
    let body = match b {
        [0xff, 0x03, rest @ ..] => rest,
        _ => b,
    };
    let (proto, at) = match *body.first().ok_or(Bad)? {
        p if p & 1 == 1 => (u16::from(p), 1),
        _ => (be16(body, 0)?, 2),
    };
    let payload = rest(body, at)?;
    Ok(match proto {
        0x0021 | 0x0057 => Next::Ip(payload),
        _ => Next::Other,
    })
}

/// GTP-U (3GPP TS 29.281): version 1, PT 1; the optional sequence/N-PDU/next-extension word
/// when any of E, S, PN is set; extension headers chained by their last byte (length in
/// 4-byte words, never 0). Only G-PDUs (type 255) carry user packets. As with PPPoE, the
/// inner IP header's length bounds the packet, not the GTP length field.
pub fn gtpu(b: &[u8]) -> Result<Next<'_>, Bad> {
    let flags = *b.first().ok_or(Bad)?;
    if flags >> 5 != 1 || flags & 0x10 == 0 {
        return Err(Bad);
    }
    let msg_type = *b.get(1).ok_or(Bad)?;
    let body = rest(b, 8)?;
    if msg_type != 0xff {
        return Ok(Next::Other);
    }
    let mut at = 0;
    if flags & 0x07 != 0 {
        let mut next = *body.get(3).ok_or(Bad)?;
        at = 4;
        // Each extension is at least 4 bytes, so the loop ends within the body.
        while next != 0 {
            let words = usize::from(*body.get(at).ok_or(Bad)?);
            if words == 0 {
                return Err(Bad);
            }
            let end = at + words * 4;
            next = *body.get(end - 1).ok_or(Bad)?;
            at = end;
        }
    }
    Ok(Next::Ip(rest(body, at)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vxlan_needs_the_i_flag_and_gives_the_vni() {
        let h = [0x08, 0, 0, 0, 0, 0, 100, 0, 0xaa];
        assert_eq!(
            vxlan(&h),
            Ok((
                Tunnel {
                    kind: TunnelKind::Vxlan,
                    id: 100
                },
                Next::Ethernet(&[0xaa])
            ))
        );
        assert_eq!(vxlan(&[0, 0, 0, 0, 0, 0, 100, 0]), Err(Bad));
        assert_eq!(vxlan(&[0x08, 0, 0, 0, 0, 0, 100]), Err(Bad));
    }

    #[test]
    fn geneve_options_are_skipped_and_cut_options_are_bad() {
        let mut h = vec![0x01, 0, 0x65, 0x58, 0, 0x01, 0x02, 0];
        h.extend_from_slice(&[9; 4]);
        h.push(0xee);
        let (t, n) = geneve(&h).unwrap();
        assert_eq!(t.id, 0x102);
        assert_eq!(n, Next::Ethernet(&[0xee]));
        assert_eq!(geneve(&h[..10]), Err(Bad));
        let mut v1 = h.clone();
        v1[0] |= 0x40;
        assert_eq!(geneve(&v1), Err(Bad));
    }

    #[test]
    fn gre_words_follow_the_flags_and_the_key_is_the_tunnel() {
        // C, K, S set: checksum, key 7, sequence.
        let h = [0xb0, 0, 0x08, 0, 1, 1, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1, 0x45];
        let (t, n) = gre(&h).unwrap();
        assert_eq!(
            t,
            Some(Tunnel {
                kind: TunnelKind::Gre,
                id: 7
            })
        );
        assert_eq!(n, Next::EtherType(0x0800, &[0x45]));
        assert_eq!(gre(&h[..10]), Err(Bad));
        assert_eq!(gre(&[0x40, 0, 0x08, 0]), Err(Bad));
        assert_eq!(gre(&[0x00, 0x01, 0x88, 0x0b]), Ok((None, Next::Other)));
    }

    #[test]
    fn erspan_two_and_three_give_their_session_and_three_skips_its_subheader() {
        let mut h = vec![0x10, 0, 0x88, 0xbe, 0, 0, 0, 1]; // GRE with S, ERSPAN II
        h.extend_from_slice(&[0x10, 0x05, 0x00, 0x2a, 0, 0, 0, 0, 0xee]);
        assert_eq!(
            gre(&h).unwrap(),
            (
                Some(Tunnel {
                    kind: TunnelKind::Erspan,
                    id: 42
                }),
                Next::Ethernet(&[0xee])
            )
        );
        let mut h3 = vec![0x10, 0, 0x22, 0xeb, 0, 0, 0, 1];
        h3.extend_from_slice(&[0x20, 0, 0x03, 0xff, 0, 0, 0, 0, 0, 0, 0, 0x01]);
        h3.extend_from_slice(&[0; 8]);
        h3.push(0xee);
        assert_eq!(
            gre(&h3).unwrap(),
            (
                Some(Tunnel {
                    kind: TunnelKind::Erspan,
                    id: 1023
                }),
                Next::Ethernet(&[0xee])
            )
        );
        assert_eq!(gre(&h3[..20]), Err(Bad));
        h3[8] = 0x10; // version 1 under the type III protocol
        assert_eq!(gre(&h3), Err(Bad));
    }

    #[test]
    fn mpls_stops_at_the_bottom_of_stack() {
        let h = [0, 0x01, 0x00, 0x40, 0, 0x02, 0x01, 0x40, 0x45, 0];
        assert_eq!(mpls(&h), Ok(Next::Ip(&[0x45, 0])));
        assert_eq!(mpls(&h[..6]), Err(Bad));
        assert_eq!(mpls(&[0u8; 4 * MAX_MPLS_LABELS + 8]), Err(Bad));
        let pw = [0, 0, 0x01, 0x40, 0, 0, 0, 0, 0xee];
        assert_eq!(mpls(&pw), Ok(Next::Ethernet(&[0xee])));
    }

    #[test]
    fn pppoe_follows_ipv4_and_ipv6_whatever_its_length_says() {
        let h = [0x11, 0, 0x12, 0x34, 0, 3, 0x00, 0x21, 0x45, 0x99];
        assert_eq!(pppoe(&h), Ok(Next::Ip(&[0x45, 0x99])));
        assert_eq!(pppoe(&[0x11, 0, 0, 1, 0, 2, 0xc0, 0x21]), Ok(Next::Other));
        assert_eq!(pppoe(&[0x11, 0, 0, 1]), Err(Bad));
        assert_eq!(
            pppoe(&[0x11, 0, 0, 1, 0, 1, 0x21, 0x60]),
            Ok(Next::Ip(&[0x60]))
        );
    }

    #[test]
    fn gtpu_skips_extension_headers_and_rejects_zero_length_ones() {
        // E set, next extension 0x85 (PDU session container, 1 word), then IP.
        let h = [
            0x34, 0xff, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0x10, 0x01, 0, 0x45,
        ];
        assert_eq!(gtpu(&h), Ok(Next::Ip(&[0x45])));
        let mut zero = h;
        zero[12] = 0;
        assert_eq!(gtpu(&zero), Err(Bad));
        assert_eq!(gtpu(&h[..13]), Err(Bad));
        assert_eq!(gtpu(&[0x30, 0x01, 0, 0, 0, 0, 0, 1]), Ok(Next::Other));
        assert_eq!(gtpu(&[0x50, 0xff, 0, 0, 0, 0, 0, 1]), Err(Bad));
    }

    #[test]
    fn udp_length_bounds_the_payload() {
        assert_eq!(
            udp(&[0, 1, 0x12, 0xb5, 0, 9, 0, 0, 7, 8]),
            Ok((1, 4789, &[7u8][..]))
        );
        assert_eq!(udp(&[0, 1, 0, 2, 0, 4, 0, 0]), Err(Bad));
        assert_eq!(udp(&[0, 1, 0, 2]), Err(Bad));
    }
}
