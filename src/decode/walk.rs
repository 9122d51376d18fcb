//! The walk from a link layer's payload to the innermost TCP segment (or IP fragment): one
//! header per step — Ethernet, VLAN tags, IPv4/IPv6 (headers by etherparse), and the tunnels
//! of `tunnel` (VXLAN and Geneve on their UDP ports, GRE with ERSPAN, MPLS, PPPoE, GTP-U,
//! IP-in-IP in any combination).
//!
//! Invariants: at most `MAX_ENCAPSULATIONS` tunnel headers are entered (deeper packets are
//! `Skip::TunnelDepth`), at most three VLAN tags per Ethernet frame, so every walk ends; a
//! header that is cut or inconsistent inside a tunnel is `Skip::TunnelMalformed`, outside
//! one `Skip::Malformed`. The innermost identified tunnel (`Tunnel`) goes into the segment's
//! endpoints: the inner addresses live in that tunnel's address space.

use etherparse::{EtherType, Ethernet2Slice, IpNumber, LaxIpSlice, SingleVlanSlice, TcpSlice};

use super::defrag::Fragment;
use super::tunnel::{self, Next, Tunnel};
use super::{endpoint, DecodeOptions, Endpoint, Segment, Skip, TcpFlags, Udp};

/// Tunnel headers a packet may pass through before it counts as too deep.
pub const MAX_ENCAPSULATIONS: u8 = 4;

