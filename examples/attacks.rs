//! Writes hostile captures for the resource tests of scripts/attacks.sh:
//!
//! ```sh
//! cargo run --release --example attacks -- /tmp/stekwatch-attacks [SCALE]
//! ```
//!
//! SCALE (default 1.0) multiplies every count, so `0.01` makes quick small versions.
//!
//! - `syn-flood.pcap`: a SYN from each of a million sources;
//! - `stalled-records.pcap`: 100k connections whose client sends a TLS record header
//!   announcing 16 KB (and a ClientHello header announcing more) plus 4 KB of it, then stalls;
//! - `big-client-hello.pcap`: 2000 connections with a 64 KB ClientHello (in four records and
//!   many segments) answered by ServerHello, Certificate and a NewSessionTicket;
//! - `many-messages.pcap`: one connection whose server sends 200k NewSessionTickets and one
//!   whose client sends 200k ClientHellos;
//! - `out-of-order-flood.pcap`: 20k connections that each send 16 KB after a hole that is
//!   never filled;
//! - `tiny-segments.pcap`: 20 connections that each send 150k one-byte segments after a
//!   hole (buffer caps must count per-segment overhead, not only payload bytes);
//! - `many-services.pcap`: 100k short connections, each with its own SNI, presenting a
//!   ticket under a random key name and issued one under another (tracker growth);
//! - `tiny-fragments.pcap`: 4000 IPv4 datagrams sent as 600 eight-byte fragments each,
//!   never completed (defragmentation caps and expiry);
//! - `fragmented-segments.pcap`: 200k TCP segments of 1400 bytes, each in two IPv4 fragments
//!   (memory of reassembled datagrams over a run);
//! - `overlap-storm.pcap`: 5000 real-looking TLS 1.2 handshakes sent as overlapping,
//!   duplicated and reordered segments.
//!
//! With `--under REAL OUT ATTACK...` it instead writes real traffic under attack: the packets
//! of the capture REAL (classic pcap, either resolution) with the packets of the ATTACK
//! captures spread evenly between them, each stamped with the time of the real packet it
//! follows, so the attack runs over the same minutes as the real handshakes (output in
//! nanosecond pcap).
//!
//! Addresses are from the documentation/benchmark ranges; nothing is sent anywhere.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::Path;

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const T0: u32 = 1_793_491_200; // 2026-11-01T00:00:00Z

struct Pcap {
    w: BufWriter<File>,
    /// Microseconds since T0.
    now_us: u64,
    packets: u64,
}

#[derive(Clone, Copy)]
struct Conn {
    client: Ipv4Addr,
    cport: u16,
    sport: u16,
    cseq: u32,
    sseq: u32,
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const FIN: u8 = 0x01;

impl Pcap {
    fn create(path: &Path) -> Pcap {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(path).expect("create"));
        let mut h = Vec::new();
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&65535u32.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        w.write_all(&h).unwrap();
        Pcap {
            w,
            now_us: 0,
            packets: 0,
        }
    }

