//! The QUIC table driven with packets sealed here under real Initial keys: split, shuffled and
//! duplicated CRYPTO frames, coalesced packets, Retry, 0-RTT, wrong keys, cut and hostile
//! headers, caps and expiry. A recording consumer shows exactly which bytes came out.

use std::net::SocketAddr;

use super::keys::{self, InitialKeys, Keys, V1, V2};
use super::table::{Consumer, Limits, QuicTable};
use crate::decode::{Endpoint, Tunnel, Udp};
use crate::evidence::Evidence;
use crate::stats::Stats;
use crate::time::Timestamp;

/// What a connection handed on: both directions' CRYPTO bytes and whether 0-RTT was seen.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    client: SocketAddr,
    bytes: [Vec<u8>; 2],
    zero_rtt: bool,
}

struct Recorder(Seen, Option<usize>);

thread_local! {
    /// Server bytes after which new recorders are done (`None`: never).
    static DONE_AFTER: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

impl Consumer for Recorder {
    type Summary = Seen;
    fn open(client: SocketAddr, _server: SocketAddr, _t: Option<Tunnel>) -> Self {
        Recorder(
            Seen {
                client,
                bytes: Default::default(),
                zero_rtt: false,
            },
            DONE_AFTER.with(|d| d.get()),
        )
    }
    fn push(&mut self, dir: usize, bytes: &[u8], _at: Evidence) {
        self.0.bytes[dir].extend_from_slice(bytes);
    }
    fn zero_rtt(&mut self, _at: Evidence) {
        self.0.zero_rtt = true;
    }
    fn done(&self) -> bool {
        // Done once the server's bytes reach the length set by the test (if any).
        self.1.is_some_and(|n| self.0.bytes[1].len() >= n)
    }
    fn held(&self) -> usize {
        0
    }
    fn finish(self, _stats: &mut Stats) -> Option<Seen> {
        Some(self.0)
    }
}

const CLIENT: &str = "192.0.2.7:50000";
const SERVER: &str = "192.0.2.1:443";

fn at(secs: i64) -> Evidence {
    Evidence {
        time: Timestamp::from_parts(1_800_000_000 + secs, 0),
        file: 0,
        frame: 1,
    }
}

fn crypto(offset: u64, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x06];
    f.extend(varint(offset));
    f.extend(varint(data.len() as u64));
    f.extend_from_slice(data);
    f
}

fn varint(v: u64) -> Vec<u8> {
    match v {
        0..=63 => vec![v as u8],
        64..=16383 => (0x4000 | v as u16).to_be_bytes().to_vec(),
        _ => (0x8000_0000 | v as u32).to_be_bytes().to_vec(),
    }
}

/// A long-header packet of `kind_bits` (wire code point) sealed with `keys`, packet number
/// `pn` in two bytes; frames padded so the header-protection sample exists.
fn packet(version: u32, kind_bits: u8, dcid: &[u8], pn: u16, frames: &[u8], k: &Keys) -> Vec<u8> {
    let mut payload = frames.to_vec();
    payload.resize(payload.len().max(20), 0);
    let mut h = vec![0xc0 | kind_bits << 4 | 0x01];
    h.extend(version.to_be_bytes());
    h.push(dcid.len() as u8);
    h.extend_from_slice(dcid);
    h.extend([4, 0xc1, 0xc2, 0xc3, 0xc4]);
    if kind_bits == initial_bits(version) {
        h.push(0); // no token
    }
    h.extend((0x4000 | (2 + payload.len() + 16) as u16).to_be_bytes());
    let pn_offset = h.len();
    h.extend(pn.to_be_bytes());
    k.seal(u64::from(pn), &h, &mut payload);
    let mut p = h;
    p.extend(payload);
    let sample: [u8; 16] = p[pn_offset + 4..pn_offset + 20].try_into().unwrap();
    let mask = k.mask(&sample);
    p[0] ^= mask[0] & 0x0f;
    p[pn_offset] ^= mask[1];
    p[pn_offset + 1] ^= mask[2];
    p
}

fn initial_bits(version: u32) -> u8 {
    if version == V2 {
        1
    } else {
        0
    }
}

fn keys_of(version: u32, dcid: &[u8]) -> InitialKeys {
    InitialKeys::derive(keys::suite(version).unwrap(), dcid)
}

struct Run {
    table: QuicTable<Recorder>,
    stats: Stats,
    out: Vec<Seen>,
}

