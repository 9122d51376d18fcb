//! The flow table with a stand-in consumer: caps, bypass, one-sided flows, budget accounting.

use super::*;
use crate::decode::{Endpoint, TcpFlags};

/// A consumer that holds every byte it is given, except that a direction whose bytes do not
/// start like a TLS handshake record is "not for it" and stops wanting bytes (as TLS does).
#[derive(Default)]
struct Holder {
    held: usize,
    done: [bool; 2],
    /// Set by bytes starting `16 DONE`: a complete message, in effect.
    progressed: bool,
}

impl Consumer for Holder {
    type Summary = usize;

    fn open(_: SocketAddr, _: SocketAddr, _: Option<crate::decode::Tunnel>) -> Self {
        Holder::default()
    }

    fn push(&mut self, dir: usize, chunk: Chunk<'_>, _: Evidence) {
        if let Chunk::Data(b) = chunk {
            self.progressed |= b.starts_with(b"\x16DONE");
            if b.first() != Some(&22) {
                self.done[dir] = true;
            } else if !self.done[dir] {
                self.held += b.len();
            }
        }
    }

    fn held(&self) -> usize {
        self.held
    }

    fn abandon(&mut self) {
        self.held = 0;
        self.done = [true; 2];
    }

    fn wants(&self, dir: usize) -> bool {
        !self.done[dir]
    }

    fn progressed(&self) -> bool {
        self.progressed
    }

    fn finish(self, _: &mut Stats) -> Option<usize> {
        Some(self.held)
    }
}

fn seg(i: u32, payload: &[u8]) -> Segment<'_> {
    let src: SocketAddr = SocketAddr::new([198, 51, (i >> 8) as u8, i as u8].into(), 40000);
    Segment {
        src: Endpoint::of(src),
        dst: Endpoint::of("192.0.2.1:443".parse().unwrap()),
        seq: 1000,
        flags: TcpFlags {
            ack: true,
            ..TcpFlags::default()
        },
        payload,
        truncated: false,
        missing: 0,
    }
}

/// Pushes a segment with a hash that depends only on its flow (as callers must).
fn push(t: &mut FlowTable<Holder>, s: &Segment<'_>, stats: &mut Stats, out: &mut Vec<usize>) {
    use std::hash::BuildHasher;
    let (key, _) = FlowKey::of(s.src, s.dst);
    let fixed = std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default();
    t.push(s, fixed.hash_one(key), Evidence::default(), stats, out);
}

#[test]
fn stalled_partial_records_are_bounded_by_the_buffer_budget_the_oldest_evicted_first() {
    let limit = 1 << 20;
    let mut table = FlowTable::<Holder>::new(Limits {
        max_buffered_bytes: limit,
        ..Limits::default()
    });
    let mut stats = Stats::default();
    // A record header announcing 16 KB, a ClientHello header, 4000 bytes, then nothing.
    let mut stalled = vec![22, 3, 1, 0x40, 0x00, 1, 0, 0x3f, 0xfc];
    stalled.extend([0x41; 4000]);
    let mut out = Vec::new();
    for i in 0..1000 {
        push(&mut table, &seg(i, &stalled), &mut stats, &mut out);
        assert!(table.buffered_bytes() <= limit);
    }
    // Older stalled connections made room for newer ones; none had to be abandoned.
    let evicted = stats.evicted_flows;
    assert!((700..1000).contains(&evicted), "{evicted}");
    assert_eq!(stats.abandoned_handshakes_cap, 0);
    assert_eq!(table.len() as u64, 1000 - evicted);
    table.finish_all(&mut stats, &mut out);
    assert_eq!(table.buffered_bytes(), 0);
}

#[test]
fn a_bypassed_flow_costs_at_most_256_bytes_of_table_entry() {
    let entry = std::mem::size_of::<Flow<Holder>>();
    eprintln!(
        "flow table entry: {entry} bytes (key {}, stream {})",
        std::mem::size_of::<FlowKey>(),
        std::mem::size_of::<Stream>()
    );
    assert!(entry <= 256, "{entry}");
}

#[test]
fn syncing_stats_keeps_counters_merged_from_other_tables() {
    let mut table = FlowTable::<Holder>::new(Limits::default());
    let mut stats = Stats::default();
    table.budget.discarded_bytes = 10;
    table.sync_stats(&mut stats);
    let other = Stats {
        discarded_bytes_cap: 500,
        ..Stats::default()
    };
    stats.merge(&other);
    table.sync_stats(&mut stats);
    assert_eq!(stats.discarded_bytes_cap, 510);
    table.budget.discarded_bytes = 15;
    table.sync_stats(&mut stats);
    assert_eq!(stats.discarded_bytes_cap, 515);
}

