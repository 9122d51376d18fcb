//! Live heap while reading hostile traffic in process, with a counting allocator. One test
//! function (run alone in this binary), so no other test's allocations mix in.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};

use stekwatch::capture::input::Input;
use stekwatch::pipeline::Limits;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            grow(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
}

fn grow(n: usize) {
    let now = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn pcap(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&65535u32.to_le_bytes());
    v.extend_from_slice(&101u32.to_le_bytes()); // raw IP
    for (i, p) in packets.iter().enumerate() {
        for x in [
            1_800_000_000 + i as u32 / 100_000,
            0,
            p.len() as u32,
            p.len() as u32,
        ] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.extend_from_slice(p);
    }
    v
}

fn ipv4(src: Ipv4Addr, id: u16, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
    let len = 20 + data.len();
    let frag = (u16::from(more) << 13) | (offset / 8) as u16;
    let mut p = vec![0x45, 0, (len >> 8) as u8, len as u8];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[64, 6, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&[192, 0, 2, 1]);
    p.extend_from_slice(data);
    p
}

/// `n` TCP segments of 1400 bytes on 100 connections, each sent as two IPv4 fragments.
fn fragmented_segments(n: u32) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in 0..n {
        let conn = i % 100;
        let src = Ipv4Addr::from(0xc633_6400 + conn);
        let mut tcp = Vec::new();
        tcp.extend_from_slice(&(40000 + conn as u16).to_be_bytes());
        tcp.extend_from_slice(&443u16.to_be_bytes());
        tcp.extend_from_slice(&(1 + 1400 * (i / 100)).to_be_bytes());
        tcp.extend_from_slice(&[0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        tcp.extend_from_slice(&[0x17; 1400]);
        out.push(ipv4(src, i as u16, 0, true, &tcp[..720]));
        out.push(ipv4(src, i as u16, 720, false, &tcp[720..]));
    }
    out
}

/// 800 datagrams of which only 8-byte fragments arrive, never completed.
fn tiny_fragments() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for k in 0..900 {
        for id in 0..800u16 {
            out.push(ipv4(
                Ipv4Addr::new(198, 51, 100, 7),
                id,
                k * 8,
                true,
                &[0x42; 8],
            ));
        }
    }
    out
}

/// Peak live heap (beyond what was live before) while reading `bytes` with `threads` workers.
fn peak_reading(bytes: Vec<u8>, threads: usize) -> (usize, stekwatch::tracker::History) {
    let input = Input::Owned(bytes);
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let (history, _) = stekwatch::runtime::sharded::read(
        &[("hostile.pcap".to_string(), &input)],
        threads,
        Limits::default(),
    )
    .unwrap();
    (PEAK.load(Ordering::Relaxed) - base, history)
}

#[test]
fn hostile_fragments_and_compressed_input_keep_the_heap_bounded() {
    const MIB: usize = 1 << 20;
    // 30k reassembled datagrams = 43 MB of them over the run: none may stay allocated once its
    // segment is processed (workers used to borrow them from an arena kept for the run).
    let capture = pcap(&fragmented_segments(30_000));
    for threads in [1, 2] {
        let (peak, p) = peak_reading(capture.clone(), threads);
        assert_eq!(p.stats.ip_datagrams_reassembled, 30_000);
        assert_eq!(p.stats.tcp_segments, 30_000);
        eprintln!("-j {threads}: peak heap {} KiB", peak >> 10);
        assert!(
            peak < 16 * MIB,
            "-j {threads}: peak heap {} MiB",
            peak / MIB
        );
    }
    // 720k fragments of 8 bytes (5.8 MB of payload, far more in allocations): held fragments are charged their overhead, so the
    // defragmenter's 16 MiB cap bounds the memory they really take.
    let capture = pcap(&tiny_fragments());
    let (peak, p) = peak_reading(capture, 1);
    assert!(p.stats.ip_fragments_dropped > 0);
    eprintln!("tiny fragments: peak heap {} KiB", peak >> 10);
    assert!(
        peak < 16 * MIB,
        "tiny fragments: peak heap {} MiB",
        peak / MIB
    );
    // A gzip-compressed capture is decompressed into an unlinked temporary file and mapped,
    // not into memory: 43 MB of capture, a few MB of heap.
    let capture = pcap(&fragmented_segments(30_000));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &capture).unwrap();
    let path =
        std::env::temp_dir().join(format!("stekwatch-memory-{}.pcap.gz", std::process::id()));
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let input = stekwatch::capture::input::open(&path).unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - base;
    std::fs::remove_file(&path).unwrap();
    assert_eq!(input.bytes(), &capture[..]);
    eprintln!("gzip: peak heap {} KiB", peak >> 10);
    assert!(peak < 4 * MIB, "gzip: peak heap {} MiB", peak / MIB);
}
