//! The decode stage: one captured packet into its innermost TCP `Segment`: link layer
//! (`link`: Ethernet with VLAN/QinQ, Linux SLL and SLL2, raw IP, BSD NULL/LOOP), then header by
//! header (`walk`) through IPv4/IPv6 and the tunnels of `tunnel` (VXLAN, Geneve, GRE, ERSPAN,
//! MPLS, PPPoE, GTP-U, IP-in-IP) to TCP. IP and TCP headers are etherparse's; what it lacks is
//! read by hand, every length checked. `Decoder` is the stage: header views are stateless,
//! IPv4/IPv6 defragmentation (`defrag`) is its only state, and it counts every packet it could
//! not use in `Stats`. A segment's endpoints carry the innermost identified tunnel, so
//! connections of tenants with the same inner addresses stay apart.

pub mod defrag;
mod endpoint;
mod link;
pub mod tunnel;
mod walk;

pub use endpoint::{Endpoint, FlowKey};
pub use tunnel::{Tunnel, TunnelKind};
pub use walk::MAX_ENCAPSULATIONS;

use crate::capture::Packet;
use crate::stats::Stats;
use walk::{Found, Layer, Walk};

/// Most UDP ports read as VXLAN (4789 included).
pub const MAX_VXLAN_PORTS: usize = 8;

/// What decoding may be told: the UDP ports that carry VXLAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// 0 = unused slot.
    vxlan_ports: [u16; MAX_VXLAN_PORTS],
}

impl Default for DecodeOptions {
    fn default() -> Self {
        let mut vxlan_ports = [0; MAX_VXLAN_PORTS];
        vxlan_ports[0] = tunnel::VXLAN_PORT;
        DecodeOptions { vxlan_ports }
    }
}

impl DecodeOptions {
    /// VXLAN on 4789 and on `extra` too; an error when there are too many or one is 0.
    pub fn with_vxlan_ports(extra: &[u16]) -> Result<Self, String> {
        let mut o = Self::default();
        let mut n = 1;
        for &p in extra {
            if p == 0 {
                return Err("--vxlan-port: 0 is not a port".into());
            }
            if o.is_vxlan(p) {
                continue;
            }
            if n == MAX_VXLAN_PORTS {
                return Err(format!(
                    "--vxlan-port: at most {} ports",
                    MAX_VXLAN_PORTS - 1
                ));
            }
            o.vxlan_ports[n] = p;
            n += 1;
        }
        Ok(o)
    }

    /// The ports VXLAN is read on.
    pub fn vxlan_ports(&self) -> Vec<u16> {
        self.vxlan_ports
            .iter()
            .copied()
            .filter(|&p| p != 0)
            .collect()
    }

    pub fn is_vxlan(&self, port: u16) -> bool {
        port != 0 && self.vxlan_ports.contains(&port)
    }
}

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

/// One UDP datagram whose payload starts with a QUIC long header (any port but the tunnels'),
/// borrowing its payload from the packet.
#[derive(Clone, Copy, Debug)]
pub struct Udp<'a> {
    pub src: Endpoint,
    pub dst: Endpoint,
    pub payload: &'a [u8],
    /// The capture cut this packet short.
    pub truncated: bool,
}

/// Why a packet gave no segment. Each is counted in the report's statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Link type this build does not decode.
    UnsupportedLinkType,
    /// Not IP, or IP but not TCP (UDP, ICMP, ARP, ...).
    NotTcp,
    /// An IP fragment (held for reassembly when whole in the capture).
    IpFragment,
    /// Headers are cut or inconsistent.
    Malformed,
    /// A tunnel header (or a header inside a tunnel) is cut or inconsistent.
    TunnelMalformed,
    /// More than `MAX_ENCAPSULATIONS` tunnel headers.
    TunnelDepth,
}

