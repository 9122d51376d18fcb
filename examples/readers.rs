//! Compares the two ways of reading a capture file (issue 5): stekwatch's reader (pcap-parser
//! over a memory map, zero-copy) and libpcap (`pcap` crate, `Capture::from_file`). Each pass
//! touches every packet's bytes (a checksum) so neither can skip work. Needs the `live` feature
//! for libpcap:
//!
//! ```sh
//! cargo run --release --features live --example readers -- target/bench/bench-1G.pcap
//! ```

use std::path::Path;
use std::time::Instant;

use stekwatch::capture::{file, input};

fn main() {
    let path = std::env::args().nth(1).expect("usage: readers FILE.pcap");
    let size = std::fs::metadata(&path).expect("file").len() as f64;
    for round in 1..=3 {
        let (mmap_s, a) = timed(|| mmap_pass(&path));
        let (pcap_s, b) = timed(|| libpcap_pass(&path));
        assert_eq!(a, b, "both readers must see the same packets and bytes");
        println!(
            "round {round}: {} packets; mmap + pcap-parser {:.3} s ({:.0} MB/s); libpcap {:.3} s ({:.0} MB/s); libpcap/mmap {:.2}x",
            a.0,
            mmap_s,
            size / mmap_s / 1e6,
            pcap_s,
            size / pcap_s / 1e6,
            pcap_s / mmap_s
        );
    }
}

fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let t = Instant::now();
    let v = f();
    (t.elapsed().as_secs_f64(), v)
}

/// (packets, sum of captured bytes, xor-fold of the first byte of each packet).
type Tally = (u64, u64, u8);

fn mmap_pass(path: &str) -> Tally {
    let input = input::open(Path::new(path)).expect("open");
    let mut t: Tally = (0, 0, 0);
    file::read_packets(input.bytes(), path, &mut |p| {
        t.0 += 1;
        t.1 += p.data.len() as u64;
        t.2 ^= p.data.first().copied().unwrap_or(0);
    })
    .expect("read");
    t
}

fn libpcap_pass(path: &str) -> Tally {
    let mut cap = pcap::Capture::from_file(path).expect("libpcap open");
    let mut t: Tally = (0, 0, 0);
    while let Ok(p) = cap.next_packet() {
        t.0 += 1;
        t.1 += p.data.len() as u64;
        t.2 ^= p.data.first().copied().unwrap_or(0);
    }
    t
}
