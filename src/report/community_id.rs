//! Community ID v1 (corelight/community-id-spec): a flow hash that Zeek (`conn.log`),
//! Suricata (`community_id` in EVE) and Wireshark compute alike, so per-connection records
//! join with their logs.
//!
//! `1:` then base64 (standard alphabet, padded) of SHA-1 over: the seed (2 bytes, big
//! endian), the lower endpoint's address then the higher one's (4 or 16 bytes each), the IP
//! protocol number, one zero byte, the lower endpoint's port then the higher one's (2 bytes
//! each, big endian). Endpoints are ordered by address bytes, then port, so both directions
//! give the same id.

use std::net::{IpAddr, SocketAddr};

use base64::Engine;
use sha1::{Digest, Sha1};

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// The Community ID v1 of a flow between `a` and `b` over IP protocol `proto` (6 TCP, 17 UDP).
pub fn community_id(seed: u16, proto: u8, a: SocketAddr, b: SocketAddr) -> String {
    let ea = (ip_bytes(a.ip()), a.port());
    let eb = (ip_bytes(b.ip()), b.port());
    let (lo, hi) = if ea <= eb { (ea, eb) } else { (eb, ea) };
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    h.update(&lo.0);
    h.update(&hi.0);
    h.update([proto, 0]);
    h.update(lo.1.to_be_bytes());
    h.update(hi.1.to_be_bytes());
    format!(
        "1:{}",
        base64::engine::general_purpose::STANDARD.encode(h.finalize())
    )
}

#[cfg(test)]
mod tests {
    use super::community_id;

    fn a(s: &str) -> std::net::SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_specs_tcp_and_udp_vectors_come_out_in_either_direction() {
        // The spec's baseline: 1.2.3.4:1122 -> 5.6.7.8:3344, seed 0.
        let (x, y) = (a("1.2.3.4:1122"), a("5.6.7.8:3344"));
        assert_eq!(community_id(0, 6, x, y), "1:wCb3OG7yAFWelaUydu0D+125CLM=");
        assert_eq!(community_id(0, 6, y, x), "1:wCb3OG7yAFWelaUydu0D+125CLM=");
        assert_eq!(community_id(0, 17, x, y), "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=");
    }

    #[test]
    fn the_same_address_orders_by_port() {
        let (x, y) = (a("127.0.0.1:443"), a("127.0.0.1:50000"));
        assert_eq!(community_id(0, 6, x, y), community_id(0, 6, y, x));
        assert_ne!(community_id(0, 6, x, y), community_id(1, 6, x, y));
    }
}
