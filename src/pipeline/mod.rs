//! The one place that wires the stages, in order: packets → `decode::Decoder` → flow hash →
//! `transport::tcp::FlowTable` (reassembly) → `session::TlsSession` (the TCP/TLS glue), or
//! UDP datagrams → `transport::quic::QuicTable` (Initials, CRYPTO streams) →
//! `quic::QuicSession` (the QUIC/TLS glue) → the same `tls` summaries → `tracker`, all counted
//! in one `Stats` and kept in a `History`. Every runtime (single thread, sharded, live) drives
//! this type and only this type.
//!
//! The flow hash is computed once per segment, here or by the sharded runtime's reader (which
//! also uses it to pick the worker), and carried to the flow table with the segment.

pub mod quic;
pub mod session;

use std::hash::BuildHasher;
use std::sync::Arc;

use crate::capture::Packet;
use crate::decode::{Datagram, DecodeOptions, Decoded, Decoder, FlowKey, Segment, Udp};
use crate::evidence::Evidence;
use crate::report::log::ConnLog;
use crate::time::Timestamp;
use crate::tls::conn::ConnSummary;
use crate::tracker::{ConnRecord, History, MAX_TRACKER_BYTES};
use crate::transport::quic::{self as quic_transport, QuicTable};
use crate::transport::tcp::{self, FlowTable};
use quic::QuicSession;
use session::TlsSession;

/// Every cap of the pipeline's stages.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// TCP connections tracked at once.
    pub max_flows: usize,
    /// Out-of-order segments and partial TLS records across all connections.
    pub max_buffered_bytes: usize,
    /// A flow without packets for this long (packet time) is finished and forgotten.
    pub idle_timeout_secs: i64,
    /// ... and one without handshake progress after this long.
    pub handshake_timeout_secs: i64,
    /// Approximate memory the per-service history may hold (`Tracker::max_bytes`).
    pub max_tracker_bytes: usize,
    /// What the decode stage is told (the UDP ports of VXLAN).
    pub decode: DecodeOptions,
    /// The QUIC connection table's caps.
    pub quic: quic_transport::Limits,
}

impl Default for Limits {
    /// See `transport::tcp::Limits` and `tracker::MAX_TRACKER_BYTES`: together, a run stays
    /// under 256 MiB whatever the input.
    fn default() -> Self {
        let tcp = tcp::Limits::default();
        Limits {
            max_flows: tcp.max_flows,
            max_buffered_bytes: tcp.max_buffered_bytes,
            idle_timeout_secs: tcp.idle_timeout_secs,
            handshake_timeout_secs: tcp.handshake_timeout_secs,
            max_tracker_bytes: MAX_TRACKER_BYTES,
            decode: DecodeOptions::default(),
            quic: quic_transport::Limits::default(),
        }
    }
}

impl Limits {
    fn tcp(&self) -> tcp::Limits {
        tcp::Limits {
            max_flows: self.max_flows,
            max_buffered_bytes: self.max_buffered_bytes,
            idle_timeout_secs: self.idle_timeout_secs,
            handshake_timeout_secs: self.handshake_timeout_secs,
        }
    }
}

/// The flow hash: one seeded hasher per run, cloned into every worker so that all agree.
#[derive(Clone, Default)]
pub struct FlowHasher(hashbrown::DefaultHashBuilder);

impl FlowHasher {
    pub fn hash(&self, seg: &Segment<'_>) -> u64 {
        self.0.hash_one(FlowKey::of(seg.src, seg.dst).0)
    }

    /// The same for a UDP datagram: both directions of a QUIC connection hash alike.
    pub fn hash_udp(&self, d: &Udp<'_>) -> u64 {
        self.0.hash_one(FlowKey::of(d.src, d.dst).0)
    }
}

pub struct Pipeline {
    decoder: Decoder,
    flows: FlowTable<TlsSession>,
    quic: QuicTable<QuicSession>,
    hasher: FlowHasher,
    history: History,
    /// Index of the current input in `history.files`.
    file: u32,
    /// Time of the last packet, and how far back a packet may go before it counts as a jump.
    last_time: Option<Timestamp>,
    idle_timeout_secs: i64,
    done: Vec<ConnSummary>,
    /// Where each connection's record is also written (`--log`), shared by a run's pipelines.
    log: Option<Arc<ConnLog>>,
    /// A live worker's records, held for the sensor's one tracker instead of this one's.
    outbox: Option<Vec<ConnRecord>>,
}

impl Pipeline {
    pub fn new(limits: Limits) -> Self {
        Self::with_hasher(limits, FlowHasher::default())
    }

    /// A pipeline whose flow hashes agree with `hasher`'s (a sharded run's workers).
    pub fn with_hasher(limits: Limits, hasher: FlowHasher) -> Self {
        Pipeline {
            decoder: Decoder::with_options(limits.decode),
            flows: FlowTable::new(limits.tcp()),
            quic: QuicTable::new(limits.quic),
            hasher,
            history: History::new(limits.max_tracker_bytes),
            file: 0,
            last_time: None,
            idle_timeout_secs: limits.idle_timeout_secs,
            done: Vec::new(),
            log: None,
            outbox: None,
        }
    }

