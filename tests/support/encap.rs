//! Encapsulation headers for tests: each function wraps a payload in one real header
//! (Ethernet, IPv4 with checksum, IPv6, UDP, VXLAN, Geneve with an option, GRE, ERSPAN II/III,
//! MPLS, PPPoE, GTP-U with an extension header), so real captures can be rewritten into the
//! tunnels the test kernel has no device for.
#![allow(dead_code)]

pub fn eth(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    f.extend(ether_type.to_be_bytes());
    f.extend(payload);
    f
}

pub fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut h = vec![
        0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0, 192, 168, 77, 1, 192, 168, 77, 2,
    ];
    h[2..4].copy_from_slice(&len.to_be_bytes());
    let sum: u32 = h
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    h.extend(payload);
    h
}

pub fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend((payload.len() as u16).to_be_bytes());
    h.extend([next, 64]);
    h.extend([0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    h.extend([0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    h.extend(payload);
    h
}

pub fn udp(dst: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0xc0, 0x01];
    h.extend(dst.to_be_bytes());
    h.extend(((8 + payload.len()) as u16).to_be_bytes());
    h.extend([0, 0]);
    h.extend(payload);
    h
}

pub fn vxlan(vni: u32, frame: &[u8]) -> Vec<u8> {
    let mut h = vec![0x08, 0, 0, 0];
    h.extend(&(vni << 8).to_be_bytes());
    h.extend(frame);
    h
}

/// Geneve with one 8-byte option (class 0x0103, type 1).
pub fn geneve(vni: u32, proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x02, 0];
    h.extend(proto.to_be_bytes());
    h.extend(&(vni << 8).to_be_bytes());
    h.extend([0x01, 0x03, 0x01, 0x01, 0xde, 0xad, 0xbe, 0xef]);
    h.extend(payload);
    h
}

/// GRE with checksum, key and sequence words when given.
pub fn gre(proto: u16, key: Option<u32>, seq: bool, payload: &[u8]) -> Vec<u8> {
    let mut flags = 0x8000u16;
    flags |= if key.is_some() { 0x2000 } else { 0 };
    flags |= if seq { 0x1000 } else { 0 };
    let mut h = flags.to_be_bytes().to_vec();
    h.extend(proto.to_be_bytes());
    h.extend([0, 0, 0, 0]);
    if let Some(k) = key {
        h.extend(k.to_be_bytes());
    }
    if seq {
        h.extend(7u32.to_be_bytes());
    }
    h.extend(payload);
    h
}

pub fn erspan2(session: u16, frame: &[u8]) -> Vec<u8> {
    let mut h = vec![0x10, 0x00];
    h.extend(session.to_be_bytes());
    h.extend([0, 0, 0, 9]);
    h.extend(frame);
    gre(0x88be, None, true, &h)
}

/// ERSPAN III with the optional platform subheader (O flag).
pub fn erspan3(session: u16, frame: &[u8]) -> Vec<u8> {
    let mut h = vec![0x20, 0x00];
    h.extend(session.to_be_bytes());
    h.extend([0x12, 0x34, 0x56, 0x78, 0, 0, 0x00, 0x1d]); // timestamp, SGT, hw id 7, O
    h.extend([0x0c, 0, 0, 0, 0, 0, 0, 0]); // platform subheader
    h.extend(frame);
    gre(0x22eb, None, true, &h)
}

pub fn mpls(labels: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (i, l) in labels.iter().enumerate() {
        let bos = u32::from(i + 1 == labels.len());
        h.extend(((l << 12) | (bos << 8) | 64).to_be_bytes());
    }
    h.extend(payload);
    h
}

pub fn pppoe(ip: &[u8]) -> Vec<u8> {
    let proto: u16 = if ip[0] >> 4 == 6 { 0x0057 } else { 0x0021 };
    let mut h = vec![0x11, 0, 0x12, 0x34];
    h.extend(((2 + ip.len()) as u16).to_be_bytes());
    h.extend(proto.to_be_bytes());
    h.extend(ip);
    h
}

/// GTP-U G-PDU with a PDU session container extension header.
pub fn gtpu(teid: u32, ip: &[u8]) -> Vec<u8> {
    let mut h = vec![0x34, 0xff];
    h.extend(((8 + ip.len()) as u16).to_be_bytes());
    h.extend(teid.to_be_bytes());
    h.extend([0, 0, 0, 0x85, 1, 0x10, 0x09, 0]);
    h.extend(ip);
    h
}
