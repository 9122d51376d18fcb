//! The flow table: one entry per TCP connection (5-tuple, both directions), holding the two
//! reassembly streams and the TLS state until the handshake is audited; after that the entry
//! is *bypassed*: buffers are freed and later packets cost one lookup.
//!
//! Invariants: at most `Limits::max_flows` entries, of which at most an eighth *active* (their
//! handshake being read: reassembly and TLS state allocated; a bypassed entry is about 100
//! bytes, an active one about 1 KiB more); out-of-order segments and partial TLS
//! records/messages across all connections stay under `Limits::max_buffered_bytes` (one shared
//! `Budget`; a connection whose partial records would exceed it is abandoned); expiry uses
//! packet time only. Everything a cap refuses is counted in `FlowStats`.

use std::net::SocketAddr;

use hashbrown::HashMap;

use super::reassembly::{Budget, Delivery, Stream};
use crate::decode::Segment;
use crate::evidence::Evidence;
use crate::time::Timestamp;
use crate::tls::conn::{ConnSummary, TlsConn};

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_flows: usize,
    pub max_buffered_bytes: usize,
    /// A flow without packets for this long (packet time) is finished and forgotten.
    pub idle_timeout_secs: i64,
    /// Approximate memory the per-service history may hold (`Tracker::max_bytes`).
    pub max_tracker_bytes: usize,
}

impl Default for Limits {
    /// Sized so that a run stays under 256 MiB of memory whatever the input: 262144 table
    /// entries (about 55 MiB with the table's slack), at most 32768 of them active (about
    /// 1 KiB of reassembly and TLS state each, before buffering; measured with the SYN flood of
    /// examples/attacks.rs), everything buffered capped at 64 MiB together, the per-service
    /// history at about 32 MiB. Several attacks at once (scripts/attacks.sh, "combined") peak
    /// at about 230 MiB.
    fn default() -> Self {
        Limits {
            max_flows: 262_144,
            max_buffered_bytes: 64 << 20,
            idle_timeout_secs: 300,
            max_tracker_bytes: crate::tracker::MAX_TRACKER_BYTES,
        }
    }
}

/// Serialized into state files (`#[serde(default)]`: a counter added later reads as 0).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FlowStats {
    pub connections: u64,
    pub tls_connections: u64,
    pub not_tls: u64,
    pub expired: u64,
    pub dropped_flows_cap: u64,
    pub discarded_bytes: u64,
    /// Connections whose handshake parsing was abandoned because the shared buffer budget
    /// could not hold their partial records (their buffered bytes are in `discarded_bytes`).
    pub abandoned_handshakes_cap: u64,
    pub gaps: u64,
    pub resyncs: u64,
    pub retransmitted_bytes: u64,
}

impl FlowStats {
    pub fn merge(&mut self, o: &FlowStats) {
        self.connections += o.connections;
        self.tls_connections += o.tls_connections;
        self.not_tls += o.not_tls;
        self.expired += o.expired;
        self.dropped_flows_cap += o.dropped_flows_cap;
        self.discarded_bytes += o.discarded_bytes;
        self.abandoned_handshakes_cap += o.abandoned_handshakes_cap;
        self.gaps += o.gaps;
        self.resyncs += o.resyncs;
        self.retransmitted_bytes += o.retransmitted_bytes;
    }
}

/// One endpoint in a compact, cheaply hashed form: the IPv6 (or IPv4-mapped) address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Endpoint(u128, u16, bool);

impl Endpoint {
    fn of(a: SocketAddr) -> Self {
        match a {
            SocketAddr::V4(v4) => Endpoint(v4.ip().to_ipv6_mapped().to_bits(), v4.port(), false),
            SocketAddr::V6(v6) => Endpoint(v6.ip().to_bits(), v6.port(), true),
        }
    }
}

/// Canonical 5-tuple (protocol is always TCP): the lower endpoint first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FlowKey(Endpoint, Endpoint);

impl FlowKey {
    fn of(a: SocketAddr, b: SocketAddr) -> Self {
        let (a, b) = (Endpoint::of(a), Endpoint::of(b));
        if a <= b {
            FlowKey(a, b)
        } else {
            FlowKey(b, a)
        }
    }
}

