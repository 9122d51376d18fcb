//! Writes the seed corpora of the fuzz targets (fuzz/fuzz_targets/) from the fixture captures:
//!
//! ```sh
//! cargo run --example fuzz_seeds -- fuzz/corpus captures/*.pcap*
//! ```
//!
//! - `capture/`: each capture file as it is;
//! - `decode/`: each packet, prefixed with the decode target's link-type selector;
//! - `reassembly/`: each TCP connection as the reassembly target's segment list;
//! - `tls/`: each connection's two reassembled byte streams as the tls target's chunk list
//!   (mode 3), and every ClientHello / ServerHello / NewSessionTicket body (modes 0, 1, 2);
//! - `prelude/`: each connection's two reassembled byte streams as the prelude target's chunk
//!   list (the tls target's mode-3 chunks without the mode byte);
//! - `quic/`: each UDP 5-tuple's QUIC datagrams as the quic target's raw chunks (the table
//!   derives the keys from their own DCIDs, so real Initials open).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use stekwatch::decode::Endpoint;

use stekwatch::capture::{file, linktype};
use stekwatch::chunk::Chunk;
use stekwatch::decode::{decode, Decoded, Decoder};
use stekwatch::stats::Stats;
use stekwatch::tls::record::{RecordReader, Unit};
use stekwatch::transport::tcp::reassembly::{Budget, Stream};

/// Must match `LINKTYPES` in fuzz/fuzz_targets/decode.rs.
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

struct Seg {
    dir: u8,
    seq: u32,
    syn: bool,
    fin: bool,
    payload: Vec<u8>,
}

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let Some((out, inputs)) = args.split_first() else {
        eprintln!("usage: fuzz_seeds OUTDIR CAPTURE...");
        std::process::exit(2);
    };
    for t in ["capture", "decode", "reassembly", "tls", "quic", "prelude"] {
        std::fs::create_dir_all(out.join(t)).expect("create corpus dir");
    }
    let mut counts = [0usize; 6];
    for path in inputs {
        let stem = path.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(path).expect("read capture");
        write(out, "capture", &stem, &bytes, &mut counts[0]);
        let mut conns: BTreeMap<(Endpoint, Endpoint), Vec<Seg>> = BTreeMap::new();
        let mut firsts: BTreeMap<(Endpoint, Endpoint), Endpoint> = BTreeMap::new();
        let mut quic: BTreeMap<(Endpoint, Endpoint), (Endpoint, Vec<u8>)> = BTreeMap::new();
        let mut decoder = Decoder::new();
        let mut stats = Stats::default();
        let _ = file::read_packets(&bytes, &stem, &mut |pkt| {
            if let Some(Decoded::Udp(u)) = decoder.push(pkt, &mut stats) {
                let key = (u.src.min(u.dst), u.src.max(u.dst));
                let (first, seed) = quic.entry(key).or_insert((u.src, Vec::new()));
                let len = u.payload.len().min(0xffff);
                seed.push(u8::from(u.src != *first));
                seed.extend_from_slice(&(len as u16).to_be_bytes());
                seed.extend_from_slice(&u.payload[..len]);
            }
            if let Some(i) = LINKTYPES.iter().position(|&l| l == pkt.linktype) {
                let mut seed = vec![i as u8, 0];
                seed.extend_from_slice(pkt.data);
                write(
                    out,
                    "decode",
                    &format!("{stem}-{}", pkt.frame),
                    &seed,
                    &mut counts[1],
                );
            }
            let Ok(seg) = decode(pkt) else { return };
            let key = if seg.src <= seg.dst {
                (seg.src, seg.dst)
            } else {
                (seg.dst, seg.src)
            };
            let first = *firsts.entry(key).or_insert(seg.src);
            conns.entry(key).or_default().push(Seg {
                dir: u8::from(seg.src != first),
                seq: seg.seq,
                syn: seg.flags.syn,
                fin: seg.flags.fin || seg.flags.rst,
                payload: seg.payload.to_vec(),
            });
        });
        for (n, (_, seed)) in quic.values().enumerate() {
            write(out, "quic", &format!("{stem}-udp{n}"), seed, &mut counts[4]);
        }
        for (n, segs) in conns.values().enumerate() {
            let name = format!("{stem}-conn{n}");
            write(
                out,
                "reassembly",
                &name,
                &reassembly_seed(segs),
                &mut counts[2],
            );
            let (chunks, bodies) = tls_seeds(segs);
            write(out, "tls", &name, &chunks, &mut counts[3]);
            write(out, "prelude", &name, &chunks[1..], &mut counts[5]);
            for (i, b) in bodies.iter().enumerate() {
                write(out, "tls", &format!("{name}-msg{i}"), b, &mut counts[3]);
            }
        }
    }
    println!(
        "seeds: capture {}, decode {}, reassembly {}, tls {}, quic {}, prelude {} (in {})",
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        counts[4],
        counts[5],
        out.display()
    );
}

fn write(out: &Path, target: &str, name: &str, bytes: &[u8], count: &mut usize) {
    std::fs::write(out.join(target).join(name), bytes).expect("write seed");
    *count += 1;
}

/// The reassembly target's format: `[flags][seq BE u32][len BE u16][payload]` per segment.
fn reassembly_seed(segs: &[Seg]) -> Vec<u8> {
    let mut v = Vec::new();
    for s in segs {
        v.push(s.dir | (u8::from(s.syn) << 1) | (u8::from(s.fin) << 3));
        v.extend_from_slice(&s.seq.to_be_bytes());
        v.extend_from_slice(&(s.payload.len() as u16).to_be_bytes());
        v.extend_from_slice(&s.payload);
    }
    v
}

/// The tls target's connection format (mode 3, chunks `[dir<<15 | len][bytes]`), and the
/// handshake bodies the target parses directly (mode 0/1/2 + body).
fn tls_seeds(segs: &[Seg]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut streams = [Stream::new(), Stream::new()];
    let mut budget = Budget::new(1 << 20);
    let mut chunks = vec![3u8];
    let mut bodies = Vec::new();
    let mut readers = [RecordReader::new(), RecordReader::new()];
    for s in segs {
        let dir = s.dir as usize;
        streams[dir].push(s.seq, s.syn, s.fin, &s.payload, &mut budget, &mut |d| {
            if let Chunk::Data(b) = d {
                for piece in b.chunks(0x7fff) {
                    let word = ((dir as u16) << 15) | piece.len() as u16;
                    chunks.extend_from_slice(&word.to_be_bytes());
                    chunks.extend_from_slice(piece);
                }
            }
            readers[dir].push(d, &mut |_, unit| {
                if let Unit::Handshake { msg_type, body } = unit {
                    let mode = match msg_type {
                        1 => 0u8,
                        2 => 1,
                        4 => 2,
                        _ => return,
                    };
                    let mut seed = vec![mode];
                    seed.extend_from_slice(body);
                    bodies.push(seed);
                }
            });
        });
    }
    (chunks, bodies)
}