/// What the decode stage made of one packet.
pub enum Decoded<'a> {
    /// A segment borrowed from the packet.
    Segment(Segment<'a>),
    /// A UDP datagram for the QUIC stage, borrowed from the packet.
    Udp(Udp<'a>),
    /// The last fragment of an IP datagram arrived: the whole datagram, owned, so it lives
    /// only as long as its consumer needs it.
    Datagram(Datagram),
}

/// An IP datagram reassembled from fragments (header and payload), with the tunnel it came
/// through.
pub struct Datagram {
    pub bytes: Vec<u8>,
    pub tunnel: Option<Tunnel>,
    encaps: u8,
    opts: DecodeOptions,
}

impl Datagram {
    /// A datagram outside any tunnel.
    pub fn plain(bytes: Vec<u8>) -> Self {
        Datagram {
            bytes,
            tunnel: None,
            encaps: 0,
            opts: DecodeOptions::default(),
        }
    }

    /// Its TCP segment (through any tunnels it carries), or why not.
    pub fn decode(&self) -> Result<Segment<'_>, Skip> {
        let mut w = Walk {
            opts: &self.opts,
            cut: false,
            tunnel: self.tunnel,
            encaps: self.encaps,
        };
        match w.run(Layer::Ip(&self.bytes))? {
            Found::Segment(seg) => Ok(seg),
            // QUIC Initials are never fragmented (RFC 9000 §14: DF set): a reassembled UDP
            // datagram is not read as QUIC.
            Found::Udp(_) => Err(Skip::NotTcp),
            // A fragment inside a reassembled datagram is not reassembled again.
            Found::Fragment(_) => Err(Skip::IpFragment),
        }
    }

    /// Its TCP segment, counted like a packet's (`tcp_segments` or why not).
    pub fn segment(&self, stats: &mut Stats) -> Option<Segment<'_>> {
        match self.decode() {
            Ok(seg) => {
                stats.tcp_segments += 1;
                Some(seg)
            }
            Err(skip) => {
                count_skip(skip, stats);
                None
            }
        }
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

fn count_skip(skip: Skip, stats: &mut Stats) {
    match skip {
        Skip::NotTcp | Skip::IpFragment => stats.skipped_not_tcp += 1,
        Skip::Malformed => stats.skipped_malformed += 1,
        Skip::UnsupportedLinkType => stats.skipped_unsupported_link_type += 1,
        Skip::TunnelMalformed => stats.skipped_tunnel_malformed += 1,
        Skip::TunnelDepth => stats.skipped_tunnel_depth += 1,
    }
}

/// The decode stage: packets in, segments (or whole datagrams) out, skips counted.
#[derive(Default)]
pub struct Decoder {
    defrag: defrag::Defrag,
    opts: DecodeOptions,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_options(opts: DecodeOptions) -> Self {
        Decoder {
            opts,
            ..Self::default()
        }
    }

    /// Counts the packet and turns it into a TCP segment (or, for the last fragment of an
    /// IP datagram, the whole datagram), or counts why not.
    pub fn push<'a>(&mut self, pkt: &Packet<'a>, stats: &mut Stats) -> Option<Decoded<'a>> {
        stats.packets += 1;
        stats.bytes += pkt.data.len() as u64;
        let mut w = Walk {
            opts: &self.opts,
            cut: pkt.orig_len as usize > pkt.data.len(),
            tunnel: None,
            encaps: 0,
        };
        let found = link::link(pkt).and_then(|l| w.run(l));
        stats.tunnelled_packets += u64::from(w.encaps > 0);
        match found {
            Ok(Found::Segment(seg)) => {
                stats.tcp_segments += 1;
                stats.truncated_packets += u64::from(seg.truncated);
                Some(Decoded::Segment(with_missing(pkt, seg)))
            }
            Ok(Found::Udp(udp)) => {
                stats.truncated_packets += u64::from(udp.truncated);
                Some(Decoded::Udp(udp))
            }
            Ok(Found::Fragment(f)) => {
                stats.skipped_ip_fragments += 1;
                let bytes = self.defrag.push(&f, pkt.time, stats)?;
                Some(Decoded::Datagram(Datagram {
                    bytes,
                    tunnel: f.tunnel,
                    encaps: f.encaps,
                    opts: self.opts,
                }))
            }
            Err(Skip::IpFragment) => {
                stats.skipped_ip_fragments += 1;
                None
            }
            Err(skip) => {
                count_skip(skip, stats);
                None
            }
        }
    }
}

/// Decodes `pkt` into a TCP segment (VXLAN on its standard port only).
pub fn decode<'a>(pkt: &Packet<'a>) -> Result<Segment<'a>, Skip> {
    decode_with(pkt, &DecodeOptions::default())
}

/// Decodes `pkt` into its innermost TCP segment; fragments are `Skip::IpFragment`.
pub fn decode_with<'a>(pkt: &Packet<'a>, opts: &DecodeOptions) -> Result<Segment<'a>, Skip> {
    let mut w = Walk {
        opts,
        cut: pkt.orig_len as usize > pkt.data.len(),
        tunnel: None,
        encaps: 0,
    };
    match w.run(link::link(pkt)?)? {
        Found::Segment(seg) => Ok(with_missing(pkt, seg)),
        Found::Udp(_) => Err(Skip::NotTcp),
        Found::Fragment(_) => Err(Skip::IpFragment),
    }
}

/// A truncated segment of a packet the snaplen cut: the cut bytes are the end of its payload.
fn with_missing<'a>(pkt: &Packet<'a>, mut seg: Segment<'a>) -> Segment<'a> {
    let cut = (pkt.orig_len as usize).saturating_sub(pkt.data.len());
    if cut > 0 && seg.truncated {
        seg.missing = u32::try_from(cut).unwrap_or(u32::MAX);
    }
    seg
}

/// Decodes a bare IP datagram (one reassembled from fragments) into a TCP segment.
pub fn decode_ip(datagram: &[u8]) -> Result<Segment<'_>, Skip> {
    let mut w = Walk {
        opts: &DecodeOptions::default(),
        cut: false,
        tunnel: None,
        encaps: 0,
    };
    match w.run(Layer::Ip(datagram))? {
        Found::Segment(seg) => Ok(seg),
        Found::Udp(_) => Err(Skip::NotTcp),
        Found::Fragment(_) => Err(Skip::IpFragment),
    }
}