struct Flow {
    /// The last packet seen: its time drives expiry, its place labels bytes flushed at the end.
    last: Evidence,
    /// Reassembly and TLS state while the handshake is read; `None` once bypassed, so a
    /// bypassed flow is only its key and these few bytes.
    active: Option<Box<Active>>,
    /// The first packet seen was sent by the key's lower endpoint: that is direction 0.
    first_is_lo: bool,
    fin: [bool; 2],
    saw_data: bool,
}

struct Active {
    streams: [Stream; 2],
    tls: TlsConn,
    /// Bytes of `tls` buffers (partial records and messages) charged to the shared budget.
    charged: usize,
}

pub struct FlowTable {
    flows: HashMap<FlowKey, Flow>,
    budget: Budget,
    limits: Limits,
    last_sweep: Timestamp,
    pub stats: FlowStats,
    /// `budget.discarded_bytes` already added to `stats.discarded_bytes`.
    synced_discarded: u64,
    /// Entries whose `active` state is allocated.
    active: usize,
}

impl FlowTable {
    pub fn new(limits: Limits) -> Self {
        FlowTable {
            flows: HashMap::new(),
            budget: Budget::new(limits.max_buffered_bytes),
            limits,
            last_sweep: Timestamp::default(),
            stats: FlowStats::default(),
            synced_discarded: 0,
            active: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Takes one segment; pushes the summary of every connection that this completes.
    pub fn push(&mut self, seg: &Segment<'_>, at: Evidence, out: &mut Vec<ConnSummary>) {
        self.maybe_sweep(at.time, out);
        let key = FlowKey::of(seg.src, seg.dst);
        let fresh_syn = seg.flags.syn && !seg.flags.ack;
        if let Some(flow) = self.flows.get(&key) {
            // Port reuse (a new SYN on a used 5-tuple), or idle past the timeout: the old
            // connection ends here. Checked per packet, so the outcome does not depend on when
            // sweeps run (nor on how flows are spread over workers).
            let reused = fresh_syn && (flow.saw_data || flow.active.is_none());
            let idle = at
                .time
                .later_than(flow.last.time, self.limits.idle_timeout_secs);
            if reused || idle {
                let old = self.flows.remove(&key).expect("present");
                self.stats.expired += u64::from(idle);
                self.close(old, out);
            }
        }
        if !self.flows.contains_key(&key) {
            if !seg.flags.syn && seg.payload.is_empty() {
                // A bare ACK, FIN or RST of a connection not (or no longer) tracked: nothing
                // to read, and no entry to spend on it.
                return;
            }
            if self.flows.len() >= self.limits.max_flows || self.active >= self.max_active() {
                self.stats.dropped_flows_cap += 1;
                return;
            }
            self.stats.connections += 1;
            self.active += 1;
            self.flows.insert(key, Flow::new(key, seg.src, seg.dst, at));
        }
        let flow = self.flows.get_mut(&key).expect("inserted");
        flow.last = at;
        let dir = usize::from((Endpoint::of(seg.src) == key.0) != flow.first_is_lo);
        let fin = seg.flags.fin || seg.flags.rst;
        if fin {
            flow.fin[dir] = true;
        }
        let ended = seg.flags.rst || flow.fin.iter().all(|f| *f);
        let Some(active) = flow.active.as_mut() else {
            // Bypassed: only the end of the connection matters, to free its entry.
            if ended {
                self.flows.remove(&key);
            }
            return;
        };
        let Active {
            streams,
            tls,
            charged,
        } = &mut **active;
        if !seg.payload.is_empty() {
            flow.saw_data = true;
        }
        streams[dir].push(
            seg.seq,
            seg.flags.syn,
            fin,
            seg.payload,
            &mut self.budget,
            &mut |d: Delivery<'_>| tls.push(dir, d, at),
        );
        // Partial records and messages count against the same budget as out-of-order data.
        if self.budget.recharge(charged, tls.buffered()) {
            tls.abandon();
            self.budget.discard(charged);
            self.stats.abandoned_handshakes_cap += 1;
        }
        if ended {
            let flow = self.flows.remove(&key).expect("present");
            self.close(flow, out);
        } else if tls.is_done() {
            self.bypass(key, out);
        }
    }

    /// Finishes every flow (end of input).
    pub fn finish_all(&mut self, out: &mut Vec<ConnSummary>) {
        let flows: Vec<Flow> = self.flows.drain().map(|(_, f)| f).collect();
        for flow in flows {
            self.close(flow, out);
        }
    }

    /// The handshake is audited: the summary goes out, buffers are freed, and the entry stays
    /// as a bypassed flow so the connection's remaining packets cost one lookup.
    fn bypass(&mut self, key: FlowKey, out: &mut Vec<ConnSummary>) {
        let flow = self.flows.get_mut(&key).expect("present");
        if Self::finish_flow(&mut self.stats, &mut self.budget, flow, false, out) {
            self.active -= 1;
        }
    }

    fn close(&mut self, mut flow: Flow, out: &mut Vec<ConnSummary>) {
        if Self::finish_flow(&mut self.stats, &mut self.budget, &mut flow, true, out) {
            self.active -= 1;
        }
    }

    /// Connections whose handshake may be read at once: an eighth of the table.
    fn max_active(&self) -> usize {
        (self.limits.max_flows / 8).max(1)
    }

    /// Entries with reassembly and TLS state allocated.
    pub fn active_len(&self) -> usize {
        self.active
    }

    /// Summarises a flow's TLS state; with `flush`, buffered data is handed over first (the
    /// connection will send nothing more). Returns whether the flow was active.
    fn finish_flow(
        stats: &mut FlowStats,
        budget: &mut Budget,
        flow: &mut Flow,
        flush: bool,
        out: &mut Vec<ConnSummary>,
    ) -> bool {
        let Some(active) = flow.active.take() else {
            return false;
        };
        let Active {
            mut streams,
            mut tls,
            mut charged,
        } = *active;
        budget.recharge(&mut charged, 0);
        let at = flow.last;
        for (dir, s) in streams.iter_mut().enumerate() {
            if flush {
                s.flush(budget, &mut |d: Delivery<'_>| tls.push(dir, d, at));
            }
            Self::account(stats, s);
            s.release(budget);
        }
        Self::summarise(stats, tls, out);
        true
    }

    fn account(stats: &mut FlowStats, s: &Stream) {
        stats.gaps += s.gaps;
        stats.retransmitted_bytes += s.retransmitted_bytes;
    }

    fn summarise(stats: &mut FlowStats, tls: TlsConn, out: &mut Vec<ConnSummary>) {
        stats.resyncs += tls.resyncs();
        if tls.is_not_tls() {
            stats.not_tls += 1;
        }
        if let Some(summary) = tls.finish() {
            stats.tls_connections += 1;
            out.push(summary);
        }
    }

    fn maybe_sweep(&mut self, now: Timestamp, out: &mut Vec<ConnSummary>) {
        let interval = self.limits.idle_timeout_secs / 4;
        if !now.later_than(self.last_sweep, interval.max(1) - 1) {
            return;
        }
        self.last_sweep = now;
        let timeout = self.limits.idle_timeout_secs;
        let idle: Vec<FlowKey> = self
            .flows
            .iter()
            .filter(|(_, f)| now.later_than(f.last.time, timeout))
            .map(|(k, _)| *k)
            .collect();
        // Closing an idle flow early is the same as closing it at the end of input, so sweeps
        // are not counted: `expired` counts flows that came back after their timeout.
        for key in idle {
            let flow = self.flows.remove(&key).expect("present");
            self.close(flow, out);
        }
        self.sync_stats();
    }

    /// Bytes currently charged to the shared buffer budget.
    pub fn buffered_bytes(&self) -> usize {
        self.budget.used
    }

    /// Adds the budget's new discards to the stats (call before reporting). Adds rather than
    /// copies: the stats may hold other tables' counters merged in (one per worker).
    pub fn sync_stats(&mut self) {
        self.stats.discarded_bytes += self.budget.discarded_bytes - self.synced_discarded;
        self.synced_discarded = self.budget.discarded_bytes;
    }
}

impl Flow {
    fn new(key: FlowKey, first: SocketAddr, other: SocketAddr, at: Evidence) -> Self {
        Flow {
            last: at,
            active: Some(Box::new(Active {
                streams: [Stream::new(), Stream::new()],
                tls: TlsConn::new(first, other),
                charged: 0,
            })),
            first_is_lo: Endpoint::of(first) == key.0,
            fin: [false; 2],
            saw_data: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpFlags;

    fn seg(i: u32, payload: &[u8]) -> Segment<'_> {
        Segment {
            src: SocketAddr::new([198, 51, (i >> 8) as u8, i as u8].into(), 40000),
            dst: "192.0.2.1:443".parse().unwrap(),
            seq: 1000,
            flags: TcpFlags {
                ack: true,
                ..TcpFlags::default()
            },
            payload,
            truncated: false,
        }
    }

    #[test]
    fn stalled_partial_records_are_bounded_by_the_buffer_budget_and_counted() {
        let limit = 1 << 20;
        let mut table = FlowTable::new(Limits {
            max_buffered_bytes: limit,
            ..Limits::default()
        });
        // A record header announcing 16 KB, a ClientHello header, 4000 bytes, then nothing.
        let mut stalled = vec![22, 3, 1, 0x40, 0x00, 1, 0, 0x3f, 0xfc];
        stalled.extend([0x41; 4000]);
        let mut out = Vec::new();
        for i in 0..1000 {
            table.push(&seg(i, &stalled), Evidence::default(), &mut out);
            assert!(table.buffered_bytes() <= limit);
        }
        assert_eq!(table.len(), 1000);
        let abandoned = table.stats.abandoned_handshakes_cap;
        assert!((700..1000).contains(&abandoned), "{abandoned}");
        table.sync_stats();
        assert!(table.stats.discarded_bytes >= abandoned * 4000);
        table.finish_all(&mut out);
        assert_eq!(table.buffered_bytes(), 0);
    }

    #[test]
    fn a_bypassed_flow_costs_at_most_256_bytes_of_table_entry() {
        let entry = std::mem::size_of::<FlowKey>() + std::mem::size_of::<Flow>();
        eprintln!(
            "flow table entry: {entry} bytes (key {}, flow {}, stream {})",
            std::mem::size_of::<FlowKey>(),
            std::mem::size_of::<Flow>(),
            std::mem::size_of::<Stream>()
        );
        assert!(entry <= 256, "{entry}");
    }

    #[test]
    fn syncing_stats_keeps_counters_merged_from_other_tables() {
        let mut table = FlowTable::new(Limits::default());
        table.budget.discarded_bytes = 10;
        table.sync_stats();
        let other = FlowStats {
            discarded_bytes: 500,
            ..FlowStats::default()
        };
        table.stats.merge(&other);
        table.sync_stats();
        assert_eq!(table.stats.discarded_bytes, 510);
        table.budget.discarded_bytes = 15;
        table.sync_stats();
        assert_eq!(table.stats.discarded_bytes, 515);
    }

    #[test]
    fn at_most_an_eighth_of_the_table_is_active_and_bypassed_flows_do_not_count() {
        let mut table = FlowTable::new(Limits {
            max_flows: 800,
            ..Limits::default()
        });
        let mut out = Vec::new();
        // 150 SYNs: at most 100 get reassembly and TLS state; the rest are refused, counted.
        for i in 0..150 {
            let mut s = seg(i, b"");
            s.flags.syn = true;
            s.flags.ack = false;
            table.push(&s, Evidence::default(), &mut out);
        }
        assert_eq!(table.active_len(), 100);
        assert_eq!(table.stats.dropped_flows_cap, 50);
        // Both sides speak something other than TLS: the flows are bypassed, which frees them
        // as active ones; new connections are taken again.
        for i in 0..100 {
            table.push(
                &seg(i, b"GET / HTTP/1.1\r\n\r\n"),
                Evidence::default(),
                &mut out,
            );
            let mut answer = seg(i, b"HTTP/1.1 200 OK\r\n\r\n");
            std::mem::swap(&mut answer.src, &mut answer.dst);
            table.push(&answer, Evidence::default(), &mut out);
        }
        assert_eq!(table.active_len(), 0);
        assert_eq!(table.len(), 100);
        for i in 1000..1100 {
            let mut s = seg(i, b"");
            s.flags.syn = true;
            s.flags.ack = false;
            table.push(&s, Evidence::default(), &mut out);
        }
        assert_eq!(table.active_len(), 100);
        assert_eq!(table.len(), 200);
        table.finish_all(&mut out);
        assert_eq!(table.active_len(), 0);
    }
}