impl Run {
    fn new(limits: Limits) -> Self {
        Run {
            table: QuicTable::new(limits),
            stats: Stats::default(),
            out: Vec::new(),
        }
    }
    fn send(&mut self, from: &str, to: &str, datagram: &[u8], secs: i64) {
        let d = Udp {
            src: Endpoint::of(from.parse().unwrap()),
            dst: Endpoint::of(to.parse().unwrap()),
            payload: datagram,
            truncated: false,
        };
        self.table
            .push(&d, at(secs), &mut self.stats, &mut self.out);
    }
    /// Connections opened after this are done once the server sent `n` bytes.
    fn table_wants_server_bytes(&mut self, n: usize) {
        DONE_AFTER.with(|d| d.set(Some(n)));
    }
    fn finish(mut self) -> (Vec<Seen>, Stats) {
        DONE_AFTER.with(|d| d.set(None));
        self.table.finish_all(&mut self.stats, &mut self.out);
        (self.out, self.stats)
    }
}

const DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];

fn hello(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

#[test]
fn a_client_hello_split_shuffled_and_duplicated_over_three_initials_comes_out_once_in_order() {
    let k = keys_of(V1, &DCID);
    let ch = hello(3000);
    let pieces = [
        (0, 0..900),
        (900, 900..1800),
        (1800, 1800..2600),
        (2600, 2600..3000),
    ];
    let f = |i: usize| crypto(pieces[i].0, &ch[pieces[i].1.clone()]);
    let mut run = Run::new(Limits::default());
    // Packet 0: pieces 3 and 1; packet 1: piece 0 and piece 3 again; packet 2: pieces 2, 1.
    let p0 = [f(3), f(1)].concat();
    let p1 = [f(0), f(3)].concat();
    let p2 = [f(2), f(1)].concat();
    run.send(CLIENT, SERVER, &packet(V1, 0, &DCID, 0, &p0, &k.client), 0);
    run.send(CLIENT, SERVER, &packet(V1, 0, &DCID, 1, &p1, &k.client), 0);
    run.send(CLIENT, SERVER, &packet(V1, 0, &DCID, 2, &p2, &k.client), 0);
    let (out, stats) = run.finish();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].bytes[0], ch);
    assert_eq!(out[0].client, CLIENT.parse().unwrap());
    assert_eq!(stats.quic_initials_decrypted, 3);
    assert_eq!(stats.quic_crypto_duplicates, 2);
    assert_eq!(stats.quic_connections, 1);
}

#[test]
fn the_servers_initials_open_under_the_keys_of_the_clients_first_dcid() {
    for version in [V1, V2] {
        let k = keys_of(version, &DCID);
        let bits = initial_bits(version);
        let mut run = Run::new(Limits::default());
        run.send(
            CLIENT,
            SERVER,
            &packet(
                version,
                bits,
                &DCID,
                0,
                &crypto(0, b"client hello"),
                &k.client,
            ),
            0,
        );
        // The server answers to the client's SCID, with keys of the client's DCID.
        let ack = [0x02, 0x00, 0x00, 0x00, 0x00];
        let sh = [&ack[..], &crypto(0, b"server hello")].concat();
        run.send(
            SERVER,
            CLIENT,
            &packet(version, bits, &[0xc1, 0xc2, 0xc3, 0xc4], 0, &sh, &k.server),
            0,
        );
        let (out, stats) = run.finish();
        assert_eq!(out[0].bytes[0], b"client hello", "{version:x}");
        assert_eq!(out[0].bytes[1], b"server hello", "{version:x}");
        assert_eq!(stats.quic_undecryptable, 0);
    }
}

#[test]
fn coalesced_initial_and_zero_rtt_packets_are_both_read() {
    let k = keys_of(V1, &DCID);
    let mut d = packet(V1, 0, &DCID, 0, &crypto(0, b"hello"), &k.client);
    // A 0-RTT packet (its keys are not the Initial's: only its header is read).
    d.extend(packet(V1, 1, &DCID, 1, &[1; 40], &k.server));
    let mut run = Run::new(Limits::default());
    run.send(CLIENT, SERVER, &d, 0);
    let (out, stats) = run.finish();
    assert!(out[0].zero_rtt);
    assert_eq!(out[0].bytes[0], b"hello");
    assert_eq!(stats.quic_packets, 2);
    assert_eq!(stats.quic_zero_rtt_packets, 1);
}

#[test]
fn zero_rtt_captured_before_its_initial_still_counts_for_the_connection() {
    let k = keys_of(V1, &DCID);
    let mut run = Run::new(Limits::default());
    run.send(
        CLIENT,
        SERVER,
        &packet(V1, 1, &DCID, 1, &[1; 40], &k.server),
        0,
    );
    run.send(
        CLIENT,
        SERVER,
        &packet(V1, 0, &DCID, 0, &crypto(0, b"hi"), &k.client),
        0,
    );
    let (out, _) = run.finish();
    assert!(out[0].zero_rtt);
}

