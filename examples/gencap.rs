//! gencap: writes a large, realistic capture for throughput benchmarks (issue 5).
//!
//! It reads real fixture captures (pcap, Ethernet, IPv4: by default `static-key-weeks.pcap`,
//! `rotation-daily.pcap` and `tls13-static-days.pcap` from `captures/`), splits them into TCP
//! connections and replays every connection many times ("rounds") with a rewritten client
//! address and port, so each copy is a distinct flow that carries the original handshake bytes.
//! After each handshake (the last packet holding a TLS handshake or ChangeCipherSpec record) it
//! inserts bulk application data in both directions: an upload from the client, then a download
//! from the server, as TLS application_data records (`17 03 03`, 16 401-byte bodies) cut into
//! MSS-sized TCP segments (1448 bytes + 32-byte TCP header with timestamps = 1514-byte frames),
//! acknowledged every second segment by pure ACKs; about `--reorder` of the segments trade places
//! with their successor. Sequence and acknowledgement numbers of the packets after the bulk are
//! shifted by its length, and every copy gets its own initial sequence numbers; IP and TCP
//! checksums are recomputed.
//!
//! Time: copy `r` of a source connection starts at its original time + `r` * spacing, so the
//! days/weeks structure of the fixtures (and with it every key timeline and alert) is kept, and
//! each segment of the original becomes a burst of thousands of interleaved connections. Within a
//! connection the original gaps between packets are kept; bulk segments are paced at
//! `--flow-gbps`; all packets share one link of `--gbps` (a packet waits until the link is free),
//! and the spacing of the rounds loads that link to about `--load` in the busiest burst. The
//! output is a little-endian nanosecond pcap with strictly ordered timestamps.
//!
//! ```text
//! cargo run --release --example gencap -- --size 1G --out target/bench/bench-1g.pcap
//! cargo run --release --example gencap -- --size 100M --out /tmp/x.pcap captures/shared-key.pcap
//! ```
//!
//! Sizes take K, M, G (binary: 1G = 2^30 bytes). The file lands within a few percent of the
//! requested size (bulk lengths are random, exponential around `--up-kib` / `--down-kib`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;

const LINKTYPE_ETHERNET: u32 = 1;
const ETH_LEN: usize = 14;
/// MAC addresses of the generated traffic (locally administered).
const MAC_CLIENT: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x00, 0x02];
const MAC_SERVER: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x00, 0x01];
/// Bytes a frame occupies on the wire besides itself (preamble, SFD, FCS, inter-frame gap).
const WIRE_OVERHEAD: u64 = 24;
/// Pcap record header.
const REC_HDR: usize = 16;
/// Random payload pool (the bodies of the application-data records are slices of it).
const POOL: usize = 1 << 16;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// Client-to-server and server-to-client.
const UP: usize = 0;
const DOWN: usize = 1;

#[derive(Parser, Debug)]
#[command(
    name = "gencap",
    about = "Write a large realistic capture by replaying fixture TLS connections with bulk data"
)]
struct Args {
    /// Target size of the output file (K, M, G; binary units).
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    size: u64,
    /// Output pcap.
    #[arg(long)]
    out: PathBuf,
    /// Replay this many rounds instead of deriving the count from --size.
    #[arg(long)]
    rounds: Option<u32>,
    /// Mean upload (client to server) bulk per connection, KiB (exponentially distributed).
    #[arg(long, default_value_t = 8.0)]
    up_kib: f64,
    /// Mean download (server to client) bulk per connection, KiB (exponentially distributed).
    #[arg(long, default_value_t = 96.0)]
    down_kib: f64,
    /// TCP payload per bulk segment.
    #[arg(long, default_value_t = 1448)]
    mss: usize,
    /// Body length of the bulk TLS application_data records (16384 + AEAD overhead).
    #[arg(long, default_value_t = 16401)]
    record: usize,
    /// Fraction of bulk segments sent after their successor.
    #[arg(long, default_value_t = 0.01)]
    reorder: f64,
    /// Link rate shared by all packets, Gbit/s.
    #[arg(long, default_value_t = 10.0)]
    gbps: f64,
    /// Pacing of one connection's bulk segments, Gbit/s.
    #[arg(long, default_value_t = 1.0)]
    flow_gbps: f64,
    /// Average link load aimed at in the busiest burst (0..1].
    #[arg(long, default_value_t = 0.5)]
    load: f64,
    /// Random seed (the output is a function of the inputs and the seed).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Source captures (pcap, Ethernet, IPv4). Default: three fixtures from captures/.
    sources: Vec<PathBuf>,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 1 << 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 1 << 30),
        Some('T' | 't') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("bad size '{s}' (examples: 100M, 1G, 1.5G)"))?;
    if v.is_nan() || v <= 0.0 {
        return Err(format!("size must be positive: '{s}'"));
    }
    Ok((v * mult as f64) as u64)
}

