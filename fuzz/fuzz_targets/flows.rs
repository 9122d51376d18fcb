//! The flow table with the real TLS consumer behind it, under a tiny flow cap and buffer
//! budget: many connections sharing few addresses and ports (port reuse), SYN/FIN/RST,
//! retransmissions, time jumps, bypassed flows. Every cap must hold, and the run must end in a
//! report. Input: records `[flags][conn][seq: 2 bytes][dt][len][payload]`: flags bits 0-3 =
//! SYN, ACK, FIN, RST, bit 4 = direction; `conn` picks client address and port (16 of each)
//! and one of 2 servers; `dt` advances packet time (255 = jump 2 days back).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stekwatch::decode::{Endpoint, Segment, TcpFlags};
use stekwatch::evidence::Evidence;
use stekwatch::pipeline::{Limits, Pipeline};
use stekwatch::report::{self, ReportOptions};
use stekwatch::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_flows: 8,
        max_buffered_bytes: 16 * 1024,
        idle_timeout_secs: 60,
        handshake_timeout_secs: 5,
        max_tracker_bytes: 1 << 20,
        ..Limits::default()
    };
    let mut p = Pipeline::new(limits);
    p.begin_input("fuzz");
    let mut now: i64 = 1_800_000_000;
    let mut frame = 0u64;
    let mut rest = data;
    while rest.len() >= 6 {
        let (flags, conn, seq, dt) = (rest[0], rest[1], [rest[2], rest[3]], rest[4]);
        let len = (rest[5] as usize).min(rest.len() - 6);
        let payload = &rest[6..6 + len];
        rest = &rest[6 + len..];
        now += if dt == 255 { -2 * 86_400 } else { i64::from(dt) };
        frame += 1;
        let client = Endpoint::of(
            format!("198.51.100.{}:{}", conn & 15, 40_000 + u16::from(conn >> 4 & 7))
                .parse()
                .unwrap(),
        );
        let server = Endpoint::of(format!("192.0.2.{}:443", 1 + (conn >> 7)).parse().unwrap());
        let (src, dst) = if flags & 16 == 0 {
            (client, server)
        } else {
            (server, client)
        };
        let seg = Segment {
            src,
            dst,
            seq: u32::from(u16::from_be_bytes(seq)) * 97,
            flags: TcpFlags {
                syn: flags & 1 != 0,
                ack: flags & 2 != 0,
                fin: flags & 4 != 0,
                rst: flags & 8 != 0,
            },
            payload,
            truncated: false,
            missing: 0,
        };
        let at = Evidence {
            time: Timestamp::from_parts(now, 0),
            file: 0,
            frame,
        };
        let hash = p.hasher().hash(&seg);
        p.push_segment(&seg, hash, at);
        assert!(p.open_flows() <= limits.max_flows, "flow cap");
    }
    p.finish();
    assert_eq!(p.open_flows(), 0, "finish empties the table");
    let h = p.into_history();
    let _ = report::build(&h, &ReportOptions::default(), Vec::new());
});