#[test]
fn after_a_retry_the_new_dcid_gives_the_keys_of_both_directions() {
    let first = keys_of(V1, &DCID);
    let new_dcid = [9u8; 12];
    let second = keys_of(V1, &new_dcid);
    let mut run = Run::new(Limits::default());
    run.send(
        CLIENT,
        SERVER,
        &packet(V1, 0, &DCID, 0, &crypto(0, b"hello"), &first.client),
        0,
    );
    // Retry: type 3, the rest of the datagram (token and integrity tag, not checked).
    let mut retry = vec![0xf0, 0, 0, 0, 1, 4, 0xc1, 0xc2, 0xc3, 0xc4, 12];
    retry.extend(new_dcid);
    retry.extend([0x55; 30]);
    run.send(SERVER, CLIENT, &retry, 0);
    // The client starts again under the new DCID (its hello again, from offset 0).
    run.send(
        CLIENT,
        SERVER,
        &packet(V1, 0, &new_dcid, 1, &crypto(0, b"hello"), &second.client),
        0,
    );
    run.send(
        SERVER,
        CLIENT,
        &packet(
            V1,
            0,
            &[0xc1, 0xc2, 0xc3, 0xc4],
            0,
            &crypto(0, b"sh"),
            &second.server,
        ),
        0,
    );
    let (out, stats) = run.finish();
    assert_eq!(out[0].bytes, [b"hello".to_vec(), b"sh".to_vec()]);
    assert_eq!(stats.quic_retry, 1);
    assert_eq!(stats.quic_crypto_duplicates, 1);
    assert_eq!(stats.quic_undecryptable, 0);
}

#[test]
fn initials_under_wrong_keys_are_counted_and_make_no_connection() {
    let wrong = keys_of(V1, &[1, 2, 3, 4]);
    let mut run = Run::new(Limits::default());
    run.send(
        CLIENT,
        SERVER,
        &packet(V1, 0, &DCID, 0, &crypto(0, b"x"), &wrong.client),
        0,
    );
    // A server Initial whose client Initial was not captured.
    let k = keys_of(V1, &DCID);
    run.send(
        SERVER,
        CLIENT,
        &packet(V1, 0, &[5; 4], 0, &crypto(0, b"y"), &k.server),
        0,
    );
    let (out, stats) = run.finish();
    assert!(out.is_empty());
    assert_eq!(stats.quic_undecryptable, 2);
    assert_eq!(stats.quic_connections, 0);
}

#[test]
fn huge_crypto_offsets_and_forbidden_frames_are_counted_not_held() {
    let k = keys_of(V1, &DCID);
    let mut run = Run::new(Limits::default());
    let frames = [crypto(1 << 29, b"far away"), crypto(0, b"near")].concat();
    run.send(
        CLIENT,
        SERVER,
        &packet(V1, 0, &DCID, 0, &frames, &k.client),
        0,
    );
    // A STREAM frame (0x08) in an Initial: the frames before it still count.
    let frames = [crypto(4, b"!"), vec![0x08, 0, 1, 0xaa]].concat();
    run.send(
        CLIENT,
        SERVER,
        &packet(V1, 0, &DCID, 1, &frames, &k.client),
        0,
    );
    assert_eq!(run.table.held(), 0);
    let (out, stats) = run.finish();
    assert_eq!(out[0].bytes[0], b"near!");
    assert_eq!(stats.quic_crypto_refused, 1);
    assert_eq!(stats.quic_malformed_frames, 1);
}

#[test]
fn every_cut_of_a_datagram_is_counted_without_a_panic() {
    let k = keys_of(V1, &DCID);
    let first = packet(V1, 0, &DCID, 0, &crypto(0, &hello(300)), &k.client);
    let mut d = first.clone();
    d.extend(packet(V1, 1, &DCID, 1, &[1; 40], &k.server));
    let mut run = Run::new(Limits::default());
    for n in 1..d.len() {
        run.send(CLIENT, &format!("192.0.2.1:{}", 1000 + n), &d[..n], 0);
    }
    let (out, stats) = run.finish();
    // A cut inside a packet makes its header's lengths run past the datagram (malformed);
    // every cut after the first packet's end leaves that packet whole: one connection each.
    assert_eq!(stats.quic_datagrams, d.len() as u64 - 1);
    assert_eq!(stats.quic_malformed, d.len() as u64 - 2);
    assert_eq!(out.len(), d.len() - first.len());
    assert!(out.iter().all(|s| s.bytes[0] == hello(300)));
}

