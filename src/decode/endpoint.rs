//! Connection endpoints in a compact, cheaply compared and hashed form, and the canonical key
//! of a connection (both directions map to one key). Socket addresses are made from them only
//! where a person or a report needs one. An endpoint inside a tunnel carries the tunnel (its
//! address lives in that tunnel's address space), so the key of a connection includes it; it
//! fits in the padding, so keys stay 64 bytes.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::tunnel::Tunnel;

/// An IPv6 address (IPv4 as IPv4-mapped) and port; `v6` tells which family it came from;
/// `tunnel` is the innermost identified tunnel the packet came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    addr: u128,
    port: u16,
    v6: bool,
    tunnel: Option<Tunnel>,
}

/// The IPv4-mapped IPv6 form of an IPv4 address.
pub(super) fn v4_bits(octets: [u8; 4]) -> u128 {
    (0xffff_u128 << 32) | u128::from(u32::from_be_bytes(octets))
}

impl Endpoint {
    pub fn new(addr: u128, port: u16, v6: bool) -> Self {
        Endpoint {
            addr,
            port,
            v6,
            tunnel: None,
        }
    }

    /// The same endpoint in the address space of `tunnel`.
    pub fn in_tunnel(self, tunnel: Option<Tunnel>) -> Self {
        Endpoint { tunnel, ..self }
    }

    pub fn tunnel(self) -> Option<Tunnel> {
        self.tunnel
    }

    pub fn of(a: SocketAddr) -> Self {
        match a {
            SocketAddr::V4(v4) => Endpoint::new(v4_bits(v4.ip().octets()), v4.port(), false),
            SocketAddr::V6(v6) => Endpoint::new(v6.ip().to_bits(), v6.port(), true),
        }
    }

    pub fn socket_addr(self) -> SocketAddr {
        let ip = Ipv6Addr::from_bits(self.addr);
        match (self.v6, ip.to_ipv4_mapped()) {
            (false, Some(v4)) => SocketAddr::V4(SocketAddrV4::new(v4, self.port)),
            _ => SocketAddr::V6(SocketAddrV6::new(ip, self.port, 0, 0)),
        }
    }
}

/// A connection's two endpoints, the lower first: the same for both directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub lo: Endpoint,
    pub hi: Endpoint,
}

impl FlowKey {
    /// The key of a packet from `src` to `dst`, and whether `src` is the key's lower end.
    pub fn of(src: Endpoint, dst: Endpoint) -> (FlowKey, bool) {
        if src <= dst {
            (FlowKey { lo: src, hi: dst }, true)
        } else {
            (FlowKey { lo: dst, hi: src }, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_round_trip_through_endpoints() {
        for a in [
            "192.0.2.1:443",
            "[2001:db8::1]:8443",
            "[::ffff:192.0.2.1]:443",
        ] {
            let a: SocketAddr = a.parse().unwrap();
            assert_eq!(Endpoint::of(a).socket_addr(), a);
        }
    }

    #[test]
    fn both_directions_share_one_key() {
        let a = Endpoint::of("198.51.100.9:40000".parse().unwrap());
        let b = Endpoint::of("192.0.2.1:443".parse().unwrap());
        let (k1, a_lo) = FlowKey::of(a, b);
        let (k2, b_lo) = FlowKey::of(b, a);
        assert_eq!(k1, k2);
        assert_ne!(a_lo, b_lo);
    }

    #[test]
    fn the_same_addresses_in_two_tunnels_are_two_keys_of_the_same_size() {
        use super::super::tunnel::TunnelKind;
        let a = Endpoint::of("10.0.0.1:40000".parse().unwrap());
        let b = Endpoint::of("10.0.0.5:443".parse().unwrap());
        let t = |id| {
            Some(Tunnel {
                kind: TunnelKind::Vxlan,
                id,
            })
        };
        let (k1, _) = FlowKey::of(a.in_tunnel(t(100)), b.in_tunnel(t(100)));
        let (k2, _) = FlowKey::of(b.in_tunnel(t(200)), a.in_tunnel(t(200)));
        assert_ne!(k1, k2);
        assert_eq!(std::mem::size_of::<FlowKey>(), 64);
    }
}
