//! TCP reassembly of both directions of one connection, feeding the TLS layer.
//! Input: a list of segments `[flags][seq: 4 bytes BE][len: 2 bytes BE][payload]`; flags bit 0
//! = direction, bit 1 = SYN, bit 2 = relative sequence (added to the direction's first seq),
//! bit 3 = FIN.
//! Seeds: the segments of each fixture connection (see examples/fuzz_seeds.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stekwatch::chunk::Chunk;
use stekwatch::evidence::Evidence;
use stekwatch::transport::tcp::reassembly::{Budget, Stream};
use stekwatch::time::Timestamp;
use stekwatch::tls::conn::TlsConn;

fuzz_target!(|data: &[u8]| {
    let mut streams = [Stream::new(), Stream::new()];
    // A small shared budget so caps trigger.
    let mut budget = Budget::new(48 * 1024);
    let mut tls = TlsConn::new(
        "192.0.2.7:50000".parse().unwrap(),
        "192.0.2.1:443".parse().unwrap(),
    );
    let mut base = [None::<u32>; 2];
    let mut seen = [0u64; 2];
    let mut rest = data;
    let mut frame = 0;
    while rest.len() >= 7 {
        let flags = rest[0];
        let mut seq = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]);
        let len = (u16::from_be_bytes([rest[5], rest[6]]) as usize).min(rest.len() - 7);
        let payload = &rest[7..7 + len];
        rest = &rest[7 + len..];
        let dir = (flags & 1) as usize;
        if flags & 4 != 0 {
            seq = seq.wrapping_add(*base[dir].get_or_insert(seq));
        }
        frame += 1;
        let at = Evidence {
            time: Timestamp::from_parts(1_800_000_000 + frame as i64, 0),
            file: 0,
            frame,
        };
        let mut out = |d: Chunk<'_>| {
            match d {
                Chunk::Data(b) => seen[dir] += b.len() as u64,
                Chunk::Gap(n) => seen[dir] += n,
            }
            tls.push(dir, d, at);
        };
        streams[dir].push(seq, flags & 2 != 0, flags & 8 != 0, payload, &mut budget, &mut out);
        assert!(budget.used <= budget.limit);
        assert_eq!(
            budget.used,
            streams[0].pending_bytes() + streams[1].pending_bytes()
        );
        assert_eq!(seen[dir], streams[dir].delivered());
    }
    let at = Evidence::default();
    for (dir, s) in streams.iter_mut().enumerate() {
        s.flush(&mut budget, &mut |d| tls.push(dir, d, at));
        assert_eq!(s.pending_bytes(), 0);
    }
    assert_eq!(budget.used, 0);
    let _ = tls.finish();
});
