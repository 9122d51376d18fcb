//! The decode stage: one captured packet into a TCP `Segment`: link layer (Ethernet with
//! VLAN/QinQ, Linux SLL and SLL2, raw IP, BSD NULL/LOOP), IPv4/IPv6 (and one level of IP-in-IP,
//! e.g. 6in4 tunnels), TCP. Header parsing is etherparse's; only the link layers it lacks
//! (SLL2, NULL/LOOP) are stripped by hand here. `Decoder` is the stage: header views are
//! stateless, IPv4 defragmentation (`defrag`) is its only state, and it counts every packet it
//! could not use in `Stats`.

pub mod defrag;
mod endpoint;

use etherparse::{EtherType, Ethernet2Slice, IpNumber, LaxIpSlice, SingleVlanSlice, TcpSlice};

pub use endpoint::{Endpoint, FlowKey};

use crate::capture::{linktype, Packet};
use crate::stats::Stats;

/// TCP flags the flow stage uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

/// One TCP segment, borrowing its payload from the packet.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    pub src: Endpoint,
    pub dst: Endpoint,
    pub seq: u32,
    pub flags: TcpFlags,
    pub payload: &'a [u8],
    /// The capture cut this packet short: `payload` is missing bytes at its end.
    pub truncated: bool,
    /// Payload bytes the capture cut off this segment (snaplen), when known: the stream loses
    /// them here, not at some later segment.
    pub missing: u32,
}

/// Why a packet gave no segment. Each is counted in the report's statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Link type this build does not decode.
    UnsupportedLinkType,
    /// Not IP, or IP but not TCP (UDP, ICMP, ARP, ...).
    NotTcp,
    /// An IP fragment (reassembly of IP fragments is not done).
    IpFragment,
    /// Headers are cut or inconsistent.
    Malformed,
}

/// What the decode stage made of one packet.
pub enum Decoded<'a> {
    /// A segment borrowed from the packet.
    Segment(Segment<'a>),
    /// The last fragment of an IPv4 datagram arrived: the whole datagram, owned, so it lives
    /// only as long as its consumer needs it.
    Datagram(Datagram),
}

/// An IPv4 datagram reassembled from fragments (header and payload).
pub struct Datagram(pub Vec<u8>);

impl Datagram {
    /// Its TCP segment, counted like a packet's (`tcp_segments` or `skipped_not_tcp`).
    pub fn segment(&self, stats: &mut Stats) -> Option<Segment<'_>> {
        match decode_ip(&self.0) {
            Ok(seg) => {
                stats.tcp_segments += 1;
                Some(seg)
            }
            Err(_) => {
                stats.skipped_not_tcp += 1;
                None
            }
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The decode stage: packets in, segments (or whole datagrams) out, skips counted.
#[derive(Default)]
pub struct Decoder {
    defrag: defrag::Defrag,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts the packet and turns it into a TCP segment (or, for the last fragment of an
    /// IPv4 datagram, the whole datagram), or counts why not.
    pub fn push<'a>(&mut self, pkt: &Packet<'a>, stats: &mut Stats) -> Option<Decoded<'a>> {
        stats.packets += 1;
        stats.bytes += pkt.data.len() as u64;
        match decode(pkt) {
            Ok(seg) => {
                stats.tcp_segments += 1;
                stats.truncated_packets += u64::from(seg.truncated);
                Some(Decoded::Segment(seg))
            }
            Err(Skip::IpFragment) => {
                stats.skipped_ip_fragments += 1;
                let f = ipv4_fragment(pkt)?;
                let whole = self.defrag.push(&f, pkt.time, stats)?;
                Some(Decoded::Datagram(Datagram(whole)))
            }
            Err(skip) => {
                match skip {
                    Skip::NotTcp | Skip::IpFragment => stats.skipped_not_tcp += 1,
                    Skip::Malformed => stats.skipped_malformed += 1,
                    Skip::UnsupportedLinkType => stats.skipped_unsupported_link_type += 1,
                }
                None
            }
        }
    }
}

/// Decodes `pkt` into a TCP segment.
pub fn decode<'a>(pkt: &Packet<'a>) -> Result<Segment<'a>, Skip> {
    let cut = (pkt.orig_len as usize).saturating_sub(pkt.data.len());
    let mut seg = from_ip(ip(link(pkt)?)?, cut > 0, 0)?;
    if cut > 0 && seg.truncated {
        // The snaplen cuts the end of the frame: that is the end of the TCP payload.
        seg.missing = u32::try_from(cut).unwrap_or(u32::MAX);
    }
    Ok(seg)
}

/// Decodes a bare IP datagram (one reassembled from fragments) into a TCP segment.
pub fn decode_ip(datagram: &[u8]) -> Result<Segment<'_>, Skip> {
    from_ip(ip(datagram)?, false, 0)
}

