//! QUIC Initial parsing: datagrams through the QUIC table into the TLS stage. The input is cut
//! in chunks `[mode][len: 2 bytes BE][bytes]`; mode bit 0 = direction (server when set), bit 1
//! = seal the chunk as the frames of a real Initial (v2 when bit 2 is set) under the keys of
//! one fixed DCID, so frame walking, CRYPTO reassembly and handshake parsing are reached past
//! the AEAD; otherwise the chunk is a raw datagram (headers, coalescing, lengths).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stekwatch::decode::{Endpoint, Udp};
use stekwatch::evidence::Evidence;
use stekwatch::pipeline::quic::QuicSession;
use stekwatch::stats::Stats;
use stekwatch::time::Timestamp;
use stekwatch::transport::quic::keys::{self, InitialKeys, V1, V2};
use stekwatch::transport::quic::packet::build_initial;
use stekwatch::transport::quic::{Limits, QuicTable};

const DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_flows: 4,
        max_held_bytes: 64 * 1024,
        idle_timeout_secs: 60,
    };
    let mut table: QuicTable<QuicSession> = QuicTable::new(limits);
    let mut stats = Stats::default();
    let mut out = Vec::new();
    let client = Endpoint::of("192.0.2.7:50000".parse().unwrap());
    let server = Endpoint::of("192.0.2.1:443".parse().unwrap());
    let v1 = InitialKeys::derive(keys::suite(V1).unwrap(), &DCID);
    let v2 = InitialKeys::derive(keys::suite(V2).unwrap(), &DCID);
    let mut rest = data;
    let mut frame = 0u64;
    while rest.len() >= 3 {
        let mode = rest[0];
        let len = (u16::from_be_bytes([rest[1], rest[2]]) as usize).min(rest.len() - 3);
        let chunk = &rest[3..3 + len];
        rest = &rest[3 + len..];
        frame += 1;
        let from_server = mode & 1 == 1;
        let datagram = if mode & 2 != 0 {
            let (version, k) = if mode & 4 != 0 { (V2, &v2) } else { (V1, &v1) };
            let keys = if from_server { &k.server } else { &k.client };
            build_initial(version, &DCID, &[1, 2, 3, 4], frame as u16, chunk, keys)
        } else {
            chunk.to_vec()
        };
        let (src, dst) = if from_server { (server, client) } else { (client, server) };
        let d = Udp {
            src,
            dst,
            payload: &datagram,
            truncated: false,
        };
        let at = Evidence {
            time: Timestamp::from_parts(1_800_000_000 + frame as i64, 0),
            frame,
            ..Evidence::default()
        };
        table.push(&d, at, &mut stats, &mut out);
        assert!(table.held() <= limits.max_held_bytes + 64 * 1024);
    }
    table.finish_all(&mut stats, &mut out);
});
