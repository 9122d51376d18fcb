//! Malformed capture files: each is built at test time (bytes written here, or a real fixture
//! cut or patched) and must give the documented outcome: a clear error with exit status 2, or
//! a warning / counted skip with exit status 0, and the report of what was readable. In-process
//! checks also bound the largest single allocation by the bytes actually present.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;

use serde_json::Value;
use support::*;

// ---- largest allocation, per thread (tests run on several threads) ----

struct Counting;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

fn note(size: usize) {
    // `try_with`: the slot may be gone while a thread shuts down.
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `bytes` through read_packets → decode → Pipeline in this process and returns the
/// largest single allocation made meanwhile.
fn largest_allocation_reading(bytes: &[u8]) -> usize {
    let mut pipeline = stekwatch::pipeline::Pipeline::new(Default::default());
    pipeline.begin_input("x");
    LARGEST.with(|l| l.set(0));
    let _ =
        stekwatch::capture::file::read_packets(bytes, "x", &mut |pkt| pipeline.push_packet(pkt));
    pipeline.finish();
    LARGEST.with(|l| l.get())
}

// ---- building files ----

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("stekwatch-malformed-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn file(name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn pcap_header(linktype: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&65535u32.to_le_bytes());
    v.extend_from_slice(&linktype.to_le_bytes());
    v
}

fn pcap_record(ts: u32, data: &[u8], orig_len: u32) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [ts, 0, data.len() as u32, orig_len] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(data);
    v
}

fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    body.resize(body.len().div_ceil(4) * 4, 0);
    let len = (12 + body.len()) as u32;
    let mut v = kind.to_le_bytes().to_vec();
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(&body);
    v.extend_from_slice(&len.to_le_bytes());
    v
}

fn section_header() -> Vec<u8> {
    let mut body = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes());
    block(0x0a0d_0d0a, &body)
}

fn interface(linktype: u16) -> Vec<u8> {
    let mut body = linktype.to_le_bytes().to_vec();
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&65535u32.to_le_bytes());
    block(1, &body)
}

/// An enhanced packet block; `ts_us` in microseconds (the default resolution).
fn enhanced_packet(if_id: u32, ts_us: u64, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for x in [
        if_id,
        (ts_us >> 32) as u32,
        ts_us as u32,
        data.len() as u32,
        data.len() as u32,
    ] {
        body.extend_from_slice(&x.to_le_bytes());
    }
    body.extend_from_slice(data);
    block(6, &body)
}

/// The packets of a fixture: (time in µs, bytes).
fn fixture_packets(name: &str) -> Vec<(u64, Vec<u8>)> {
    let bytes = std::fs::read(capture(name)).unwrap();
    let mut out = Vec::new();
    stekwatch::capture::file::read_packets(&bytes, name, &mut |p| {
        out.push(((p.time.0 / 1000) as u64, p.data.to_vec()))
    })
    .unwrap();
    out
}

// ---- running ----

struct Run {
    code: Option<i32>,
    stderr: String,
    report: Option<Value>,
}

fn run(path: &std::path::Path) -> Run {
    let out = stekwatch(&["read", "--format", "json", path.to_str().unwrap()]);
    Run {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        report: serde_json::from_slice(&out.stdout).ok(),
    }
}