    /// One Ethernet/IPv4/TCP packet.
    #[allow(clippy::too_many_arguments)]
    fn tcp(
        &mut self,
        src: Ipv4Addr,
        sport: u16,
        dst: Ipv4Addr,
        dport: u16,
        seq: u32,
        flags: u8,
        payload: &[u8],
    ) {
        self.now_us += 10;
        let ip_len = 20 + 20 + payload.len();
        let mut p = Vec::with_capacity(14 + ip_len);
        p.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
        p.extend_from_slice(&[
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            0,
            0x40,
            0,
            64,
            6,
        ]);
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&1u32.to_be_bytes());
        p.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        p.extend_from_slice(payload);
        let ts = T0 as u64 + self.now_us / 1_000_000;
        for x in [
            ts as u32,
            (self.now_us % 1_000_000) as u32,
            p.len() as u32,
            p.len() as u32,
        ] {
            self.w.write_all(&x.to_le_bytes()).unwrap();
        }
        self.w.write_all(&p).unwrap();
        self.packets += 1;
    }

    /// One IPv4 fragment carrying `data` at byte `offset` of datagram `id`.
    fn fragment(&mut self, src: Ipv4Addr, id: u16, offset: usize, more: bool, data: &[u8]) {
        self.now_us += 10;
        let ip_len = 20 + data.len();
        let frag = (u16::from(more) << 13) | (offset / 8) as u16;
        let mut p = Vec::with_capacity(14 + ip_len);
        p.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
        p.extend_from_slice(&[0x45, 0, (ip_len >> 8) as u8, ip_len as u8]);
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&frag.to_be_bytes());
        p.extend_from_slice(&[64, 6, 0, 0]);
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&SERVER.octets());
        p.extend_from_slice(data);
        self.raw(&p);
    }

    fn raw(&mut self, p: &[u8]) {
        let ts = T0 as u64 + self.now_us / 1_000_000;
        for x in [
            ts as u32,
            (self.now_us % 1_000_000) as u32,
            p.len() as u32,
            p.len() as u32,
        ] {
            self.w.write_all(&x.to_le_bytes()).unwrap();
        }
        self.w.write_all(p).unwrap();
        self.packets += 1;
    }

    fn client_sends(&mut self, c: &Conn, offset: u32, flags: u8, payload: &[u8]) {
        self.tcp(
            c.client,
            c.cport,
            SERVER,
            c.sport,
            c.cseq.wrapping_add(1).wrapping_add(offset),
            flags,
            payload,
        );
    }

    fn server_sends(&mut self, c: &Conn, offset: u32, flags: u8, payload: &[u8]) {
        self.tcp(
            SERVER,
            c.sport,
            c.client,
            c.cport,
            c.sseq.wrapping_add(1).wrapping_add(offset),
            flags,
            payload,
        );
    }

    fn handshake_open(&mut self, c: &Conn) {
        self.tcp(c.client, c.cport, SERVER, c.sport, c.cseq, SYN, &[]);
        self.tcp(SERVER, c.sport, c.client, c.cport, c.sseq, SYN | ACK, &[]);
        self.client_sends(c, 0, ACK, &[]);
    }

    fn finish(mut self) -> u64 {
        self.w.flush().unwrap();
        self.packets
    }
}

fn conn(i: u32) -> Conn {
    Conn {
        client: Ipv4Addr::from(0xc612_0000u32 + 256 + i),
        cport: 1024 + (i % 60000) as u16,
        sport: 443,
        cseq: i.wrapping_mul(2_654_435_761),
        sseq: i.wrapping_mul(40_503) ^ 0x5555_5555,
    }
}

fn record(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![kind, 3, 3, (body.len() >> 8) as u8, body.len() as u8];
    r.extend_from_slice(body);
    r
}

fn handshake(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len();
    let mut m = vec![msg_type, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    m.extend_from_slice(body);
    m
}

/// Handshake messages cut into records of at most 16384 bytes.
fn records(msgs: &[u8]) -> Vec<u8> {
    msgs.chunks(16384).flat_map(|c| record(22, c)).collect()
}

/// A ClientHello body with an SNI and a session_ticket extension; `pad` bytes of padding
/// extension (21) make it as large as wanted.
fn client_hello(sni: &str, ticket: &[u8], pad: usize) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&[0x11; 32]);
    b.push(32);
    b.extend_from_slice(&[0x22; 32]);
    b.extend_from_slice(&[0, 4, 0xc0, 0x2f, 0x00, 0x9c]);
    b.extend_from_slice(&[1, 0]);
    let mut ext = Vec::new();
    let name = sni.as_bytes();
    ext.extend_from_slice(&0u16.to_be_bytes());
    ext.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
    ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    ext.extend_from_slice(name);
    ext.extend_from_slice(&35u16.to_be_bytes());
    ext.extend_from_slice(&(ticket.len() as u16).to_be_bytes());
    ext.extend_from_slice(ticket);
    let mut left = pad;
    while left > 0 {
        let n = left.min(65000);
        ext.extend_from_slice(&21u16.to_be_bytes());
        ext.extend_from_slice(&(n as u16).to_be_bytes());
        ext.extend(std::iter::repeat_n(0u8, n));
        left -= n;
    }
    b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    b.extend_from_slice(&ext);
    b
}

fn server_hello() -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&[0x33; 32]);
    b.push(32);
    b.extend_from_slice(&[0x44; 32]);
    b.extend_from_slice(&[0xc0, 0x2f, 0]);
    // extensions: session_ticket (empty)
    b.extend_from_slice(&[0, 4, 0, 35, 0, 0]);
    b
}