/// One layer still to be read.
pub(super) enum Layer<'a> {
    /// An Ethernet frame, header included.
    Ethernet(&'a [u8]),
    /// A payload named by an EtherType.
    EtherType(u16, &'a [u8]),
    /// An IP packet.
    Ip(&'a [u8]),
}

/// Where a walk ended.
pub(super) enum Found<'a> {
    Segment(Segment<'a>),
    /// A UDP datagram that may be QUIC.
    Udp(Udp<'a>),
    /// An IP fragment (whole in the capture), for the defragmenter.
    Fragment(Fragment<'a>),
}

/// The state of one walk: what the packet went through so far.
pub(super) struct Walk<'o> {
    pub opts: &'o DecodeOptions,
    /// The capture cut the packet short somewhere above.
    pub cut: bool,
    pub tunnel: Option<Tunnel>,
    /// Tunnel headers entered.
    pub encaps: u8,
}

impl Walk<'_> {
    /// Reads layers until a TCP segment or an IP fragment, or the reason there is none.
    pub fn run<'a>(&mut self, mut layer: Layer<'a>) -> Result<Found<'a>, Skip> {
        let mut vlans = 0;
        loop {
            layer = match layer {
                Layer::Ethernet(b) => {
                    let eth = Ethernet2Slice::from_slice_without_fcs(b).map_err(|_| self.bad())?;
                    vlans = 0;
                    Layer::EtherType(eth.ether_type().0, eth.payload_slice())
                }
                Layer::EtherType(et, b) => match EtherType(et) {
                    EtherType::IPV4 | EtherType::IPV6 => Layer::Ip(b),
                    EtherType::VLAN_TAGGED_FRAME
                    | EtherType::PROVIDER_BRIDGING
                    | EtherType::VLAN_DOUBLE_TAGGED_FRAME => {
                        vlans += 1;
                        if vlans > 3 {
                            return Err(Skip::NotTcp);
                        }
                        let vlan = SingleVlanSlice::from_slice(b).map_err(|_| self.bad())?;
                        Layer::EtherType(vlan.ether_type().0, vlan.payload_slice())
                    }
                    _ => self.ether_tunnel(et, b)?,
                },
                Layer::Ip(b) => match self.ip(b)? {
                    Ok(found) => return Ok(found),
                    Err(next) => next,
                },
            }
        }
    }

    /// The error for a cut or inconsistent header at the current depth.
    fn bad(&self) -> Skip {
        if self.encaps == 0 {
            Skip::Malformed
        } else {
            Skip::TunnelMalformed
        }
    }

    /// Enters one more tunnel header, if the depth allows.
    fn enter(&mut self) -> Result<(), Skip> {
        if self.encaps >= MAX_ENCAPSULATIONS {
            return Err(Skip::TunnelDepth);
        }
        self.encaps += 1;
        Ok(())
    }

    fn next<'a>(&self, n: Result<Next<'a>, tunnel::Bad>) -> Result<Layer<'a>, Skip> {
        match n.map_err(|_| Skip::TunnelMalformed)? {
            Next::Ethernet(b) => Ok(Layer::Ethernet(b)),
            Next::EtherType(et, b) => Ok(Layer::EtherType(et, b)),
            Next::Ip(b) => Ok(Layer::Ip(b)),
            Next::Other => Err(Skip::NotTcp),
        }
    }

    /// Tunnels named by an EtherType: MPLS, PPPoE sessions, transparent Ethernet bridging.
    fn ether_tunnel<'a>(&mut self, et: u16, b: &'a [u8]) -> Result<Layer<'a>, Skip> {
        match et {
            tunnel::ETHERTYPE_MPLS | tunnel::ETHERTYPE_MPLS_MULTICAST => {
                self.enter()?;
                self.next(tunnel::mpls(b))
            }
            tunnel::ETHERTYPE_PPPOE_SESSION => {
                self.enter()?;
                self.next(tunnel::pppoe(b))
            }
            tunnel::ETHERTYPE_TEB => Ok(Layer::Ethernet(b)),
            _ => Err(Skip::NotTcp),
        }
    }

    /// One IP header: the segment or fragment it carries (`Ok`), or the next layer (`Err`).
    fn ip<'a>(&mut self, b: &'a [u8]) -> Result<Result<Found<'a>, Layer<'a>>, Skip> {
        let (ip, _) = LaxIpSlice::from_slice(b).map_err(|_| self.bad())?;
        let (src, dst, v6, payload) = match &ip {
            LaxIpSlice::Ipv4(ip) => {
                let h = ip.header();
                let (s, d) = (h.source(), h.destination());
                (
                    endpoint::v4_bits(s),
                    endpoint::v4_bits(d),
                    false,
                    ip.payload(),
                )
            }
            LaxIpSlice::Ipv6(ip) => {
                let h = ip.header();
                let (s, d) = (h.source(), h.destination());
                (
                    u128::from_be_bytes(s),
                    u128::from_be_bytes(d),
                    true,
                    ip.payload(),
                )
            }
        };
        self.cut |= payload.incomplete;
        if payload.fragmented {
            return fragment(b, &ip, self.tunnel, self.encaps)
                .map(|f| Ok(Found::Fragment(f)))
                .ok_or(Skip::IpFragment);
        }
        let inner = payload.payload;
        let next = match payload.ip_number {
            IpNumber::TCP => {
                let seg = self.tcp(src, dst, v6, inner)?;
                return Ok(Ok(Found::Segment(seg)));
            }
            IpNumber::IPV4 | IpNumber::IPV6 => {
                self.enter()?;
                Layer::Ip(inner)
            }
            IpNumber::GRE => {
                self.enter()?;
                let (t, n) = tunnel::gre(inner).map_err(|_| Skip::TunnelMalformed)?;
                self.tunnel = t.or(self.tunnel);
                self.next(Ok(n))?
            }
            IpNumber::UDP => match self.udp(src, dst, v6, inner)? {
                Ok(udp) => return Ok(Ok(Found::Udp(udp))),
                Err(next) => next,
            },
            _ => return Err(Skip::NotTcp),
        };
        Ok(Err(next))
    }

    /// UDP tunnels by destination port: VXLAN (4789 and `--vxlan-port`s), Geneve, GTP-U;
    /// other UDP whose payload starts with a QUIC long header is a datagram for the QUIC
    /// stage (`Ok`), on any port: its Initial keys tell whether it really is QUIC.
    fn udp<'a>(
        &mut self,
        src: u128,
        dst: u128,
        v6: bool,
        b: &'a [u8],
    ) -> Result<Result<Udp<'a>, Layer<'a>>, Skip> {
        let Ok((sport, dport, payload)) = tunnel::udp(b) else {
            return Err(Skip::NotTcp);
        };
        let (t, n) = if self.opts.is_vxlan(dport) {
            self.enter()?;
            let (t, n) = tunnel::vxlan(payload).map_err(|_| Skip::TunnelMalformed)?;
            (Some(t), n)
        } else if dport == tunnel::GENEVE_PORT {
            self.enter()?;
            let (t, n) = tunnel::geneve(payload).map_err(|_| Skip::TunnelMalformed)?;
            (Some(t), n)
        } else if dport == tunnel::GTPU_PORT {
            self.enter()?;
            (
                None,
                tunnel::gtpu(payload).map_err(|_| Skip::TunnelMalformed)?,
            )
        } else if looks_like_quic(sport, dport, payload) {
            return Ok(Ok(Udp {
                src: Endpoint::new(src, sport, v6).in_tunnel(self.tunnel),
                dst: Endpoint::new(dst, dport, v6).in_tunnel(self.tunnel),
                payload,
                truncated: self.cut,
            }));
        } else {
            return Err(Skip::NotTcp);
        };
        self.tunnel = t.or(self.tunnel);
        self.next(Ok(n)).map(Err)
    }

    fn tcp<'a>(&self, src: u128, dst: u128, v6: bool, b: &'a [u8]) -> Result<Segment<'a>, Skip> {
        let tcp = TcpSlice::from_slice(b).map_err(|_| self.bad())?;
        Ok(Segment {
            src: Endpoint::new(src, tcp.source_port(), v6).in_tunnel(self.tunnel),
            dst: Endpoint::new(dst, tcp.destination_port(), v6).in_tunnel(self.tunnel),
            seq: tcp.sequence_number(),
            flags: TcpFlags {
                syn: tcp.syn(),
                ack: tcp.ack(),
                fin: tcp.fin(),
                rst: tcp.rst(),
            },
            payload: tcp.payload(),
            truncated: self.cut,
            missing: 0,
        })
    }
}