#[test]
fn at_most_an_eighth_of_the_table_is_active_and_bypassed_flows_do_not_count() {
    let mut table = FlowTable::<Holder>::new(Limits {
        max_flows: 800,
        ..Limits::default()
    });
    let mut stats = Stats::default();
    let mut out = Vec::new();
    // 150 SYNs: at most 100 get reassembly and consumer state; the oldest 50 make room for
    // the newest, counted.
    for i in 0..150 {
        let mut s = seg(i, b"");
        s.flags.syn = true;
        s.flags.ack = false;
        push(&mut table, &s, &mut stats, &mut out);
    }
    assert_eq!(table.active_len(), 100);
    assert_eq!(stats.evicted_flows, 50);
    assert_eq!(stats.dropped_flows_cap, 0);
    // Both sides speak something the consumer does not want: the flows are bypassed, which
    // frees them as active ones; new connections are taken again.
    for i in 50..150 {
        push(
            &mut table,
            &seg(i, b"GET / HTTP/1.1\r\n\r\n"),
            &mut stats,
            &mut out,
        );
        let mut answer = seg(i, b"HTTP/1.1 200 OK\r\n\r\n");
        std::mem::swap(&mut answer.src, &mut answer.dst);
        push(&mut table, &answer, &mut stats, &mut out);
    }
    assert_eq!(table.active_len(), 0);
    assert_eq!(table.len(), 100);
    for i in 1000..1100 {
        let mut s = seg(i, b"");
        s.flags.syn = true;
        s.flags.ack = false;
        push(&mut table, &s, &mut stats, &mut out);
    }
    assert_eq!(table.active_len(), 100);
    assert_eq!(table.len(), 200);
    table.finish_all(&mut stats, &mut out);
    assert_eq!(table.active_len(), 0);
}

#[test]
fn a_one_sided_connection_is_bypassed_once_its_sender_is_read() {
    let mut table = FlowTable::<Holder>::new(Limits::default());
    let mut stats = Stats::default();
    let mut out = Vec::new();
    // Only the client is on the wire: once its direction wants nothing more and it has sent
    // more than a first flight, the flow is read, though the other direction never said a
    // word.
    let mut s = seg(1, b"GET / HTTP/1.1\r\n\r\n");
    push(&mut table, &s, &mut stats, &mut out);
    assert_eq!(table.active_len(), 1);
    let bulk = vec![0x17; 1400];
    let mut sent = 18;
    while table.active_len() == 1 {
        s = seg(1, &bulk);
        s.seq = 1000 + sent;
        push(&mut table, &s, &mut stats, &mut out);
        sent += 1400;
    }
    assert!(u64::from(sent) > ONE_SIDED_AFTER_BYTES);
    assert!(u64::from(sent) < ONE_SIDED_AFTER_BYTES + 1500);
    assert_eq!(out.len(), 1);
    // Two-sided: the answer is awaited while the server was heard from (its SYN/ACK).
    let mut synack = seg(2, b"");
    std::mem::swap(&mut synack.src, &mut synack.dst);
    synack.flags.syn = true;
    push(&mut table, &synack, &mut stats, &mut out);
    push(
        &mut table,
        &seg(2, b"GET / HTTP/1.1\r\n\r\n"),
        &mut stats,
        &mut out,
    );
    assert_eq!(table.active_len(), 1);
}

#[test]
fn connections_that_progressed_are_never_evicted_and_new_ones_are_refused_instead() {
    let mut table = FlowTable::<Holder>::new(Limits {
        max_flows: 80,
        ..Limits::default()
    });
    let mut stats = Stats::default();
    let mut out = Vec::new();
    for i in 0..10 {
        push(&mut table, &seg(i, b"\x16DONE"), &mut stats, &mut out);
    }
    assert_eq!(table.active_len(), 10);
    push(&mut table, &seg(99, b"\x16DONE"), &mut stats, &mut out);
    assert_eq!(stats.evicted_flows, 0);
    assert_eq!(stats.dropped_flows_cap, 1);
}