fn new_session_ticket(key_name: &[u8; 16], n: u32) -> Vec<u8> {
    let mut t = key_name.to_vec();
    t.extend_from_slice(&n.to_be_bytes());
    t.extend_from_slice(&[0x5a; 140]);
    let mut b = 7200u32.to_be_bytes().to_vec();
    b.extend_from_slice(&(t.len() as u16).to_be_bytes());
    b.extend_from_slice(&t);
    b
}

/// Sends `bytes` from the client (or server) in segments of `mss` starting at stream offset
/// `start`; returns the offset after them.
fn send(p: &mut Pcap, c: &Conn, client: bool, start: u32, bytes: &[u8], mss: usize) -> u32 {
    let mut off = start;
    for chunk in bytes.chunks(mss) {
        if client {
            p.client_sends(c, off, ACK | PSH, chunk);
        } else {
            p.server_sends(c, off, ACK | PSH, chunk);
        }
        off += chunk.len() as u32;
    }
    off
}

fn scaled(n: u32, scale: f64) -> u32 {
    ((n as f64 * scale) as u32).max(1)
}

fn syn_flood(p: &mut Pcap, scale: f64) {
    for i in 0..scaled(1_000_000, scale) {
        let src = Ipv4Addr::from(0xc612_0000u32 + 65536 + i);
        p.tcp(src, 1024 + (i % 60000) as u16, SERVER, 443, i, SYN, &[]);
    }
}

fn stalled_records(p: &mut Pcap, scale: f64) {
    // Record header: handshake, 16384 bytes; inside, a ClientHello header announcing 16380.
    let mut head = vec![22, 3, 1, 0x40, 0x00, 1, 0, 0x3f, 0xfc];
    head.extend(std::iter::repeat_n(0x41u8, 4096));
    for i in 0..scaled(100_000, scale) {
        let c = conn(i);
        p.handshake_open(&c);
        send(p, &c, true, 0, &head, 1400);
    }
}

fn big_client_hello(p: &mut Pcap, scale: f64) {
    let key = *b"big-hello-key-01";
    for i in 0..scaled(2000, scale) {
        let c = conn(i);
        p.handshake_open(&c);
        // Padding to the most a ClientHello extension block holds: a 65 KB message.
        let ch = client_hello("big-hello.test", &[], 65_000);
        let end = send(p, &c, true, 0, &records(&handshake(1, &ch)), 1460);
        let mut flight = handshake(2, &server_hello());
        flight.extend(handshake(11, &[0; 600]));
        flight.extend(handshake(14, &[]));
        let soff = send(p, &c, false, 0, &records(&flight), 1460);
        let mut fin = record(22, &handshake(16, &[0; 70]));
        fin.extend(record(20, &[1]));
        fin.extend(record(22, &[0; 40]));
        send(p, &c, true, end, &fin, 1460);
        let mut tail = record(22, &handshake(4, &new_session_ticket(&key, i)));
        tail.extend(record(20, &[1]));
        let soff = send(p, &c, false, soff, &tail, 1460);
        p.server_sends(&c, soff, ACK | FIN, &[]);
    }
}

fn many_messages(p: &mut Pcap, scale: f64) {
    let n = scaled(200_000, scale);
    let key = *b"many-tickets-k01";
    // Server: ServerHello, then NewSessionTickets without end (packed 60 per record).
    let c = conn(1);
    p.handshake_open(&c);
    let ch = client_hello("many-tickets.test", &[], 0);
    send(p, &c, true, 0, &record(22, &handshake(1, &ch)), 1460);
    let mut off = send(
        p,
        &c,
        false,
        0,
        &record(22, &handshake(2, &server_hello())),
        1460,
    );
    let mut i = 0;
    while i < n {
        let mut body = Vec::new();
        for _ in 0..60.min(n - i) {
            body.extend(handshake(4, &new_session_ticket(&key, i)));
            i += 1;
        }
        off = send(p, &c, false, off, &records(&body), 1460);
    }
    // Client: ClientHellos without end.
    let c = conn(2);
    p.handshake_open(&c);
    let hello = handshake(1, &client_hello("many-hellos.test", &[0x77; 100], 0));
    let mut off = 0;
    let mut i = 0;
    while i < n {
        let mut body = Vec::new();
        for _ in 0..50.min(n - i) {
            body.extend_from_slice(&hello);
            i += 1;
        }
        off = send(p, &c, true, off, &records(&body), 1460);
    }
}

