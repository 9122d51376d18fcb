//! Packet decoding: the first two bytes choose the link type, the rest is the packet; the
//! tunnels (VXLAN, Geneve, GRE/ERSPAN, MPLS, PPPoE, GTP-U, IP-in-IP) are reached through
//! `decode`, the IPv4/IPv6 defragmenter and reassembled datagrams through a `Decoder` fed the
//! packet and its halves (so a fragment may meet its other part).
//! Seeds: single packets of the fixture captures (see examples/fuzz_seeds.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stekwatch::capture::{linktype, Packet};
use stekwatch::time::Timestamp;

const LINKTYPES: [u32; 11] = [
    linktype::NULL,
    linktype::ETHERNET,
    linktype::RAW_DLT_OPENBSD,
    linktype::RAW_DLT_LINUX,
    linktype::RAW,
    linktype::LOOP,
    linktype::LINUX_SLL,
    linktype::IPV4,
    linktype::IPV6,
    linktype::LINUX_SLL2,
    linktype::PPP,
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let lt = LINKTYPES[data[0] as usize % LINKTYPES.len()];
    let body = &data[2..];
    // Second byte: how many bytes the "wire" had beyond what was captured (snaplen cut).
    let pkt = Packet {
        time: Timestamp::from_parts(1_800_000_000, 0),
        frame: 1,
        linktype: lt,
        data: body,
        orig_len: body.len() as u32 + data[1] as u32,
    };
    let mut decoder = stekwatch::decode::Decoder::new();
    let mut stats = stekwatch::stats::Stats::default();
    let half = body.len() / 2;
    for part in [&body[..half], &body[half..], body] {
        let p = Packet { data: part, orig_len: part.len() as u32, ..pkt };
        if let Some(stekwatch::decode::Decoded::Datagram(d)) = decoder.push(&p, &mut stats) {
            let _ = d.decode();
        }
    }
    if let Ok(seg) = stekwatch::decode::decode(&pkt) {
        // The payload is a slice of the packet.
        let start = body.as_ptr() as usize;
        let p = seg.payload.as_ptr() as usize;
        assert!(
            seg.payload.is_empty() || (p >= start && p + seg.payload.len() <= start + body.len())
        );
    }
});