/// The IPv4 fragment a packet carries (for packets `decode` skipped as `IpFragment`).
pub fn ipv4_fragment<'a>(pkt: &Packet<'a>) -> Option<defrag::Fragment<'a>> {
    let bytes = link(pkt).ok()?;
    let LaxIpSlice::Ipv4(ip) = ip(bytes).ok()? else {
        return None;
    };
    let h = ip.header();
    let payload = ip.payload();
    if payload.incomplete {
        return None;
    }
    let header = bytes.get(..h.slice().len())?;
    Some(defrag::Fragment {
        src: h.source_addr(),
        dst: h.destination_addr(),
        id: h.identification(),
        protocol: h.protocol().0,
        offset: h.fragments_offset().value() as usize * 8,
        more: h.more_fragments(),
        header,
        payload: payload.payload,
    })
}

/// Strips the link layer: the bytes from the IP header on.
fn link<'a>(pkt: &Packet<'a>) -> Result<&'a [u8], Skip> {
    let data = pkt.data;
    match pkt.linktype {
        linktype::ETHERNET => {
            let eth = Ethernet2Slice::from_slice_without_fcs(data).map_err(|_| Skip::Malformed)?;
            above_ether_type(eth.ether_type(), eth.payload_slice())
        }
        linktype::RAW
        | linktype::RAW_DLT_LINUX
        | linktype::RAW_DLT_OPENBSD
        | linktype::IPV4
        | linktype::IPV6 => Ok(data),
        linktype::LINUX_SLL => {
            // 16-byte header; protocol (an EtherType) in the last two bytes.
            let proto = be16(data, 14).ok_or(Skip::Malformed)?;
            above_ether_type(EtherType(proto), &data[16..])
        }
        linktype::LINUX_SLL2 => {
            // 20-byte header; protocol (an EtherType) in the first two bytes.
            let proto = be16(data, 0).ok_or(Skip::Malformed)?;
            let rest = data.get(20..).ok_or(Skip::Malformed)?;
            above_ether_type(EtherType(proto), rest)
        }
        linktype::NULL | linktype::LOOP => {
            // 4-byte address family, host byte order for NULL, network order for LOOP.
            let raw: [u8; 4] = data
                .get(..4)
                .ok_or(Skip::Malformed)?
                .try_into()
                .expect("4 bytes");
            // NULL is in the capturing host's byte order: small values tell which.
            let family = if pkt.linktype == linktype::LOOP || (raw[0] == 0 && raw[1] == 0) {
                u32::from_be_bytes(raw)
            } else {
                u32::from_le_bytes(raw)
            };
            match family {
                2 | 24 | 28 | 30 => Ok(&data[4..]),
                _ => Err(Skip::NotTcp),
            }
        }
        _ => Err(Skip::UnsupportedLinkType),
    }
}

/// Follows up to three VLAN tags (802.1Q, QinQ) to an IP payload.
fn above_ether_type(mut ether_type: EtherType, mut payload: &[u8]) -> Result<&[u8], Skip> {
    for _ in 0..=3 {
        match ether_type {
            EtherType::IPV4 | EtherType::IPV6 => return Ok(payload),
            EtherType::VLAN_TAGGED_FRAME
            | EtherType::PROVIDER_BRIDGING
            | EtherType::VLAN_DOUBLE_TAGGED_FRAME => {
                let vlan = SingleVlanSlice::from_slice(payload).map_err(|_| Skip::Malformed)?;
                ether_type = vlan.ether_type();
                payload = vlan.payload_slice();
            }
            _ => return Err(Skip::NotTcp),
        }
    }
    Err(Skip::NotTcp)
}

fn ip(bytes: &[u8]) -> Result<LaxIpSlice<'_>, Skip> {
    LaxIpSlice::from_slice(bytes)
        .map(|(ip, _)| ip)
        .map_err(|_| Skip::Malformed)
}

fn from_ip<'a>(ip: LaxIpSlice<'a>, cut: bool, depth: u8) -> Result<Segment<'a>, Skip> {
    let (src, dst, v6, payload) = match &ip {
        LaxIpSlice::Ipv4(ip) => {
            let h = ip.header();
            (
                endpoint::v4_bits(h.source()),
                endpoint::v4_bits(h.destination()),
                false,
                ip.payload(),
            )
        }
        LaxIpSlice::Ipv6(ip) => {
            let h = ip.header();
            (
                u128::from_be_bytes(h.source()),
                u128::from_be_bytes(h.destination()),
                true,
                ip.payload(),
            )
        }
    };
    if payload.fragmented {
        return Err(Skip::IpFragment);
    }
    match payload.ip_number {
        IpNumber::TCP => {}
        IpNumber::IPV4 | IpNumber::IPV6 if depth == 0 => {
            return from_ip(self::ip(payload.payload)?, cut || payload.incomplete, 1);
        }
        _ => return Err(Skip::NotTcp),
    }
    let tcp = TcpSlice::from_slice(payload.payload).map_err(|_| Skip::Malformed)?;
    Ok(Segment {
        src: Endpoint::new(src, tcp.source_port(), v6),
        dst: Endpoint::new(dst, tcp.destination_port(), v6),
        seq: tcp.sequence_number(),
        flags: TcpFlags {
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
        },
        payload: tcp.payload(),
        truncated: cut || payload.incomplete,
        missing: 0,
    })
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}