fn out_of_order_flood(p: &mut Pcap, scale: f64) {
    let data = [0x41u8; 1400];
    for i in 0..scaled(20_000, scale) {
        let c = conn(i);
        p.handshake_open(&c);
        p.client_sends(&c, 0, ACK | PSH, &record(22, &[1, 0, 0, 10]));
        // A hole of 1000 bytes that never fills, then 16 KB.
        for k in 0..12 {
            p.client_sends(&c, 1009 + k * 1400, ACK | PSH, &data);
        }
    }
}

fn tiny_segments(p: &mut Pcap, scale: f64) {
    for i in 0..scaled(20, scale.sqrt()) {
        let c = conn(i);
        p.handshake_open(&c);
        p.client_sends(&c, 0, ACK | PSH, &record(22, &[1, 0, 0, 10]));
        for k in 0..scaled(150_000, scale.sqrt()) {
            p.client_sends(&c, 100 + 2 * k, ACK | PSH, b"x");
        }
    }
}

fn many_services(p: &mut Pcap, scale: f64) {
    for i in 0..scaled(100_000, scale) {
        let c = conn(i);
        p.handshake_open(&c);
        let mut presented = [0x99u8; 160];
        presented[..4].copy_from_slice(&i.to_be_bytes());
        let ch = client_hello(&format!("svc-{i}.attack.test"), &presented, 0);
        let end = send(p, &c, true, 0, &record(22, &handshake(1, &ch)), 1460);
        let mut name = *b"key-of-000000000";
        name[7..11].copy_from_slice(&i.to_be_bytes());
        let mut flight = handshake(2, &server_hello());
        flight.extend(handshake(11, &[0; 300]));
        flight.extend(handshake(14, &[]));
        flight.extend(handshake(4, &new_session_ticket(&name, i)));
        let mut server = record(22, &flight);
        server.extend(record(20, &[1]));
        let soff = send(p, &c, false, 0, &server, 1460);
        p.server_sends(&c, soff, ACK | FIN, &[]);
        p.client_sends(&c, end, ACK | FIN, &[]);
    }
}

fn tiny_fragments(p: &mut Pcap, scale: f64) {
    // Interleaved so that every datagram stays pending until the end.
    let n = scaled(4000, scale);
    for k in 0..600 {
        for i in 0..n {
            let src = Ipv4Addr::from(0xc612_0000u32 + 256 + i);
            p.fragment(src, i as u16, k * 8, true, &[0x42; 8]);
        }
    }
}

fn fragmented_segments(p: &mut Pcap, scale: f64) {
    let n = scaled(200_000, scale);
    let payload = [0x17u8; 1400];
    for i in 0..n {
        let c = conn(i % 1000);
        // TCP header + payload, then cut in two fragments at byte 720.
        let mut tcp = Vec::new();
        tcp.extend_from_slice(&c.cport.to_be_bytes());
        tcp.extend_from_slice(&c.sport.to_be_bytes());
        tcp.extend_from_slice(&(c.cseq.wrapping_add(1 + 1400 * (i / 1000))).to_be_bytes());
        tcp.extend_from_slice(&1u32.to_be_bytes());
        tcp.extend_from_slice(&[0x50, ACK | PSH, 0xff, 0xff, 0, 0, 0, 0]);
        tcp.extend_from_slice(&payload);
        let id = i as u16;
        p.fragment(c.client, id, 0, true, &tcp[..720]);
        p.fragment(c.client, id, 720, false, &tcp[720..]);
    }
}

fn overlap_storm(p: &mut Pcap, scale: f64) {
    let key = *b"overlap-storm-01";
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for i in 0..scaled(5000, scale) {
        let c = conn(i);
        p.handshake_open(&c);
        let ch = record(22, &handshake(1, &client_hello("overlap.test", &[], 0)));
        let mut flight = handshake(2, &server_hello());
        flight.extend(handshake(11, &[0; 1500]));
        flight.extend(handshake(14, &[]));
        let mut server = records(&flight);
        server.extend(record(22, &handshake(4, &new_session_ticket(&key, i))));
        server.extend(record(20, &[1]));
        for (client, bytes) in [(true, &ch), (false, &server)] {
            // 3x as many segments as needed, random starts and lengths, each maybe repeated;
            // then the whole stream once in order so nothing is missing.
            let len = bytes.len();
            for _ in 0..(len / 200).max(8) {
                let start = next() as usize % len;
                let n = (1 + next() as usize % 600).min(len - start);
                for _ in 0..1 + next() % 3 {
                    let seg = &bytes[start..start + n];
                    if client {
                        p.client_sends(&c, start as u32, ACK | PSH, seg);
                    } else {
                        p.server_sends(&c, start as u32, ACK | PSH, seg);
                    }
                }
            }
            send(p, &c, client, 0, bytes, 1460);
        }
        p.server_sends(&c, server.len() as u32, ACK | FIN, &[]);
        p.client_sends(&c, ch.len() as u32, ACK | FIN, &[]);
    }
}