/// splitmix64: small, fast, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Exponential with the given mean, capped at 50 times the mean.
    fn exp(&mut self, mean: f64) -> u64 {
        if mean <= 0.0 {
            return 0;
        }
        let v = -mean * (1.0 - self.unit()).ln();
        v.min(mean * 50.0) as u64
    }
}

// ---------------------------------------------------------------------------------------------
// Source connections

/// One packet of a source connection (frame bytes and where its headers are).
struct SrcPkt {
    time: u64,
    dir: usize,
    frame: Vec<u8>,
    tcp_off: usize,
    /// End of the IP packet within `frame` (Ethernet padding excluded).
    ip_end: usize,
    payload_len: usize,
    flags: u8,
    seq: u32,
    ack: u32,
}

/// What bulk packets of one direction copy from the last real packet of that direction.
#[derive(Clone, Copy)]
struct Template {
    tos: u8,
    ttl: u8,
    ip_id: u16,
    window: u16,
    /// TCP timestamps option (TSval, TSecr), when the connection uses it.
    ts: Option<(u32, u32)>,
}

impl Default for Template {
    fn default() -> Self {
        Template {
            tos: 0,
            ttl: 64,
            ip_id: 0,
            window: 512,
            ts: None,
        }
    }
}

struct SrcConn {
    file: usize,
    start: u64,
    pkts: Vec<SrcPkt>,
    server_ip: [u8; 4],
    server_port: u16,
    /// Bulk goes in front of this packet index.
    insert_at: usize,
    /// Next sequence number of each direction at the insertion point.
    nxt: [u32; 2],
    tmpl: [Template; 2],
    /// Whether this connection gets bulk data (it is TLS and both sides spoke).
    bulk: bool,
    /// Bytes of its own packets in the output (record headers included).
    bytes: u64,
}

/// Follows TLS record framing in one direction: tells which packets hold handshake bytes.
#[derive(Default)]
struct Framer {
    hdr: [u8; 5],
    hdr_len: usize,
    remaining: usize,
    typ: u8,
    dead: bool,
    saw_record: bool,
}

impl Framer {
    /// Feeds one packet's payload; true when any of it belongs to a handshake (22) or
    /// ChangeCipherSpec (20) record.
    fn feed(&mut self, mut p: &[u8]) -> bool {
        let mut hs = false;
        while !p.is_empty() && !self.dead {
            if self.remaining == 0 {
                let take = (5 - self.hdr_len).min(p.len());
                self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(&p[..take]);
                self.hdr_len += take;
                p = &p[take..];
                if matches!(self.hdr[0], 20 | 22) {
                    hs = true;
                }
                if self.hdr_len < 5 {
                    continue;
                }
                self.hdr_len = 0;
                self.typ = self.hdr[0];
                if !(20..=23).contains(&self.typ) || self.hdr[1] != 3 {
                    self.dead = true;
                    break;
                }
                self.saw_record = true;
                self.remaining = u16::from_be_bytes([self.hdr[3], self.hdr[4]]) as usize;
            } else {
                let take = self.remaining.min(p.len());
                if matches!(self.typ, 20 | 22) {
                    hs = true;
                }
                self.remaining -= take;
                p = &p[take..];
            }
        }
        hs
    }
}

type Endpoint = ([u8; 4], u16);