/// QUIC version 2 (RFC 9369); the transport stage has the rest of QUIC.
const QUIC_V2: u32 = 0x6b33_43cf;

/// A QUIC long header (RFC 8999: the high bit; the fixed bit may be greased, RFC 9287) of a
/// version whose Initials can be read, or of any version on port 443 (counted there as an
/// unknown version); or, while the user's secrets are loaded, a short header (1-RTT, which
/// the QUIC stage reads only for connections it decrypts). Cheap: five bytes, no state.
fn looks_like_quic(sport: u16, dport: u16, payload: &[u8]) -> bool {
    let Some(head) = payload.get(..5) else {
        return false;
    };
    if head[0] & 0x80 == 0 {
        return head[0] & 0x40 != 0 && crate::secrets::loaded();
    }
    let version = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    sport == 443
        || dport == 443
        || version == 1
        || version == QUIC_V2
        || version >> 8 == 0x00ff_0000
}

/// The fragment an IP packet is, when the capture holds it whole.
fn fragment<'a>(
    b: &'a [u8],
    ip: &LaxIpSlice<'a>,
    tunnel: Option<Tunnel>,
    encaps: u8,
) -> Option<Fragment<'a>> {
    match ip {
        LaxIpSlice::Ipv4(ip) => {
            let h = ip.header();
            let payload = ip.payload();
            if payload.incomplete {
                return None;
            }
            Some(Fragment {
                src: endpoint::v4_bits(h.source()),
                dst: endpoint::v4_bits(h.destination()),
                v6: false,
                tunnel,
                encaps,
                id: u32::from(h.identification()),
                protocol: h.protocol().0,
                offset: h.fragments_offset().value() as usize * 8,
                more: h.more_fragments(),
                header: b.get(..h.slice().len())?,
                payload: payload.payload,
            })
        }
        LaxIpSlice::Ipv6(ip) => {
            let h = ip.header();
            let payload = ip.payload();
            if payload.incomplete {
                return None;
            }
            let frag = ip.extensions().clone().into_iter().find_map(|e| match e {
                etherparse::Ipv6ExtensionSlice::Fragment(f) => Some(f),
                _ => None,
            })?;
            Some(Fragment {
                src: u128::from_be_bytes(h.source()),
                dst: u128::from_be_bytes(h.destination()),
                v6: true,
                tunnel,
                encaps,
                id: frag.identification(),
                protocol: payload.ip_number.0,
                offset: frag.fragment_offset().value() as usize * 8,
                more: frag.more_fragments(),
                header: b.get(..40)?,
                payload: payload.payload,
            })
        }
    }
}