/// The packets of a classic little-endian pcap: (time in ns, bytes); and its link type.
fn read_pcap(path: &str) -> (u32, Vec<(u64, Vec<u8>)>) {
    let b = std::fs::read(path).expect("read capture");
    let word = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    let nanos = match word(0) {
        0xa1b2_c3d4 => false,
        0xa1b2_3c4d => true,
        m => panic!("{path}: not a little-endian classic pcap (magic {m:08x})"),
    };
    let mut out = Vec::new();
    let mut pos = 24;
    while pos + 16 <= b.len() {
        let (secs, frac, caplen) = (
            word(pos) as u64,
            word(pos + 4) as u64,
            word(pos + 8) as usize,
        );
        let ns = secs * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
        out.push((ns, b[pos + 16..pos + 16 + caplen].to_vec()));
        pos += 16 + caplen;
    }
    (word(20), out)
}

/// `--under REAL OUT ATTACK...`: see the module doc.
fn under(real: &str, out: &str, attacks: &[String]) {
    let (linktype, real) = read_pcap(real);
    let mut attack = Vec::new();
    for a in attacks {
        attack.extend(read_pcap(a).1.into_iter().map(|(_, p)| p));
    }
    let mut w = BufWriter::with_capacity(1 << 20, File::create(out).expect("create"));
    w.write_all(&0xa1b2_3c4du32.to_le_bytes()).unwrap();
    w.write_all(&2u16.to_le_bytes()).unwrap();
    w.write_all(&4u16.to_le_bytes()).unwrap();
    w.write_all(&[0; 8]).unwrap();
    w.write_all(&262_144u32.to_le_bytes()).unwrap();
    w.write_all(&linktype.to_le_bytes()).unwrap();
    let mut put = |ns: u64, p: &[u8]| {
        for x in [
            (ns / 1_000_000_000) as u32,
            (ns % 1_000_000_000) as u32,
            p.len() as u32,
            p.len() as u32,
        ] {
            w.write_all(&x.to_le_bytes()).unwrap();
        }
        w.write_all(p).unwrap();
    };
    let (r, a) = (real.len().max(1), attack.len());
    for (i, (ns, p)) in real.iter().enumerate() {
        put(*ns, p);
        for q in &attack[i * a / r..(i + 1) * a / r] {
            put(*ns, q);
        }
    }
    println!(
        "{out}: {} real packets with {a} attack packets between them",
        real.len()
    );
}

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    if all.first().map(String::as_str) == Some("--under") {
        assert!(all.len() >= 4, "usage: attacks --under REAL OUT ATTACK...");
        return under(&all[1], &all[2], &all[3..]);
    }
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .unwrap_or_else(|| "/tmp/stekwatch-attacks".into());
    let scale: f64 = args.next().map_or(1.0, |s| s.parse().expect("SCALE"));
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).expect("create output dir");
    type Gen = fn(&mut Pcap, f64);
    let attacks: [(&str, Gen); 10] = [
        ("syn-flood", syn_flood),
        ("stalled-records", stalled_records),
        ("big-client-hello", big_client_hello),
        ("many-messages", many_messages),
        ("out-of-order-flood", out_of_order_flood),
        ("tiny-segments", tiny_segments),
        ("many-services", many_services),
        ("tiny-fragments", tiny_fragments),
        ("fragmented-segments", fragmented_segments),
        ("overlap-storm", overlap_storm),
    ];
    for (name, gen) in attacks {
        let path = dir.join(format!("{name}.pcap"));
        let mut p = Pcap::create(&path);
        gen(&mut p, scale);
        let n = p.finish();
        let size = std::fs::metadata(&path).unwrap().len();
        println!("{}: {n} packets, {} MB", path.display(), size >> 20);
    }
}