#[test]
fn connections_without_progress_expire_after_the_handshake_timeout() {
    let mut table = FlowTable::<Holder>::new(Limits::default());
    let mut stats = Stats::default();
    let mut out = Vec::new();
    let t = |s: i64| Evidence {
        time: crate::time::Timestamp::from_parts(1_800_000_000 + s, 0),
        ..Evidence::default()
    };
    use std::hash::BuildHasher;
    let fixed = std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default();
    let mut at = |table: &mut FlowTable<Holder>, s: &Segment<'_>, secs, stats: &mut Stats| {
        let hash = fixed.hash_one(FlowKey::of(s.src, s.dst).0);
        table.push(s, hash, t(secs), stats, &mut out);
    };
    let mut syn = seg(1, b"");
    syn.flags.syn = true;
    at(&mut table, &syn, 0, &mut stats);
    at(&mut table, &seg(2, b"\x16DONE"), 0, &mut stats);
    at(&mut table, &seg(3, b"\x16 stalled"), 0, &mut stats);
    assert_eq!(table.active_len(), 3);
    at(&mut table, &seg(4, b"\x16DONE"), 31, &mut stats);
    // The SYN-only and the stalled connection are gone; the one that progressed stays.
    assert_eq!(table.active_len(), 2);
    assert_eq!(table.len(), 2);
}

#[test]
fn a_packet_stamped_decades_ahead_neither_stalls_expiry_nor_refuses_later_connections() {
    let mut table = FlowTable::<Holder>::new(Limits {
        max_flows: 80,
        ..Limits::default()
    });
    let mut stats = Stats::default();
    let mut out = Vec::new();
    use std::hash::BuildHasher;
    let fixed = std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default();
    let mut at = |table: &mut FlowTable<Holder>, s: &Segment<'_>, secs: i64, stats: &mut Stats| {
        let hash = fixed.hash_one(FlowKey::of(s.src, s.dst).0);
        let ev = Evidence {
            time: crate::time::Timestamp::from_parts(secs, 0),
            ..Evidence::default()
        };
        table.push(s, hash, ev, stats, &mut out);
    };
    // One packet in 2106, then connections in 2026, each past the idle timeout of the last:
    // only expiry makes room for them (they progressed, so none is evicted).
    at(
        &mut table,
        &seg(9999, b"\x16DONE"),
        4_300_000_000,
        &mut stats,
    );
    for i in 0..40 {
        at(
            &mut table,
            &seg(i, b"\x16DONE"),
            1_800_000_000 + 400 * i64::from(i),
            &mut stats,
        );
    }
    assert_eq!(stats.dropped_flows_cap, 0);
    assert!(table.active_len() <= 2, "{}", table.active_len());
}

#[test]
fn bypassed_connections_are_reported_once_to_a_caller_that_asked_and_ended_ones_never() {
    let mut table = FlowTable::<Holder>::new(Limits::default());
    let mut stats = Stats::default();
    let mut out = Vec::new();
    // Not asked: a connection read to the end of what the consumer wants is not remembered.
    let answer = |i| {
        let mut s = seg(i, b"HTTP/1.1 200 OK\r\n");
        std::mem::swap(&mut s.src, &mut s.dst);
        s
    };
    push(&mut table, &seg(1, b"GET /"), &mut stats, &mut out);
    push(&mut table, &answer(1), &mut stats, &mut out);
    assert_eq!(out.len(), 1);
    assert!(table.take_bypassed().keys.is_empty());
    table.track_bypassed();
    // Read while open: reported, with both endpoints, once.
    push(&mut table, &seg(2, b"GET /"), &mut stats, &mut out);
    push(&mut table, &answer(2), &mut stats, &mut out);
    // Ended by a RST before it was read: finished, not bypassed, so not reported.
    push(&mut table, &seg(3, b"\x16DONE"), &mut stats, &mut out);
    let mut rst = answer(3);
    rst.payload = b"";
    rst.flags.rst = true;
    push(&mut table, &rst, &mut stats, &mut out);
    assert_eq!(out.len(), 3);
    let b = table.take_bypassed();
    let s2 = seg(2, b"");
    assert_eq!(b.keys, vec![FlowKey::of(s2.src, s2.dst).0]);
    assert_eq!(
        (
            b.keys[0].lo.socket_addr().to_string(),
            b.keys[0].hi.socket_addr().to_string()
        ),
        ("192.0.2.1:443".to_string(), "198.51.0.2:40000".to_string())
    );
    assert_eq!(b.overflow, 0);
    // Its later packets change nothing; the next take is empty.
    push(&mut table, &seg(2, b"more"), &mut stats, &mut out);
    assert!(table.take_bypassed().keys.is_empty());
}