/// Reads one source capture and appends its TCP connections.
fn read_source(path: &Path, file: usize, conns: &mut Vec<SrcConn>) -> Result<(), String> {
    let name = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("{name}: {e}"))?;
    let (mut rest, header) = pcap_parser::parse_pcap_header(&bytes).map_err(|_| {
        format!("{name}: not a libpcap file (pcapng is not supported as a source; convert with `editcap -F pcap`)")
    })?;
    if header.network.0 as u32 != LINKTYPE_ETHERNET {
        return Err(format!(
            "{name}: link type {} (only Ethernet sources are supported)",
            header.network.0
        ));
    }
    if header.is_modified_format() {
        return Err(format!("{name}: modified pcap format is not supported"));
    }
    let nanos = header.is_nanosecond_precision();
    let parse = if header.is_bigendian() {
        pcap_parser::parse_pcap_frame_be
    } else {
        pcap_parser::parse_pcap_frame
    };
    let first = conns.len();
    let mut by_key: HashMap<(Endpoint, Endpoint), usize> = HashMap::new();
    let mut clients: Vec<Option<Endpoint>> = Vec::new();
    let mut skipped = 0u64;
    while !rest.is_empty() {
        let (next, block) = parse(rest).map_err(|_| format!("{name}: truncated packet record"))?;
        rest = next;
        let time = block.ts_sec as u64 * 1_000_000_000
            + if nanos {
                block.ts_usec as u64
            } else {
                block.ts_usec as u64 * 1000
            };
        let data = block.data;
        if block.origlen as usize != data.len()
            || data.len() < ETH_LEN + 20
            || data[12..14] != [0x08, 0x00]
        {
            skipped += 1;
            continue;
        }
        let ip = &data[ETH_LEN..];
        let ihl = (ip[0] & 0x0f) as usize * 4;
        let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
        let frag = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff;
        if ip[0] >> 4 != 4 || ip[9] != 6 || frag != 0 || ihl < 20 || total > ip.len() {
            skipped += 1;
            continue;
        }
        let tcp_off = ETH_LEN + ihl;
        let ip_end = ETH_LEN + total;
        if ip_end < tcp_off + 20 {
            skipped += 1;
            continue;
        }
        let tcp = &data[tcp_off..ip_end];
        let doff = (tcp[12] >> 4) as usize * 4;
        if doff < 20 || doff > tcp.len() {
            skipped += 1;
            continue;
        }
        let src: Endpoint = (
            ip[12..16].try_into().unwrap(),
            u16::from_be_bytes([tcp[0], tcp[1]]),
        );
        let dst: Endpoint = (
            ip[16..20].try_into().unwrap(),
            u16::from_be_bytes([tcp[2], tcp[3]]),
        );
        let flags = tcp[13];
        let key = if src <= dst { (src, dst) } else { (dst, src) };
        let pure_syn = flags & (SYN | ACK) == SYN;
        let idx = match by_key.get(&key) {
            Some(&i) if !(pure_syn && conns[i].pkts.iter().any(|p| p.flags & ACK != 0)) => i,
            _ => {
                conns.push(SrcConn {
                    file,
                    start: time,
                    pkts: Vec::new(),
                    server_ip: [0; 4],
                    server_port: 0,
                    insert_at: 0,
                    nxt: [0; 2],
                    tmpl: [Template::default(); 2],
                    bulk: false,
                    bytes: 0,
                });
                clients.push(None);
                by_key.insert(key, conns.len() - 1);
                conns.len() - 1
            }
        };
        if pure_syn && clients[idx - first].is_none() {
            clients[idx - first] = Some(src);
        }
        let client = *clients[idx - first].get_or_insert(
            // No SYN seen: the endpoint with the higher port is the client.
            if src.1 > dst.1 { src } else { dst },
        );
        let c = &mut conns[idx];
        let (server, dir) = if src == client {
            (dst, UP)
        } else {
            (src, DOWN)
        };
        c.server_ip = server.0;
        c.server_port = server.1;
        c.pkts.push(SrcPkt {
            time,
            dir,
            frame: data.to_vec(),
            tcp_off,
            ip_end,
            payload_len: tcp.len() - doff,
            flags,
            seq: u32::from_be_bytes(tcp[4..8].try_into().unwrap()),
            ack: u32::from_be_bytes(tcp[8..12].try_into().unwrap()),
        });
    }
    for c in &mut conns[first..] {
        prepare(c);
    }
    let n = conns.len() - first;
    let bulk = conns[first..].iter().filter(|c| c.bulk).count();
    let pkts: usize = conns[first..].iter().map(|c| c.pkts.len()).sum();
    eprintln!(
        "gencap: source {name}: {n} connections ({bulk} TLS), {pkts} packets{}",
        if skipped > 0 {
            format!(", {skipped} non-TCP/IPv4 packets skipped")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Finds the insertion point of the bulk and what the bulk packets copy.
fn prepare(c: &mut SrcConn) {
    let mut framers = [Framer::default(), Framer::default()];
    let mut last_hs = None;
    let mut first_end = c.pkts.len();
    for (i, p) in c.pkts.iter().enumerate() {
        let payload = &p.frame[p.ip_end - p.payload_len..p.ip_end];
        if framers[p.dir].feed(payload) {
            last_hs = Some(i);
        }
        if p.flags & (FIN | RST) != 0 && first_end == c.pkts.len() {
            first_end = i;
        }
    }
    let tls = framers.iter().any(|f| f.saw_record) && last_hs.is_some();
    c.insert_at = match last_hs {
        Some(i) if tls => (i + 1).min(first_end),
        _ => first_end,
    };
    let mut seen = [false; 2];
    for p in &c.pkts[..c.insert_at] {
        let f = &p.frame;
        let t = p.tcp_off;
        c.nxt[p.dir] = p
            .seq
            .wrapping_add(p.payload_len as u32)
            .wrapping_add(u32::from(p.flags & SYN != 0))
            .wrapping_add(u32::from(p.flags & FIN != 0));
        seen[p.dir] = true;
        c.tmpl[p.dir] = Template {
            tos: f[ETH_LEN + 1],
            ttl: f[ETH_LEN + 8],
            ip_id: u16::from_be_bytes([f[ETH_LEN + 4], f[ETH_LEN + 5]]),
            window: u16::from_be_bytes([f[t + 14], f[t + 15]]),
            ts: find_timestamps(&f[t + 20..p.ip_end - p.payload_len]),
        };
    }
    c.bulk = tls && seen[UP] && seen[DOWN];
    c.bytes = c
        .pkts
        .iter()
        .map(|p| (REC_HDR + p.frame.len()) as u64)
        .sum();
}

fn find_timestamps(mut opts: &[u8]) -> Option<(u32, u32)> {
    while let Some(&kind) = opts.first() {
        match kind {
            0 => return None,
            1 => opts = &opts[1..],
            _ => {
                let len = *opts.get(1)? as usize;
                if len < 2 || len > opts.len() {
                    return None;
                }
                if kind == 8 && len == 10 {
                    let v = u32::from_be_bytes(opts[2..6].try_into().unwrap());
                    let e = u32::from_be_bytes(opts[6..10].try_into().unwrap());
                    return Some((v, e));
                }
                opts = &opts[len..];
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Checksums

fn sum_words(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        acc += u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as u64;
    }
    let r = chunks.remainder();
    let mut i = 0;
    while i + 1 < r.len() {
        acc += u16::from_be_bytes([r[i], r[i + 1]]) as u64;
        i += 2;
    }
    if i < r.len() {
        acc += (r[i] as u64) << 8;
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Fills in the IPv4 header checksum and the TCP checksum of the frame at `buf[base..]`.
fn fix_checksums(buf: &mut [u8], tcp_off: usize, ip_end: usize) {
    let ip = ETH_LEN;
    buf[ip + 10] = 0;
    buf[ip + 11] = 0;
    let c = fold(sum_words(&buf[ip..tcp_off], 0));
    buf[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
    buf[tcp_off + 16] = 0;
    buf[tcp_off + 17] = 0;
    let tcp_len = (ip_end - tcp_off) as u64;
    let pseudo = sum_words(&buf[ip + 12..ip + 20], 6 + tcp_len);
    let c = fold(sum_words(&buf[tcp_off..ip_end], pseudo));
    buf[tcp_off + 16..tcp_off + 18].copy_from_slice(&c.to_be_bytes());
}

// ---------------------------------------------------------------------------------------------
// Replayed connections

#[derive(Clone, Copy, Debug)]
enum Action {
    /// Source packet at this index.
    Src(usize),
    /// Bulk segment `seg` of direction `dir`.
    Data { dir: usize, seg: u64 },
    /// Pure ACK of direction `dir`'s bulk, acknowledging `upto` bytes of it.
    Ack { dir: usize, upto: u64 },
}

struct Inst {
    src: usize,
    client_ip: [u8; 4],
    client_port: u16,
    isn: [u32; 2],
    bulk: [u64; 2],
    salt: usize,
    /// Next source packet index.
    idx: usize,
    /// Bulk progress: direction (2 = done), next in-order segment, segment held back by a
    /// reordering, data segments not yet acknowledged.
    bdir: usize,
    next_seg: u64,
    deferred: Option<u64>,
    unacked: u8,
    ip_id: [u16; 2],
    next: Action,
}

/// Global settings of the generator.
struct Gen {
    mss: usize,
    record: usize,
    reorder: f64,
    flow_ps_per_byte: f64,
    pool: Vec<u8>,
    reordered: u64,
}

const BULK_START_GAP: u64 = 40_000;
const TURNAROUND_GAP: u64 = 120_000;
const ACK_GAP: u64 = 2_000;
/// Frame length of a bulk data segment / pure ACK with the timestamps option.
fn data_frame_len(payload: usize, ts: bool) -> usize {
    ETH_LEN + 20 + if ts { 32 } else { 20 } + payload
}

impl Gen {
    fn segs(&self, bytes: u64) -> u64 {
        bytes.div_ceil(self.mss as u64)
    }

    fn pace(&self, frame_len: usize) -> u64 {
        ((frame_len as u64 + WIRE_OVERHEAD) as f64 * self.flow_ps_per_byte / 1000.0) as u64
    }

    /// Chooses the action after the current one; returns it with its delay after the current.
    fn advance(&mut self, inst: &mut Inst, conn: &SrcConn, rng: &mut Rng) -> Option<(Action, u64)> {
        if inst.idx < conn.insert_at || inst.bdir == 2 {
            return self.next_src(inst, conn);
        }
        let mut gap = match inst.next {
            Action::Src(_) => BULK_START_GAP,
            _ => 0,
        };
        loop {
            let d = inst.bdir;
            if d == 2 {
                // Bulk done: the rest of the original connection, after its original gap.
                let (a, g) = self.next_src(inst, conn)?;
                return Some((a, gap.max(g)));
            }
            let n = self.segs(inst.bulk[d]);
            if inst.unacked >= 2
                || (inst.unacked > 0 && inst.deferred.is_none() && inst.next_seg >= n)
            {
                inst.unacked = 0;
                let upto = match inst.deferred {
                    Some(k) => k * self.mss as u64,
                    None => (inst.next_seg * self.mss as u64).min(inst.bulk[d]),
                };
                return Some((Action::Ack { dir: d, upto }, gap + ACK_GAP));
            }
            let seg = if let Some(k) = inst.deferred.take() {
                k
            } else if inst.next_seg < n {
                let k = inst.next_seg;
                if k + 1 < n && rng.chance(self.reorder) {
                    inst.deferred = Some(k);
                    inst.next_seg += 2;
                    self.reordered += 1;
                    k + 1
                } else {
                    inst.next_seg += 1;
                    k
                }
            } else {
                inst.bdir += 1;
                while inst.bdir < 2 && inst.bulk[inst.bdir] == 0 {
                    inst.bdir += 1;
                }
                inst.next_seg = 0;
                inst.unacked = 0;
                gap += TURNAROUND_GAP;
                continue;
            };
            inst.unacked += 1;
            let len = self.seg_len(inst.bulk[d], seg);
            let pace = self.pace(data_frame_len(len, conn.tmpl[d].ts.is_some()));
            return Some((Action::Data { dir: d, seg }, gap + pace));
        }
    }

    fn next_src(&self, inst: &mut Inst, conn: &SrcConn) -> Option<(Action, u64)> {
        let i = inst.idx;
        if i >= conn.pkts.len() {
            return None;
        }
        inst.idx += 1;
        let gap = if i == 0 {
            0
        } else {
            conn.pkts[i].time.saturating_sub(conn.pkts[i - 1].time)
        };
        Some((Action::Src(i), gap))
    }

    fn seg_len(&self, total: u64, seg: u64) -> usize {
        let off = seg * self.mss as u64;
        (total - off).min(self.mss as u64) as usize
    }

    /// Appends the frame of `action` to `buf`.
    fn build(&self, inst: &mut Inst, conn: &SrcConn, action: Action, buf: &mut Vec<u8>) {
        match action {
            Action::Src(i) => self.build_src(inst, conn, i, buf),
            Action::Data { dir, seg } => {
                let off = seg * self.mss as u64;
                let len = self.seg_len(inst.bulk[dir], seg);
                let last = seg + 1 == self.segs(inst.bulk[dir]);
                let flags = ACK | if last { PSH } else { 0 };
                let seq_off = off as u32;
                let start = buf.len();
                self.build_header(inst, conn, dir, seq_off, 0, flags, len, buf);
                let p = buf.len();
                let pool_at = (off as usize).wrapping_mul(7).wrapping_add(inst.salt) % POOL;
                buf.extend_from_slice(&self.pool[pool_at..pool_at + len]);
                self.write_record_headers(inst.bulk[dir], off, &mut buf[p..]);
                let end = buf.len() - start;
                fix_checksums(&mut buf[start..], ETH_LEN + 20, end);
            }
            Action::Ack { dir, upto } => {
                let start = buf.len();
                let from = 1 - dir;
                self.build_header(inst, conn, from, 0, upto as u32, ACK, 0, buf);
                let tcp_off = ETH_LEN + 20;
                let end = buf.len() - start;
                fix_checksums(&mut buf[start..], tcp_off, end);
            }
        }
    }

    /// The bytes of a bulk stream are records of `record` body bytes; writes the headers that
    /// fall into `seg` (stream bytes `off..off+seg.len()`).
    fn write_record_headers(&self, total: u64, off: u64, seg: &mut [u8]) {
        let rlen = (self.record + 5) as u64;
        let end = off + seg.len() as u64;
        let mut j = off.saturating_sub(4) / rlen;
        while j * rlen < end {
            let rs = j * rlen;
            let body = ((total - rs).min(rlen) - 5) as u16;
            let hdr = [0x17, 0x03, 0x03, (body >> 8) as u8, body as u8];
            for (h, b) in hdr.iter().enumerate() {
                let pos = rs + h as u64;
                if pos >= off && pos < end {
                    seg[(pos - off) as usize] = *b;
                }
            }
            j += 1;
        }
    }

    /// Ethernet + IPv4 + TCP header of a generated packet of direction `dir`. Sequence and
    /// acknowledgement numbers are relative to the insertion point plus what the bulk phase
    /// already sent.
    #[allow(clippy::too_many_arguments)]
    fn build_header(
        &self,
        inst: &mut Inst,
        conn: &SrcConn,
        dir: usize,
        seq_off: u32,
        ack_off: u32,
        flags: u8,
        payload: usize,
        buf: &mut Vec<u8>,
    ) {
        let t = conn.tmpl[dir];
        let other = 1 - dir;
        // The upload is complete once the download runs.
        let sent_before = |d: usize| {
            if d == UP && inst.bdir == DOWN {
                inst.bulk[UP]
            } else {
                0
            }
        };
        let seq = conn.nxt[dir]
            .wrapping_add(inst.isn[dir])
            .wrapping_add(sent_before(dir) as u32)
            .wrapping_add(seq_off);
        let ack = conn.nxt[other]
            .wrapping_add(inst.isn[other])
            .wrapping_add(sent_before(other) as u32)
            .wrapping_add(ack_off);
        let (src_ip, src_port, dst_ip, dst_port, smac, dmac) = if dir == UP {
            (
                inst.client_ip,
                inst.client_port,
                conn.server_ip,
                conn.server_port,
                MAC_CLIENT,
                MAC_SERVER,
            )
        } else {
            (
                conn.server_ip,
                conn.server_port,
                inst.client_ip,
                inst.client_port,
                MAC_SERVER,
                MAC_CLIENT,
            )
        };
        let tcp_len = if t.ts.is_some() { 32 } else { 20 };
        let total = (20 + tcp_len + payload) as u16;
        inst.ip_id[dir] = inst.ip_id[dir].wrapping_add(1);
        buf.extend_from_slice(&dmac);
        buf.extend_from_slice(&smac);
        buf.extend_from_slice(&[0x08, 0x00, 0x45, t.tos]);
        buf.extend_from_slice(&total.to_be_bytes());
        buf.extend_from_slice(&inst.ip_id[dir].to_be_bytes());
        buf.extend_from_slice(&[0x40, 0x00, t.ttl, 6, 0, 0]);
        buf.extend_from_slice(&src_ip);
        buf.extend_from_slice(&dst_ip);
        buf.extend_from_slice(&src_port.to_be_bytes());
        buf.extend_from_slice(&dst_port.to_be_bytes());
        buf.extend_from_slice(&seq.to_be_bytes());
        buf.extend_from_slice(&ack.to_be_bytes());
        buf.extend_from_slice(&[((tcp_len / 4) as u8) << 4, flags]);
        buf.extend_from_slice(&t.window.to_be_bytes());
        buf.extend_from_slice(&[0, 0, 0, 0]);
        if let Some((tsval, tsecr)) = t.ts {
            buf.extend_from_slice(&[1, 1, 8, 10]);
            buf.extend_from_slice(&tsval.to_be_bytes());
            buf.extend_from_slice(&tsecr.to_be_bytes());
        }
    }

    /// A source packet with the copy's client address, port and sequence numbers.
    fn build_src(&self, inst: &Inst, conn: &SrcConn, i: usize, buf: &mut Vec<u8>) {
        let p = &conn.pkts[i];
        let start = buf.len();
        buf.extend_from_slice(&p.frame);
        let f = &mut buf[start..];
        let (smac, dmac) = if p.dir == UP {
            (MAC_CLIENT, MAC_SERVER)
        } else {
            (MAC_SERVER, MAC_CLIENT)
        };
        f[0..6].copy_from_slice(&dmac);
        f[6..12].copy_from_slice(&smac);
        let ip_at = if p.dir == UP {
            ETH_LEN + 12
        } else {
            ETH_LEN + 16
        };
        f[ip_at..ip_at + 4].copy_from_slice(&inst.client_ip);
        let t = p.tcp_off;
        let port_at = if p.dir == UP { t } else { t + 2 };
        f[port_at..port_at + 2].copy_from_slice(&inst.client_port.to_be_bytes());
        let after = i >= conn.insert_at;
        let shift = |d: usize| if after { inst.bulk[d] as u32 } else { 0 };
        let other = 1 - p.dir;
        let seq = p
            .seq
            .wrapping_add(inst.isn[p.dir])
            .wrapping_add(shift(p.dir));
        f[t + 4..t + 8].copy_from_slice(&seq.to_be_bytes());
        if p.flags & ACK != 0 {
            let ack = p
                .ack
                .wrapping_add(inst.isn[other])
                .wrapping_add(shift(other));
            f[t + 8..t + 12].copy_from_slice(&ack.to_be_bytes());
        }
        if p.flags & SYN != 0 {
            set_mss(&mut f[t + 20..p.ip_end - p.payload_len], 1460);
        }
        fix_checksums(f, t, p.ip_end);
    }
}

/// Rewrites the MSS option of a SYN (loopback advertises 65495).
fn set_mss(opts: &mut [u8], mss: u16) {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => return,
            1 => i += 1,
            kind => {
                let Some(&len) = opts.get(i + 1) else { return };
                let len = len as usize;
                if len < 2 || i + len > opts.len() {
                    return;
                }
                if kind == 2 && len == 4 {
                    opts[i + 2..i + 4].copy_from_slice(&mss.to_be_bytes());
                }
                i += len;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("gencap: error: {e}");
        std::process::exit(2);
    }
}

fn run(args: Args) -> Result<(), String> {
    if args.mss < 64 || args.mss > 9000 {
        return Err("--mss must be within 64..=9000".into());
    }
    if args.record < 1 || args.record > 18432 {
        return Err("--record must be within 1..=18432 (TLS 1.2 maximum ciphertext)".into());
    }
    if !(args.gbps > 0.0 && args.flow_gbps > 0.0 && args.load > 0.0 && args.load <= 1.0) {
        return Err("--gbps and --flow-gbps must be positive, --load within (0, 1]".into());
    }
    if !(0.0..=0.5).contains(&args.reorder) {
        return Err("--reorder must be within 0..=0.5".into());
    }
    let sources = if args.sources.is_empty() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        [
            "static-key-weeks.pcap",
            "rotation-daily.pcap",
            "tls13-static-days.pcap",
        ]
        .iter()
        .map(|f| dir.join(f))
        .collect()
    } else {
        args.sources.clone()
    };
    let mut conns = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        read_source(s, i, &mut conns)?;
    }
    conns.retain(|c| !c.pkts.is_empty());
    if conns.is_empty() {
        return Err("the sources hold no TCP connections".into());
    }
    conns.sort_by_key(|c| (c.start, c.file));

    let mut rng = Rng(args.seed ^ 0x5354_454b_5741_5443);
    let mut pool = vec![0u8; POOL + args.mss];
    for chunk in pool.chunks_mut(8) {
        let v = rng.next().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    let mut gen = Gen {
        mss: args.mss,
        record: args.record,
        reorder: args.reorder,
        flow_ps_per_byte: 8000.0 / args.flow_gbps,
        pool,
        reordered: 0,
    };

    // Expected output bytes per round, and per burst (connections of one original segment).
    let up_mean = args.up_kib * 1024.0;
    let down_mean = args.down_kib * 1024.0;
    let per_bulk_byte = {
        let mss = args.mss as f64;
        let data = (REC_HDR + data_frame_len(args.mss, true)) as f64 / mss;
        let acks = (REC_HDR + data_frame_len(0, true)) as f64 / (2.0 * mss);
        data + acks
    };
    let expected = |c: &SrcConn| {
        c.bytes as f64
            + if c.bulk {
                (up_mean + down_mean) * per_bulk_byte
            } else {
                0.0
            }
    };
    let round_bytes: f64 = conns.iter().map(expected).sum();
    let rounds = match args.rounds {
        Some(r) => r.max(1),
        None => ((args.size.saturating_sub(24)) as f64 / round_bytes)
            .ceil()
            .max(1.0) as u32,
    };
    let mut burst_max = 0.0f64;
    let mut burst = 0.0f64;
    let mut last_start = None;
    for c in &conns {
        if last_start.is_some_and(|s: u64| c.start - s > 10_000_000_000) {
            burst = 0.0;
        }
        last_start = Some(c.start);
        burst += expected(c);
        burst_max = burst_max.max(burst);
    }
    // Nanoseconds between rounds: the busiest burst loads the link to about `load`.
    let spacing = (burst_max * 8.0 / (args.gbps * args.load)).ceil().max(1.0) as u64;
    let link_ps_per_byte = 8000.0 / args.gbps;

    if let Some(dir) = args.out.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
    }
    let file = File::create(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let mut out = BufWriter::with_capacity(4 << 20, file);
    let io = |e: std::io::Error| format!("{}: {e}", args.out.display());
    // Little-endian nanosecond pcap header, snaplen 262144, Ethernet.
    let mut hdr = Vec::with_capacity(24);
    hdr.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes());
    hdr.extend_from_slice(&2u16.to_le_bytes());
    hdr.extend_from_slice(&4u16.to_le_bytes());
    hdr.extend_from_slice(&0i32.to_le_bytes());
    hdr.extend_from_slice(&0u32.to_le_bytes());
    hdr.extend_from_slice(&262_144u32.to_le_bytes());
    hdr.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    out.write_all(&hdr).map_err(io)?;

    let began = Instant::now();
    let n_src = conns.len();
    // Event queue: (ready time ns, tie-breaker, slot). Slots below n_src launch the next copy
    // of that source connection; the others are live copies (index into `insts`).
    let mut heap: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::new();
    let mut tie = 0u64;
    for (j, c) in conns.iter().enumerate() {
        heap.push(Reverse((c.start, tie, j)));
        tie += 1;
    }
    let mut launched = vec![0u32; n_src];
    let mut insts: Vec<Inst> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut live = 0usize;
    let mut max_live = 0usize;
    let mut link_free = 0u64; // ps
    let mut last_ts = 0u64;
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 17);
    let (mut packets, mut bytes, mut payload_bytes, mut instances) = (0u64, 24u64, 0u64, 0u64);
    let mut first_ts = None;

    while let Some(Reverse((ready, _, slot))) = heap.pop() {
        if slot < n_src {
            // Launch copy `launched[slot]` of source connection `slot`.
            let c = &conns[slot];
            let k = instances;
            instances += 1;
            let host = (k / 64_512) % ((1 << 24) - 2) + 1;
            let bulk = if c.bulk {
                [rng.exp(up_mean), rng.exp(down_mean)]
            } else {
                [0, 0]
            };
            let mut bulk = bulk;
            for b in &mut bulk {
                // A record body of at least one byte: a tail of 1..=5 bytes would cut a header.
                let r = *b % (args.record as u64 + 5);
                if (1..6).contains(&r) {
                    *b += 6;
                }
            }
            let mut inst = Inst {
                src: slot,
                client_ip: [10, (host >> 16) as u8, (host >> 8) as u8, host as u8],
                client_port: 1024 + (k % 64_512) as u16,
                isn: [rng.next() as u32, rng.next() as u32],
                bulk,
                salt: rng.next() as usize,
                idx: 0,
                bdir: if !c.bulk {
                    2
                } else if bulk[UP] > 0 {
                    UP
                } else if bulk[DOWN] > 0 {
                    DOWN
                } else {
                    2
                },
                next_seg: 0,
                deferred: None,
                unacked: 0,
                ip_id: [c.tmpl[UP].ip_id, c.tmpl[DOWN].ip_id],
                next: Action::Src(0),
            };
            let first = gen.next_src(&mut inst, c);
            if let Some((a, _)) = first {
                inst.next = a;
                let id = match free.pop() {
                    Some(id) => {
                        insts[id] = inst;
                        id
                    }
                    None => {
                        insts.push(inst);
                        insts.len() - 1
                    }
                };
                heap.push(Reverse((ready, tie, n_src + id)));
                tie += 1;
                live += 1;
                max_live = max_live.max(live);
            }
            launched[slot] += 1;
            if launched[slot] < rounds {
                let at = c.start + launched[slot] as u64 * spacing;
                heap.push(Reverse((at, tie, slot)));
                tie += 1;
            }
            continue;
        }
        let id = slot - n_src;
        let inst = &mut insts[id];
        let conn = &conns[inst.src];
        let action = inst.next;
        // The packet leaves when the link is free; timestamps strictly increase.
        let emit = (ready.max(link_free.div_ceil(1000))).max(last_ts + 1);
        last_ts = emit;
        first_ts.get_or_insert(emit);
        buf.clear();
        buf.extend_from_slice(&[0u8; REC_HDR]);
        gen.build(inst, conn, action, &mut buf);
        let len = (buf.len() - REC_HDR) as u32;
        buf[0..4].copy_from_slice(&((emit / 1_000_000_000) as u32).to_le_bytes());
        buf[4..8].copy_from_slice(&((emit % 1_000_000_000) as u32).to_le_bytes());
        buf[8..12].copy_from_slice(&len.to_le_bytes());
        buf[12..16].copy_from_slice(&len.to_le_bytes());
        out.write_all(&buf).map_err(io)?;
        packets += 1;
        bytes += buf.len() as u64;
        if let Action::Data { dir, seg } = action {
            payload_bytes += gen.seg_len(inst.bulk[dir], seg) as u64;
        }
        link_free = emit * 1000 + ((len as u64 + WIRE_OVERHEAD) as f64 * link_ps_per_byte) as u64;
        match gen.advance(inst, conn, &mut rng) {
            Some((a, gap)) => {
                inst.next = a;
                heap.push(Reverse((emit + gap, tie, slot)));
                tie += 1;
            }
            None => {
                free.push(id);
                live -= 1;
            }
        }
    }
    out.flush().map_err(io)?;
    drop(out);
    let secs = began.elapsed().as_secs_f64();
    let span = last_ts.saturating_sub(first_ts.unwrap_or(0)) as f64 / 1e9;
    println!("gencap: wrote {}", args.out.display());
    println!(
        "  {} bytes ({:.1} MiB), {} packets, {} connections ({} source connections x {} rounds)",
        bytes,
        bytes as f64 / (1u64 << 20) as f64,
        packets,
        instances,
        n_src,
        rounds
    );
    println!(
        "  bulk payload {:.1} MiB, {} reordered segment pairs, at most {} connections open at once",
        payload_bytes as f64 / (1u64 << 20) as f64,
        gen.reordered,
        max_live
    );
    println!(
        "  capture time span {:.3} s ({:.1} days), round spacing {:.3} ms",
        span,
        span / 86_400.0,
        spacing as f64 / 1e6
    );
    println!(
        "  generated in {:.2} s ({:.0} MB/s, {:.2} Mpackets/s)",
        secs,
        bytes as f64 / secs / 1e6,
        packets as f64 / secs / 1e6
    );
    Ok(())
}