#[test]
fn flipped_bytes_anywhere_never_panic_and_never_open() {
    let k = keys_of(V1, &DCID);
    let d = packet(V1, 0, &DCID, 0, &crypto(0, &hello(200)), &k.client);
    let mut run = Run::new(Limits::default());
    for i in 0..d.len() {
        let mut m = d.clone();
        m[i] ^= 0x41;
        run.send(CLIENT, &format!("192.0.2.1:{}", 1000 + i), &m, 0);
    }
    let (out, stats) = run.finish();
    // The AEAD covers every byte (header as associated data): no flipped packet opens, and
    // each is counted as malformed, not decryptable, or of an unknown version.
    assert!(out.is_empty(), "{} opened", out.len());
    let counted = stats.quic_malformed + stats.quic_undecryptable + stats.quic_unknown_version;
    assert!(
        counted >= d.len() as u64,
        "{counted} of {} counted: {stats:?}",
        d.len()
    );
}

#[test]
fn a_full_table_refuses_new_connections_and_counts_them() {
    let limits = Limits {
        max_flows: 2,
        ..Limits::default()
    };
    let mut run = Run::new(limits);
    for port in 0..3 {
        let k = keys_of(V1, &DCID);
        let from = format!("192.0.2.7:{}", 50000 + port);
        run.send(
            &from,
            SERVER,
            &packet(V1, 0, &DCID, 0, &crypto(0, b"hi"), &k.client),
            0,
        );
    }
    let (out, stats) = run.finish();
    assert_eq!(out.len(), 2);
    assert_eq!(stats.quic_dropped_flows_cap, 1);
}

#[test]
fn a_table_full_of_finished_connections_makes_room_for_new_ones() {
    let limits = Limits {
        max_flows: 2,
        ..Limits::default()
    };
    let mut run = Run::new(limits);
    run.table_wants_server_bytes(2);
    let k = keys_of(V1, &DCID);
    for port in 0..5 {
        let client = format!("192.0.2.7:{}", 50000 + port);
        run.send(
            &client,
            SERVER,
            &packet(V1, 0, &DCID, 0, &crypto(0, b"ch"), &k.client),
            0,
        );
        run.send(
            SERVER,
            &client,
            &packet(V1, 0, &[1; 4], 0, &crypto(0, b"sh"), &k.server),
            0,
        );
    }
    let (out, stats) = run.finish();
    assert_eq!(out.len(), 5);
    assert_eq!(stats.quic_dropped_flows_cap, 0);
}

#[test]
fn idle_connections_expire_by_packet_time_and_are_summarised() {
    let mut run = Run::new(Limits::default());
    let k = keys_of(V1, &DCID);
    run.send(
        CLIENT,
        SERVER,
        &packet(V1, 0, &DCID, 0, &crypto(0, b"old"), &k.client),
        0,
    );
    let k2 = keys_of(V1, &[7; 8]);
    run.send(
        "192.0.2.8:1",
        SERVER,
        &packet(V1, 0, &[7; 8], 0, &crypto(0, b"new"), &k2.client),
        3600,
    );
    assert_eq!(run.out.len(), 1);
    assert_eq!(run.out[0].bytes[0], b"old");
    assert_eq!(run.table.len(), 1);
    let (out, _) = run.finish();
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].bytes[0], b"new", "the new one, at the end");
}

#[test]
fn a_done_consumer_is_summarised_at_once_and_later_packets_cost_nothing() {
    let k = keys_of(V1, &DCID);
    let mut run = Run::new(Limits::default());
    run.table_wants_server_bytes(2);
    run.send(
        CLIENT,
        SERVER,
        &packet(V1, 0, &DCID, 0, &crypto(0, b"ch"), &k.client),
        0,
    );
    run.send(
        SERVER,
        CLIENT,
        &packet(V1, 0, &[1; 4], 0, &crypto(0, b"sh"), &k.server),
        0,
    );
    assert_eq!(run.out.len(), 1, "summarised when done");
    run.send(
        SERVER,
        CLIENT,
        &packet(V1, 0, &[1; 4], 1, &crypto(2, b"more"), &k.server),
        0,
    );
    assert_eq!(run.table.held(), 0);
    let (out, stats) = run.finish();
    assert_eq!(
        out.len(),
        1,
        "a bypassed connection is not summarised again"
    );
    assert_eq!(out[0].bytes[1], b"sh");
    assert_eq!(stats.quic_initials_decrypted, 3);
}
