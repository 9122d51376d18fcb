//! The one place that wires the stages: packets → decode → flow table (reassembly, TLS) →
//! tracker. Files and live capture both feed `Pipeline::push_packet`.

use crate::capture::Packet;
use crate::decode::defrag::Defrag;
use crate::decode::{self, Segment, Skip};
use crate::evidence::Evidence;
use crate::flow::{FlowTable, Limits};
use crate::time::Timestamp;
use crate::tls::conn::ConnSummary;
use crate::tracker::Tracker;

/// Counters of the decode and TLS stages. Serialized into state files (`#[serde(default)]`: a
/// counter added later reads as 0 from older files).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PacketStats {
    pub packets: u64,
    pub bytes: u64,
    pub tcp_segments: u64,
    pub not_tcp: u64,
    pub ip_fragments: u64,
    pub malformed: u64,
    pub unsupported_link_type: u64,
    pub truncated_packets: u64,
    pub handshake_messages: u64,
    pub parse_failures: u64,
    /// Connections whose parsing stopped at `MAX_HANDSHAKE_MESSAGES`.
    pub handshake_messages_cap: u64,
}

impl PacketStats {
    pub fn merge(&mut self, o: &PacketStats) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.tcp_segments += o.tcp_segments;
        self.not_tcp += o.not_tcp;
        self.ip_fragments += o.ip_fragments;
        self.malformed += o.malformed;
        self.unsupported_link_type += o.unsupported_link_type;
        self.truncated_packets += o.truncated_packets;
        self.handshake_messages += o.handshake_messages;
        self.parse_failures += o.parse_failures;
        self.handshake_messages_cap += o.handshake_messages_cap;
    }
}

/// What the decode stage made of one packet.
pub enum Decoded<'a> {
    /// A segment borrowed from the packet.
    Segment(Segment<'a>, Evidence),
    /// The last fragment of an IPv4 datagram arrived: the whole datagram, owned, so it lives
    /// only as long as its consumer needs it (`Pipeline::push_datagram` takes it).
    Datagram(Vec<u8>, Evidence),
}

pub struct Pipeline {
    pub flows: FlowTable,
    pub defrag: Defrag,
    pub tracker: Tracker,
    pub stats: PacketStats,
    /// Names of the inputs, indexed by `Evidence::file`.
    pub files: Vec<String>,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    file: u32,
    done: Vec<ConnSummary>,
}

impl Pipeline {
    pub fn new(limits: Limits) -> Self {
        Pipeline {
            flows: FlowTable::new(limits),
            defrag: Defrag::new(),
            tracker: Tracker::with_max_bytes(limits.max_tracker_bytes),
            stats: PacketStats::default(),
            files: Vec::new(),
            start: None,
            end: None,
            file: 0,
            done: Vec::new(),
        }
    }

    /// Announces the input whose packets come next.
    pub fn begin_input(&mut self, name: &str) {
        self.file = self.files.len() as u32;
        self.files.push(name.to_string());
    }

    pub fn push_packet(&mut self, pkt: &Packet<'_>) {
        match self.decode(pkt) {
            Some(Decoded::Segment(seg, at)) => self.push_segment(&seg, at),
            Some(Decoded::Datagram(data, at)) => self.push_datagram(&data, at),
            None => {}
        }
    }

    /// The decode stage: counts the packet and turns it into a TCP segment (or, for the last
    /// fragment of an IPv4 datagram, the whole datagram), or counts why not.
    pub fn decode<'a>(&mut self, pkt: &Packet<'a>) -> Option<Decoded<'a>> {
        self.stats.packets += 1;
        self.stats.bytes += pkt.data.len() as u64;
        self.start = Some(self.start.map_or(pkt.time, |s| s.min(pkt.time)));
        self.end = Some(self.end.map_or(pkt.time, |e| e.max(pkt.time)));
        let at = Evidence {
            time: pkt.time,
            file: self.file,
            frame: pkt.frame,
        };
        let s = &mut self.stats;
        match decode::decode(pkt) {
            Ok(seg) => {
                s.tcp_segments += 1;
                s.truncated_packets += u64::from(seg.truncated);
                Some(Decoded::Segment(seg, at))
            }
            Err(Skip::IpFragment) => {
                s.ip_fragments += 1;
                let whole = decode::ipv4_fragment(pkt).and_then(|f| self.defrag.push(&f, pkt.time));
                whole.map(|d| Decoded::Datagram(d, at))
            }
            Err(skip) => {
                match skip {
                    Skip::NotTcp | Skip::IpFragment => s.not_tcp += 1,
                    Skip::Malformed => s.malformed += 1,
                    Skip::UnsupportedLinkType => s.unsupported_link_type += 1,
                }
                None
            }
        }
    }

    /// The connection stage for a datagram reassembled from IPv4 fragments.
    pub fn push_datagram(&mut self, datagram: &[u8], at: Evidence) {
        match decode::decode_ip(datagram) {
            Ok(seg) => {
                self.stats.tcp_segments += 1;
                self.push_segment(&seg, at);
            }
            Err(_) => self.stats.not_tcp += 1,
        }
    }

    /// The connection stage: flow table, reassembly, TLS, tracker.
    pub fn push_segment(&mut self, seg: &Segment<'_>, at: Evidence) {
        self.flows.push(seg, at, &mut self.done);
        self.drain();
    }

    /// Adds a worker's results (its connections, tracker and counters) to this pipeline.
    pub fn merge(&mut self, other: Pipeline) {
        self.tracker.merge(other.tracker);
        self.defrag.reassembled += other.defrag.reassembled;
        self.defrag.dropped += other.defrag.dropped;
        self.flows.stats.merge(&other.flows.stats);
        self.stats.merge(&other.stats);
        self.start = [self.start, other.start].into_iter().flatten().min();
        self.end = [self.end, other.end].into_iter().flatten().max();
    }

    /// Ends the input: every open connection is summarised.
    pub fn finish(&mut self) {
        self.flows.finish_all(&mut self.done);
        self.flows.sync_stats();
        self.drain();
    }

    fn drain(&mut self) {
        for c in self.done.drain(..) {
            self.stats.handshake_messages += c.handshake_messages as u64;
            self.stats.parse_failures += c.parse_errors as u64;
            self.stats.handshake_messages_cap += u64::from(c.message_cap_hit());
            self.tracker.observe(&c);
        }
    }
}
