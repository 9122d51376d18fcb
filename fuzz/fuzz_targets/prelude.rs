//! The prelude scanner (TLS after STARTTLS and its kin) and the TCP/TLS glue behind it.
//! Input: chunks `[dir|len: 2 bytes BE][bytes]` (top bit = direction; length 0 = a gap), fed
//! both to a bare `Prelude` and to a `TlsSession` (the flow table's consumer).
//! Checked: nothing reaches the TLS stage before the server accepted; what the prelude holds
//! stays under its cap; a connection ends either in TLS or with at most one skip reason.
//! Seeds: the reassembled streams of the fixture connections (see examples/fuzz_seeds.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stekwatch::chunk::Chunk;
use stekwatch::evidence::Evidence;
use stekwatch::pipeline::session::TlsSession;
use stekwatch::stats::Stats;
use stekwatch::time::Timestamp;
use stekwatch::transport::tcp::prelude::{Prelude, MAX_PRELUDE_BYTES};
use stekwatch::transport::tcp::Consumer;

fuzz_target!(|data: &[u8]| {
    let mut prelude = Prelude::new();
    let mut session = TlsSession::open(
        "192.0.2.7:50000".parse().unwrap(),
        "192.0.2.1:25".parse().unwrap(),
        None,
    );
    let mut handed = 0usize;
    let mut rest = data;
    let mut frame = 0;
    while rest.len() >= 2 {
        let word = u16::from_be_bytes([rest[0], rest[1]]);
        let dir = (word >> 15) as usize;
        let len = ((word & 0x7fff) as usize).min(rest.len() - 2);
        let bytes = &rest[2..2 + len];
        rest = &rest[2 + len..];
        frame += 1;
        let at = Evidence {
            time: Timestamp::from_parts(1_800_000_000 + frame as i64, 0),
            file: 0,
            frame,
        };
        let chunk = || if len == 0 { Chunk::Gap(1) } else { Chunk::Data(bytes) };
        let before = prelude.protocol();
        prelude.push(dir, chunk(), at, &mut |_, _, _| handed += 1);
        session.push(dir, chunk(), at);
        // Only a server's acceptance switches, and nothing is handed on before it.
        if prelude.protocol().is_none() {
            assert_eq!(handed, 0);
        }
        assert!(before.is_none() || prelude.protocol() == before);
        assert!(prelude.held() <= 4 * MAX_PRELUDE_BYTES);
        let _ = session.held();
        let _ = session.wants(dir);
    }
    assert!(prelude.protocol().is_none() || prelude.skip().is_none());
    let mut stats = Stats::default();
    let summary = session.finish(&mut stats);
    let skips = stats.prelude_refused
        + stats.prelude_unanswered
        + stats.prelude_no_tls
        + stats.prelude_over_cap
        + stats.prelude_gap;
    assert!(skips + stats.prelude_tls <= 1);
    if let Some(s) = summary {
        assert!(s.protocol.is_none() || stats.prelude_tls == 1);
    }
});
