//! Randomized robustness on the stable toolchain: a few thousand mutations of the fixture
//! captures (bit flips, truncations, length fields patched to hostile values, bytes inserted
//! and removed) pushed through read_packets → decode → Pipeline → report, in process. A fixed
//! seed keeps every run identical; the iteration count bounds the time. Nothing may panic, and
//! what the pipeline counts must stay consistent with what the reader delivered.

mod support;

use stekwatch::capture::file::read_packets;
use stekwatch::chunk::Chunk;
use stekwatch::pipeline::Limits;
use stekwatch::pipeline::Pipeline;
use stekwatch::tls::handshake;
use stekwatch::transport::tcp::reassembly::{Budget, Stream};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(support::root().join("captures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            n.ends_with(".pcap") || n.ends_with(".pcapng")
        })
        .map(|p| {
            (
                p.file_name().unwrap().to_str().unwrap().to_string(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(out.len() >= 5, "fixtures missing");
    out
}

/// Offsets of what look like TLS record headers (type 20..=23, version 3.x): the length fields
/// after them are the interesting ones to patch.
fn record_headers(b: &[u8]) -> Vec<usize> {
    (0..b.len().saturating_sub(5))
        .filter(|&i| (20..=23).contains(&b[i]) && b[i + 1] == 3 && b[i + 2] <= 4)
        .collect()
}

const HOSTILE: [u32; 9] = [
    0,
    1,
    0x7f,
    0xff,
    0x4000,
    0xffff,
    0x0100_0000,
    0x7fff_ffff,
    u32::MAX,
];

fn mutate(rng: &mut Rng, input: &[u8], headers: &[usize]) -> Vec<u8> {
    let mut b = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        if b.is_empty() {
            break;
        }
        match rng.below(7) {
            // Flip a few bits anywhere.
            0 => {
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
            }
            // Truncate.
            1 => {
                let n = rng.below(b.len());
                b.truncate(n);
            }
            // Patch a 1-, 2- or 4-byte field (a record, block or TLS length) with a hostile
            // value, at a random place or right after a TLS record header.
            2 | 3 => {
                let at = if !headers.is_empty() && rng.below(2) == 0 {
                    headers[rng.below(headers.len())] + 3 + rng.below(6)
                } else {
                    rng.below(b.len())
                };
                let v = HOSTILE[rng.below(HOSTILE.len())].to_be_bytes();
                let width = [1, 2, 4][rng.below(3)];
                for (k, byte) in v[4 - width..].iter().enumerate() {
                    if let Some(slot) = b.get_mut(at + k) {
                        *slot = *byte;
                    }
                }
            }
            // Insert random bytes.
            4 => {
                let at = rng.below(b.len());
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(at..at, bytes);
            }
            // Remove a range.
            5 => {
                let at = rng.below(b.len());
                let n = (1 + rng.below(64)).min(b.len() - at);
                b.drain(at..at + n);
            }
            // Duplicate a range (replayed records, repeated segments).
            _ => {
                let at = rng.below(b.len());
                let n = (1 + rng.below(512)).min(b.len() - at);
                let copy = b[at..at + n].to_vec();
                let to = rng.below(b.len());
                b.splice(to..to, copy);
            }
        }
    }
    b
}

/// The whole chain on `bytes`; returns the packets delivered.
fn run_pipeline(bytes: &[u8], limits: Limits) -> u64 {
    let mut p = Pipeline::new(limits);
    p.begin_input("mutant.pcap");
    let mut delivered = 0u64;
    let outcome = read_packets(bytes, "mutant.pcap", &mut |pkt| {
        delivered += 1;
        p.push_packet(pkt);
    });
    if let Ok(o) = &outcome {
        assert_eq!(o.packets, delivered);
    }
    p.finish();
    assert_eq!(p.history().stats.packets, delivered);
    assert!(p.history().stats.tcp_segments <= delivered);
    assert!(p.open_flows() == 0, "finish leaves no flow behind");
    let report = stekwatch::report::build(p.history(), &Default::default(), Vec::new());
    let mut out = Vec::new();
    stekwatch::report::json::write(&report, &mut out).unwrap();
    let _: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    stekwatch::report::human::write(&report, &mut out).unwrap();
    delivered
}

#[test]
fn mutated_fixture_captures_never_panic_the_pipeline() {
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let small_caps = Limits {
        max_flows: 4,
        max_buffered_bytes: 8 * 1024,
        ..Limits::default()
    };
    let mut read_any = 0;
    for (name, bytes) in fixtures() {
        let headers = record_headers(&bytes);
        for i in 0..300 {
            let m = mutate(&mut rng, &bytes, &headers);
            let limits = if i % 3 == 0 {
                small_caps
            } else {
                Limits::default()
            };
            let got = std::panic::catch_unwind(|| run_pipeline(&m, limits));
            match got {
                Ok(n) => read_any += u64::from(n > 0),
                Err(_) => {
                    let path = std::env::temp_dir().join(format!("stekwatch-mutant-{name}-{i}"));
                    std::fs::write(&path, &m).unwrap();
                    panic!(
                        "{name} mutation {i} panicked; input saved to {}",
                        path.display()
                    );
                }
            }
        }
    }
    // Most mutants keep a readable header: the packets really went through.
    assert!(read_any > 1000, "only {read_any} mutants yielded packets");
}

#[test]
fn mutated_handshake_bodies_never_panic_the_parsers() {
    let mut rng = Rng(0x5eed_cafe_f00d_0002);
    let mut bodies = Vec::new();
    // Handshake bodies of the fixtures, taken from their reassembled streams.
    for (_, bytes) in fixtures() {
        let mut streams: std::collections::HashMap<
            _,
            (Stream, stekwatch::tls::record::RecordReader),
        > = Default::default();
        let mut budget = Budget::new(1 << 20);
        read_packets(&bytes, "f", &mut |pkt| {
            let Ok(seg) = stekwatch::decode::decode(pkt) else {
                return;
            };
            let (s, r) = streams.entry((seg.src, seg.dst)).or_default();
            s.push(
                seg.seq,
                seg.flags.syn,
                seg.flags.fin || seg.flags.rst,
                seg.payload,
                &mut budget,
                &mut |d: Chunk<'_>| {
                    r.push(d, &mut |_, u| {
                        if let stekwatch::tls::record::Unit::Handshake { msg_type, body } = u {
                            bodies.push((msg_type, body.to_vec()));
                        }
                    })
                },
            );
        })
        .unwrap();
    }
    assert!(bodies.iter().any(|(t, _)| *t == handshake::CLIENT_HELLO));
    assert!(bodies
        .iter()
        .any(|(t, _)| *t == handshake::NEW_SESSION_TICKET));
    let mut parsed = 0;
    for round in 0..4000 {
        let (kind, body) = &bodies[round % bodies.len()];
        let m = mutate(&mut rng, body, &[]);
        let ok = match *kind {
            handshake::CLIENT_HELLO => handshake::parse_client_hello(&m).is_ok(),
            handshake::SERVER_HELLO => handshake::parse_server_hello(&m).is_ok(),
            handshake::NEW_SESSION_TICKET => handshake::parse_new_session_ticket(&m).is_ok(),
            _ => {
                // Other messages: try every parser on them.
                let _ = handshake::parse_client_hello(&m);
                let _ = handshake::parse_server_hello(&m);
                handshake::parse_new_session_ticket(&m).is_ok()
            }
        };
        parsed += usize::from(ok);
    }
    // The parsers must still accept what survived mutation sometimes: they are not simply
    // refusing everything.
    assert!(parsed > 100, "only {parsed} mutated bodies parsed");
}