    /// From now on, connection records wait for `take_records` instead of reaching this
    /// pipeline's tracker (a worker of `live -j`, whose records the sensor's tracker observes).
    pub fn hold_records(mut self) -> Self {
        self.outbox = Some(Vec::new());
        self
    }

    /// Records held (see `hold_records`).
    pub fn held_records(&self) -> usize {
        self.outbox.as_ref().map_or(0, Vec::len)
    }

    /// The records held since the last call (see `hold_records`).
    pub fn take_records(&mut self) -> Vec<ConnRecord> {
        self.outbox.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Packets from now on are evidence in input `file` of a history kept elsewhere (the
    /// sensor's, which named the input).
    pub fn continue_input(&mut self, file: u32) {
        self.file = file;
        self.last_time = None;
    }

    /// Also writes every connection's record to `log`.
    pub fn with_log(mut self, log: Option<Arc<ConnLog>>) -> Self {
        self.log = log;
        self
    }

    pub fn hasher(&self) -> &FlowHasher {
        &self.hasher
    }

    /// What has been observed so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    pub fn history_mut(&mut self) -> &mut History {
        &mut self.history
    }

    pub fn into_history(self) -> History {
        self.history
    }

    /// Connections in the flow table (open or bypassed).
    pub fn open_flows(&self) -> usize {
        self.flows.len()
    }

    /// From now on, remembers the connections the flow table bypasses (read, still open, not
    /// tunnelled) until `take_bypassed`: a live runtime can then drop their packets earlier.
    pub fn track_bypassed(&mut self) {
        self.flows.track_bypassed();
    }

    /// The connections bypassed since the last call (see `track_bypassed`), both endpoints.
    pub fn take_bypassed(&mut self) -> tcp::table::Bypassed {
        self.flows.take_bypassed()
    }

    /// QUIC connections in their table (open or bypassed).
    pub fn open_quic_connections(&self) -> usize {
        self.quic.len()
    }

    /// Announces the input whose packets come next.
    pub fn begin_input(&mut self, name: &str) {
        self.file = self.history.files.len() as u32;
        self.history.files.push(name.to_string());
        if let Some(log) = &self.log {
            log.input(self.file, name);
        }
        // Inputs may come in any order: only a jump inside one counts.
        self.last_time = None;
    }

    /// The whole chain for one packet.
    pub fn push_packet(&mut self, pkt: &Packet<'_>) {
        match self.decode(pkt) {
            Some((Decoded::Segment(seg), at)) => {
                let hash = self.hasher.hash(&seg);
                self.push_segment(&seg, hash, at);
            }
            Some((Decoded::Datagram(d), at)) => self.push_datagram(&d, at),
            Some((Decoded::Udp(d), at)) => self.push_udp(&d, at),
            None => {}
        }
    }

    /// The decode stage alone (a sharded run's reader): the packet counted, widened into the
    /// observed span, and decoded; `Evidence` says where it was seen.
    pub fn decode<'a>(&mut self, pkt: &Packet<'a>) -> Option<(Decoded<'a>, Evidence)> {
        self.history.saw(pkt.time);
        if self
            .last_time
            .is_some_and(|t| t.later_than(pkt.time, self.idle_timeout_secs))
        {
            self.history.stats.clock_jumps += 1;
        }
        self.last_time = Some(pkt.time);
        let at = Evidence {
            time: pkt.time,
            file: self.file,
            frame: pkt.frame,
        };
        let d = self.decoder.push(pkt, &mut self.history.stats)?;
        Some((d, at))
    }

    /// The stages after decode for a datagram reassembled from IPv4 fragments.
    pub fn push_datagram(&mut self, d: &Datagram, at: Evidence) {
        if let Some(seg) = d.segment(&mut self.history.stats) {
            let hash = self.hasher.hash(&seg);
            self.push_segment(&seg, hash, at);
        }
    }

    /// The stages after decode for one segment whose flow hash is `hash`.
    pub fn push_segment(&mut self, seg: &Segment<'_>, hash: u64, at: Evidence) {
        let stats = &mut self.history.stats;
        self.flows.push(seg, hash, at, stats, &mut self.done);
        self.drain();
    }

    /// The stages after decode for a UDP datagram that may be QUIC.
    pub fn push_udp(&mut self, d: &Udp<'_>, at: Evidence) {
        let stats = &mut self.history.stats;
        self.quic.push(d, at, stats, &mut self.done);
        self.drain();
    }

    /// Ends the input: every open connection is summarised.
    pub fn finish(&mut self) {
        self.flows
            .finish_all(&mut self.history.stats, &mut self.done);
        self.quic
            .finish_all(&mut self.history.stats, &mut self.done);
        self.drain();
    }

    fn drain(&mut self) {
        for c in self.done.drain(..) {
            let rec = ConnRecord::of(&c);
            if let Some(log) = &self.log {
                log.conn(&rec);
            }
            match &mut self.outbox {
                Some(out) => out.push(rec),
                None => self.history.tracker.observe_record(&rec),
            }
        }
    }
}