/// Exit status 2, no report, and this message on stderr (naming the file).
fn assert_input_error(path: &std::path::Path, message: &str) {
    let r = run(path);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.report.is_none());
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(
        r.stderr.contains(name) && r.stderr.contains(message),
        "expected '{message}' naming {name}, got: {}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

/// Exit status 0 and the report.
fn report_of(path: &std::path::Path) -> Value {
    let r = run(path);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    r.report.expect("a JSON report")
}

fn stat(r: &Value, name: &str) -> u64 {
    r["statistics"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no statistic {name}"))
}

fn warnings(r: &Value) -> Vec<String> {
    r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect()
}

// ---- not a capture: exit 2 ----

#[test]
fn bad_magic_is_an_input_error_naming_the_file() {
    let mut bytes = std::fs::read(capture("weak-key.pcap")).unwrap();
    bytes[..4].copy_from_slice(b"PCAP");
    assert_input_error(&file("bad-magic.pcap", &bytes), "unknown magic number");
}

#[test]
fn file_shorter_than_a_magic_number_is_an_input_error() {
    assert_input_error(
        &file("three-bytes.pcap", &[0xd4, 0xc3, 0xb2]),
        "too short for a capture header",
    );
}

#[test]
fn truncated_pcap_file_header_is_an_input_error() {
    let bytes = std::fs::read(capture("weak-key.pcap")).unwrap();
    for n in [4, 12, 23] {
        assert_input_error(
            &file(&format!("header-{n}.pcap"), &bytes[..n]),
            "pcap file header is truncated",
        );
    }
}

#[test]
fn truncated_pcapng_section_header_is_an_input_error() {
    let bytes = std::fs::read(capture("ipv6-sll2-nano.pcapng")).unwrap();
    for n in [4, 16, 27] {
        assert_input_error(
            &file(&format!("shb-{n}.pcapng"), &bytes[..n]),
            "pcapng section header block is malformed or truncated",
        );
    }
}

#[test]
fn corrupt_gzip_is_an_input_error() {
    let mut bytes = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    bytes.extend_from_slice(b"definitely not deflate data");
    assert_input_error(&file("corrupt.pcap.gz", &bytes), "gzip data is corrupt");
}

// ---- truncated or oversized records: warning + report, exit 0 ----

#[test]
fn file_cut_inside_a_record_header_warns_and_reports_the_packets_before() {
    let bytes = std::fs::read(capture("weak-key.pcap")).unwrap();
    // Header (24) + first record header (16) + its data; cut 5 bytes into the second header.
    let first_len = u32::from_le_bytes(bytes[32..36].try_into().unwrap()) as usize;
    let cut = 24 + 16 + first_len + 5;
    let r = report_of(&file("cut-in-header.pcap", &bytes[..cut]));
    assert_eq!(stat(&r, "packets"), 1);
    assert_eq!(
        warnings(&r),
        vec![format!(
            "{}: file ends inside packet record 2 (byte offset {}); 1 packets read",
            dir().join("cut-in-header.pcap").display(),
            cut - 5
        )]
    );
}

#[test]
fn record_length_beyond_the_end_of_the_file_warns_and_keeps_what_came_before() {
    let packets = fixture_packets("weak-key.pcap");
    let mut bytes = pcap_header(1);
    for (ts, data) in &packets[..3] {
        bytes.extend(pcap_record(
            (*ts / 1_000_000) as u32,
            data,
            data.len() as u32,
        ));
    }
    // A fourth record announcing 1000 bytes more than the file holds.
    let (ts, data) = &packets[3];
    let mut rec = pcap_record((*ts / 1_000_000) as u32, data, data.len() as u32);
    rec[8..12].copy_from_slice(&(data.len() as u32 + 1000).to_le_bytes());
    bytes.extend(rec);
    let at = bytes.len() - 16 - data.len();
    let r = report_of(&file("beyond-end.pcap", &bytes));
    assert_eq!(stat(&r, "packets"), 3);
    assert_eq!(
        warnings(&r),
        vec![format!(
            "{}: file ends inside packet record 4 (byte offset {at}); 3 packets read",
            dir().join("beyond-end.pcap").display()
        )]
    );
}

#[test]
fn absurd_record_length_warns_without_allocating_it() {
    let packets = fixture_packets("weak-key.pcap");
    let mut bytes = pcap_header(1);
    let (ts, data) = &packets[0];
    bytes.extend(pcap_record(
        (*ts / 1_000_000) as u32,
        data,
        data.len() as u32,
    ));
    let mut rec = pcap_record(0, &[0xab; 64], 64);
    rec[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend(rec);
    let r = report_of(&file("absurd-length.pcap", &bytes));
    assert_eq!(stat(&r, "packets"), 1);
    assert!(warnings(&r)[0].contains("file ends inside packet record 2"));
    let largest = largest_allocation_reading(&bytes);
    assert!(
        largest <= bytes.len().max(4096),
        "largest allocation {largest} B for a {} B file",
        bytes.len()
    );
}

#[test]
fn every_prefix_of_a_capture_reads_without_allocating_more_than_it_holds() {
    let bytes = std::fs::read(capture("shared-key.pcap")).unwrap();
    let pcapng = std::fs::read(capture("ipv6-sll2-nano.pcapng")).unwrap();
    for whole in [&bytes, &pcapng] {
        for cut in (0..whole.len()).step_by(97) {
            let largest = largest_allocation_reading(&whole[..cut]);
            // Hash tables and per-connection state start small; nothing scales with a
            // length field.
            assert!(
                largest <= cut.max(16 * 1024),
                "cut at {cut}: largest allocation {largest} B"
            );
        }
    }
}

// ---- odd packets: counted skips, exit 0 ----

#[test]
fn zero_length_packet_is_counted_as_malformed() {
    let mut bytes = pcap_header(1);
    bytes.extend(pcap_record(1_800_000_000, &[], 60));
    bytes.extend(pcap_record(1_800_000_001, &[], 0));
    let r = report_of(&file("zero-length.pcap", &bytes));
    assert_eq!(stat(&r, "packets"), 2);
    assert_eq!(stat(&r, "skipped_malformed"), 2);
    assert_eq!(stat(&r, "tcp_segments"), 0);
    assert!(warnings(&r).is_empty());
}

#[test]
fn snaplen_cut_packets_are_counted_and_the_handshakes_they_cut_are_not_invented() {
    let packets = fixture_packets("weak-key.pcap");
    let mut bytes = pcap_header(1);
    let mut cut = 0;
    for (ts, data) in &packets {
        // 14 Ethernet + 20 IPv4 + 32 TCP (timestamps) + 30 bytes of payload at most.
        let keep = data.len().min(96);
        cut += u64::from(keep < data.len());
        bytes.extend(pcap_record(
            (*ts / 1_000_000) as u32,
            &data[..keep],
            data.len() as u32,
        ));
    }
    assert!(cut > 5);
    let r = report_of(&file("snaplen-96.pcap", &bytes));
    assert_eq!(stat(&r, "packets"), packets.len() as u64);
    assert_eq!(stat(&r, "truncated_packets"), cut);
    assert_eq!(stat(&r, "skipped_malformed"), 0);
    // No handshake survives a 30-byte payload limit: no key may be reported.
    for s in r["services"].as_array().unwrap() {
        assert!(s["ticket_keys"].as_array().unwrap().is_empty(), "{s}");
    }
}

#[test]
fn headers_cut_below_tcp_are_counted_as_malformed() {
    let packets = fixture_packets("weak-key.pcap");
    let mut bytes = pcap_header(1);
    for (ts, data) in &packets[..10] {
        bytes.extend(pcap_record(
            (*ts / 1_000_000) as u32,
            &data[..40],
            data.len() as u32,
        ));
    }
    let r = report_of(&file("snaplen-40.pcap", &bytes));
    assert_eq!(stat(&r, "skipped_malformed"), 10);
}

#[test]
fn unsupported_link_type_is_counted() {
    let mut bytes = pcap_header(147);
    bytes.extend(pcap_record(1_800_000_000, b"user0 frame", 11));
    let r = report_of(&file("user0.pcap", &bytes));
    assert_eq!(stat(&r, "skipped_unsupported_link_type"), 1);
}

// ---- pcapng blocks ----

#[test]
fn unknown_pcapng_blocks_are_skipped_and_counted() {
    let packets = fixture_packets("weak-key.pcap");
    let mut bytes = section_header();
    bytes.extend(interface(1));
    bytes.extend(block(0x0bad_0001, b"who knows"));
    for (ts, data) in &packets {
        bytes.extend(enhanced_packet(0, *ts, data));
        bytes.extend(block(0x4000_0bad, &[7; 13]));
    }
    let r = report_of(&file("unknown-blocks.pcapng", &bytes));
    assert_eq!(stat(&r, "skipped_capture_blocks"), packets.len() as u64 + 1);
    assert_eq!(stat(&r, "packets"), packets.len() as u64);
    assert!(warnings(&r).is_empty());
    assert_eq!(keys(&r)["weak.test"], vec!["00".repeat(16)]);
}

#[test]
fn oversized_pcapng_block_warns_and_keeps_the_packets_before_it() {
    let packets = fixture_packets("weak-key.pcap");
    for (name, announced) in [("past-end", 4096u32), ("absurd", 0xffff_fff0)] {
        let mut bytes = section_header();
        bytes.extend(interface(1));
        for (ts, data) in &packets[..5] {
            bytes.extend(enhanced_packet(0, *ts, data));
        }
        let at = bytes.len();
        let mut big = enhanced_packet(0, packets[5].0, &packets[5].1);
        big[4..8].copy_from_slice(&announced.to_le_bytes());
        bytes.extend(big);
        let r = report_of(&file(&format!("{name}.pcapng"), &bytes));
        assert_eq!(stat(&r, "packets"), 5, "{name}");
        assert_eq!(
            warnings(&r),
            vec![format!(
                "{}: unreadable or truncated pcapng block at byte offset {at}; 5 packets read",
                dir().join(format!("{name}.pcapng")).display()
            )]
        );
        let largest = largest_allocation_reading(&bytes);
        assert!(
            largest <= bytes.len().max(16 * 1024),
            "{name}: largest allocation {largest}"
        );
    }
}

#[test]
fn block_length_below_the_minimum_is_a_truncation_warning() {
    let mut bytes = section_header();
    bytes.extend(interface(1));
    let mut bad = block(6, &[0; 20]);
    bad[4..8].copy_from_slice(&8u32.to_le_bytes());
    bytes.extend(bad);
    let r = report_of(&file("short-block.pcapng", &bytes));
    assert_eq!(stat(&r, "packets"), 0);
    assert!(warnings(&r)[0].contains("unreadable or truncated pcapng block at byte offset 48"));
}

#[test]
fn many_interfaces_are_read_and_packets_on_undeclared_ones_counted() {
    let packets = fixture_packets("weak-key.pcap");
    let mut bytes = section_header();
    for i in 0..10_000u32 {
        // Mostly other link types; the last one is Ethernet.
        bytes.extend(interface(if i == 9_999 { 1 } else { 101 + (i % 7) as u16 }));
    }
    for (ts, data) in &packets {
        bytes.extend(enhanced_packet(9_999, *ts, data));
    }
    bytes.extend(enhanced_packet(10_000, 0, &packets[0].1));
    bytes.extend(enhanced_packet(u32::MAX, 0, &packets[0].1));
    let r = report_of(&file("many-interfaces.pcapng", &bytes));
    assert_eq!(stat(&r, "packets"), packets.len() as u64);
    assert_eq!(stat(&r, "skipped_capture_blocks"), 2);
    assert_eq!(keys(&r)["weak.test"], vec!["00".repeat(16)]);
}

#[test]
fn hostile_timestamp_options_do_not_break_reading() {
    // if_tsresol 2^63 and 2^0 units/s, 200 (2^72: invalid) and 10^0, with if_tsoffset at the
    // i64 extremes and raw times near u64::MAX.
    let packets = fixture_packets("weak-key.pcap");
    let mut bytes = section_header();
    for (resol, offset) in [
        (0xbfu8, i64::MAX),
        (0x80, i64::MIN),
        (200, 0),
        (0, i64::MAX),
    ] {
        let mut body = 1u16.to_le_bytes().to_vec();
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&65535u32.to_le_bytes());
        // option 9 if_tsresol (1 byte, padded), option 14 if_tsoffset (8 bytes), end.
        body.extend_from_slice(&9u16.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&[resol, 0, 0, 0]);
        body.extend_from_slice(&14u16.to_le_bytes());
        body.extend_from_slice(&8u16.to_le_bytes());
        body.extend_from_slice(&offset.to_le_bytes());
        body.extend_from_slice(&[0, 0, 0, 0]);
        bytes.extend(block(1, &body));
    }
    for (i, (_, data)) in packets.iter().enumerate() {
        bytes.extend(enhanced_packet((i % 4) as u32, u64::MAX - i as u64, data));
    }
    let r = report_of(&file("hostile-time.pcapng", &bytes));
    // Interface 2 has an invalid resolution: its packets are skipped and counted.
    let on_2 = (0..packets.len()).filter(|i| i % 4 == 2).count() as u64;
    assert_eq!(stat(&r, "skipped_capture_blocks"), on_2);
    assert_eq!(stat(&r, "packets"), packets.len() as u64 - on_2);
}
