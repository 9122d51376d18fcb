//! The capture workers of `live -j N` (cargo feature "live"): one thread per ring of a fanout
//! group (`capture::fanout`), each with its own pipeline (decode, flow table, TLS), feeding
//! the sensor's one tracker. A worker holds its connection records (`Pipeline::hold_records`)
//! and sends them, with a snapshot of its counters, to the sensor every `SEND_EVERY` or
//! `MAX_HELD` records; the sensor observes them, so evaluation, checkpoints and the report
//! see one history, the same for every N.
//!
//! With the steering program (`capture::ebpf::steer`), the kernel puts every packet in the
//! ring of its innermost connection, tunnelled or not; a worker hands on only what the
//! program could not follow (its placement is mirrored: `LiveSource::steering`). Without it,
//! the kernel keeps both directions of a plain connection in one ring, but hashes a
//! tunnelled packet by its outer headers (a VXLAN or Geneve sender picks its UDP source port
//! per flow and per direction; MPLS labels differ per direction). Such packets, once decoded,
//! go on to the worker their inner flow's hash names, owned, over a bounded channel. Their
//! order against the other direction is then the rings' timing (blocks are handed over up to
//! 1 ms apart): a ServerHello read before its ClientHello loses that resumption. What
//! still cannot meet: a connection whose packets are partly IPv6 fragments (the kernel
//! reassembles IPv4 fragments only); such a connection's handshake may be split between two
//! workers and counted as incomplete.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError};

use crate::capture::live::{
    BypassReader, BypassStats, LiveError, LiveSource, LiveStats, READ_TIMEOUT_MS,
};
use crate::capture::Packet;
use crate::decode::{Datagram, Decoded, Endpoint, Segment, TcpFlags, Udp};
use crate::evidence::Evidence;
use crate::pipeline::{FlowHasher, Limits, Pipeline};
use crate::stats::Stats;
use crate::time::Timestamp;
use crate::tracker::{ConnRecord, History};

/// A worker reports at least this often while it has news...
const SEND_EVERY: Duration = Duration::from_millis(100);
/// ... or once it holds this many records.
const MAX_HELD: usize = 256;
/// Reports in flight to the sensor: a worker waits when the sensor falls behind (records
/// are never dropped).
const TO_SENSOR: usize = 64;
/// Tunnelled packets in flight to one worker; beyond, they are counted and dropped
/// (`skipped_worker_queue`), so two workers never wait on each other.
const TO_WORKER: usize = 4096;
/// Packets pushed between two looks at the stop flag and the forwarding queue.
const BURST: usize = 1024;

/// What a worker has seen so far (cumulative; the sensor keeps the latest of each).
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub stats: Stats,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub capture: LiveStats,
    /// Packets that reached this worker's ring (after the kernel's filters).
    pub packets: u64,
    /// ... not matching the user's filter (it runs here when the kernel part replaced it).
    pub filtered: u64,
    /// Bypassed connections not written to the kernel (the flow table's queue was full).
    pub bypass_overflow: u64,
    /// Tunnelled packets sent on to another worker, and those its full queue refused.
    pub forwarded: u64,
    pub forward_dropped: u64,
}

/// A worker's report to the sensor.
pub enum Update {
    News {
        worker: usize,
        records: Vec<ConnRecord>,
        snap: Box<Snapshot>,
    },
    /// The worker's capture failed; it stopped.
    Failed { worker: usize, error: LiveError },
}

/// A decoded packet handed to the worker that owns its inner flow, with where it was seen.
enum Owned {
    Segment(OwnedSegment, u64, Evidence),
    Udp(OwnedUdp, Evidence),
    Datagram(Datagram, Evidence),
}

/// A `Segment` with its payload copied out of the ring.
struct OwnedSegment {
    src: Endpoint,
    dst: Endpoint,
    seq: u32,
    flags: TcpFlags,
    payload: Vec<u8>,
    truncated: bool,
    missing: u32,
}

impl OwnedSegment {
    fn of(s: &Segment<'_>) -> Self {
        OwnedSegment {
            src: s.src,
            dst: s.dst,
            seq: s.seq,
            flags: s.flags,
            payload: s.payload.to_vec(),
            truncated: s.truncated,
            missing: s.missing,
        }
    }

    fn segment(&self) -> Segment<'_> {
        Segment {
            src: self.src,
            dst: self.dst,
            seq: self.seq,
            flags: self.flags,
            payload: &self.payload,
            truncated: self.truncated,
            missing: self.missing,
        }
    }
}

/// A `Udp` datagram with its payload copied out of the ring.
struct OwnedUdp {
    src: Endpoint,
    dst: Endpoint,
    payload: Vec<u8>,
    truncated: bool,
}

impl OwnedUdp {
    fn of(u: &Udp<'_>) -> Self {
        OwnedUdp {
            src: u.src,
            dst: u.dst,
            payload: u.payload.to_vec(),
            truncated: u.truncated,
        }
    }

    fn udp(&self) -> Udp<'_> {
        Udp {
            src: self.src,
            dst: self.dst,
            payload: &self.payload,
            truncated: self.truncated,
        }
    }
}

/// The running workers, as the sensor sees them.
pub struct Workers {
    rx: Receiver<Update>,
    handles: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    /// Each worker's latest snapshot.
    pub latest: Vec<Snapshot>,
    pub started: Instant,
    /// Reads the shared kernel part's counters (with `--ebpf`).
    bypass: Option<BypassReader>,
}

/// Updates taken in one `pump` at most, so the sensor's periodic work is not starved.
const MAX_UPDATES: usize = 64;

impl Workers {
    /// Starts one worker per source; evidence names input `file` of the sensor's history.
    pub fn start(
        sources: Vec<LiveSource>,
        limits: Limits,
        file: u32,
        log: LogHook,
        bypass: Option<BypassReader>,
    ) -> Self {
        let n = sources.len();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = bounded(TO_SENSOR);
        let hasher = FlowHasher::default();
        let per = super::sharded::worker_limits(limits, n);
        let (peers, inboxes): (Vec<_>, Vec<_>) = (0..n).map(|_| bounded(TO_WORKER)).unzip();
        let handles = sources
            .into_iter()
            .zip(inboxes)
            .enumerate()
            .map(|(i, (src, inbox))| {
                let mut p = Pipeline::with_hasher(per, hasher.clone())
                    .with_log(log.clone())
                    .hold_records();
                p.continue_input(file);
                let w = Worker {
                    id: i,
                    src,
                    p,
                    filter: None,
                    inbox,
                    peers: peers.clone(),
                    to_sensor: tx.clone(),
                    stop: Arc::clone(&stop),
                    snap: Snapshot::default(),
                    last_sent: Instant::now(),
                    sent_packets: 0,
                };
                std::thread::Builder::new()
                    .name(format!("stekwatch-capture-{i}"))
                    .spawn(move || w.run())
                    .expect("spawning a capture worker")
            })
            .collect();
        Workers {
            rx,
            handles,
            stop,
            latest: vec![Snapshot::default(); n],
            started: Instant::now(),
            bypass,
        }
    }

    /// Takes the workers' reports for up to one read timeout: whether any came, and a
    /// worker's capture failure. `base` holds the counters of the history the run started
    /// from.
    pub fn pump(&mut self, p: &mut Pipeline, base: &History) -> (bool, Option<LiveError>) {
        let wait = Duration::from_millis(READ_TIMEOUT_MS as u64);
        let mut got = false;
        let Some(first) = self.next(wait) else {
            return (false, None);
        };
        let mut next = Some(first);
        for _ in 0..MAX_UPDATES {
            let Some(u) = next.take() else { break };
            got = true;
            if let Some(e) = self.apply(u, p, base) {
                return (got, Some(e));
            }
            next = self.rx.try_recv().ok();
        }
        (got, None)
    }

    /// One report into the sensor's history: its records observed, the run's counters and
    /// span made again from `base` and every worker's latest. A failure is returned.
    pub fn apply(&mut self, u: Update, p: &mut Pipeline, base: &History) -> Option<LiveError> {
        let (worker, records, snap) = match u {
            Update::Failed { error, .. } => return Some(error),
            Update::News {
                worker,
                records,
                snap,
            } => (worker, records, snap),
        };
        let h = p.history_mut();
        for rec in &records {
            h.tracker.observe_record(rec);
        }
        self.latest[worker] = *snap;
        h.stats = base.stats.clone();
        h.start = base.start;
        h.end = base.end;
        for s in &self.latest {
            h.stats.merge(&s.stats);
            h.start = [h.start, s.start].into_iter().flatten().min();
            h.end = [h.end, s.end].into_iter().flatten().max();
        }
        None
    }

    /// The shared kernel part's counters, and what the workers could not write to it.
    pub fn bypass_stats(&self) -> BypassStats {
        let mut b = self.bypass.as_ref().map(|r| r()).unwrap_or_default();
        b.insert_errors += self.latest.iter().map(|s| s.bypass_overflow).sum::<u64>();
        b
    }

    /// The workers for the report's capture section.
    pub fn report(&self) -> Vec<crate::report::json::WorkerOut> {
        self.rates()
            .into_iter()
            .zip(&self.latest)
            .map(|((packets, rate), s)| crate::report::json::WorkerOut {
                packets,
                packets_per_second: rate.round() as u64,
                forwarded: s.forwarded,
                forward_dropped: s.forward_dropped,
            })
            .collect()
    }

    /// Each worker's packets and packets per second since the start.
    pub fn rates(&self) -> Vec<(u64, f64)> {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        self.latest
            .iter()
            .map(|s| (s.packets, s.packets as f64 / secs))
            .collect()
    }

    /// The next report, waiting up to `wait`; `None` when none came.
    pub fn next(&self, wait: Duration) -> Option<Update> {
        match self.rx.try_recv() {
            Ok(u) => Some(u),
            Err(TryRecvError::Empty) => self.rx.recv_timeout(wait).ok(),
            Err(TryRecvError::Disconnected) => None,
        }
    }

    /// Stops every worker; returns the reports they sent on the way out (each summarises its
    /// open connections first).
    pub fn stop(&mut self) -> Vec<Update> {
        self.stop.store(true, Ordering::Relaxed);
        let mut last = Vec::new();
        for h in self.handles.drain(..) {
            while !h.is_finished() {
                last.extend(self.rx.recv_timeout(Duration::from_millis(20)));
            }
            let _ = h.join();
        }
        last.extend(self.rx.try_iter());
        last
    }

    /// The capture counters of every ring.
    pub fn capture(&self) -> LiveStats {
        self.latest
            .iter()
            .fold(LiveStats::default(), |a, s| LiveStats {
                received: a.received + s.capture.received,
                dropped_by_kernel: a.dropped_by_kernel + s.capture.dropped_by_kernel,
                dropped_by_interface: a.dropped_by_interface + s.capture.dropped_by_interface,
            })
    }
}

/// The run's `--log`, shared by the workers.
pub type LogHook = Option<Arc<crate::report::log::ConnLog>>;

struct Worker {
    id: usize,
    src: LiveSource,
    p: Pipeline,
    filter: Option<pcap::BpfProgram>,
    inbox: Receiver<Owned>,
    peers: Vec<Sender<Owned>>,
    to_sensor: Sender<Update>,
    stop: Arc<AtomicBool>,
    snap: Snapshot,
    last_sent: Instant,
    /// `snap.packets` at the last report.
    sent_packets: u64,
}

impl Worker {
    fn run(mut self) {
        self.filter = self.src.take_userspace_filter();
        if self.src.has_kernel_part() {
            self.p.track_bypassed();
        }
        while !self.stop.load(Ordering::Relaxed) {
            if let Err(error) = self.burst() {
                let _ = self.to_sensor.send(Update::Failed {
                    worker: self.id,
                    error,
                });
                return;
            }
            self.take_forwarded();
            let news = self.p.held_records() > 0 || self.snap.packets != self.sent_packets;
            if self.p.held_records() >= MAX_HELD || (news && self.last_sent.elapsed() >= SEND_EVERY)
            {
                self.send();
            }
        }
        self.take_forwarded();
        self.p.finish();
        self.send();
    }

    /// Up to `BURST` packets from the ring (returns early when it is empty).
    fn burst(&mut self) -> Result<(), LiveError> {
        let steering = self.src.steering();
        let steered = |a: Endpoint, b: Endpoint| steering.ring(a.socket_addr(), b.socket_addr());
        for _ in 0..BURST {
            let Some(pkt) = self.src.next_packet()? else {
                return Ok(());
            };
            self.snap.packets += 1;
            if !LiveSource::wanted(self.filter.as_ref(), pkt.data) {
                self.snap.filtered += 1;
                continue;
            }
            let mpls = is_mpls(&pkt);
            let Worker {
                p, peers, snap, id, ..
            } = self;
            if let Some((d, at)) = p.decode(&pkt) {
                route(p, peers, snap, *id, d, at, mpls, &steered);
            }
            self.tell_kernel();
        }
        Ok(())
    }

    fn take_forwarded(&mut self) {
        while let Ok(item) = self.inbox.try_recv() {
            match item {
                Owned::Segment(o, hash, at) => self.p.push_segment(&o.segment(), hash, at),
                Owned::Udp(o, at) => self.p.push_udp(&o.udp(), at),
                Owned::Datagram(d, at) => self.p.push_datagram(&d, at),
            }
            self.tell_kernel();
        }
    }

    /// Connections the flow table bypassed go to the kernel's map.
    fn tell_kernel(&mut self) {
        if !self.src.has_kernel_part() {
            return;
        }
        let b = self.p.take_bypassed();
        self.snap.bypass_overflow += b.overflow;
        for k in b.keys {
            self.src.bypass(k.lo.socket_addr(), k.hi.socket_addr());
        }
    }

    fn send(&mut self) {
        self.last_sent = Instant::now();
        self.sent_packets = self.snap.packets;
        if let Ok(c) = self.src.stats() {
            self.snap.capture = c;
        }
        let h = self.p.history();
        self.snap.stats = h.stats.clone();
        self.snap.start = h.start;
        self.snap.end = h.end;
        let records = self.p.take_records();
        let _ = self.to_sensor.send(Update::News {
            worker: self.id,
            records,
            snap: Box::new(self.snap.clone()),
        });
    }
}

/// Processes a decoded packet here, or sends it on to the worker that owns its inner flow.
/// With the steering program (`steered` names the ring of a connection), that is its ring:
/// only what the program could not follow arrives elsewhere. Without it, the kernel's hash
/// keeps plain connections together, and only tunnelled packets (or those under MPLS) go to
/// the worker their flow-table hash names.
#[allow(clippy::too_many_arguments)]
fn route(
    p: &mut Pipeline,
    peers: &[Sender<Owned>],
    snap: &mut Snapshot,
    me: usize,
    d: Decoded<'_>,
    at: Evidence,
    mpls: bool,
    steered: &impl Fn(Endpoint, Endpoint) -> Option<usize>,
) {
    let n = peers.len();
    // The worker that owns a flow: where the program steers it, else by its hash when the
    // kernel's hash may have split it, else here.
    let owner = |hash: u64, src: Endpoint, dst: Endpoint, tunnelled: bool| {
        steered(src, dst).unwrap_or_else(|| {
            if tunnelled || mpls {
                super::sharded::shard(hash, n)
            } else {
                me
            }
        })
    };
    let (to, item) = match d {
        Decoded::Segment(s) => {
            let hash = p.hasher().hash(&s);
            let to = owner(hash, s.src, s.dst, s.src.tunnel().is_some());
            if to == me {
                return p.push_segment(&s, hash, at);
            }
            (to, Owned::Segment(OwnedSegment::of(&s), hash, at))
        }
        Decoded::Udp(u) => {
            let hash = p.hasher().hash_udp(&u);
            let to = owner(hash, u.src, u.dst, u.src.tunnel().is_some());
            if to == me {
                return p.push_udp(&u, at);
            }
            (to, Owned::Udp(OwnedUdp::of(&u), at))
        }
        Decoded::Datagram(g) => {
            let to = match g.decode() {
                Ok(seg) => owner(p.hasher().hash(&seg), seg.src, seg.dst, g.tunnel.is_some()),
                Err(_) if g.tunnel.is_some() || mpls => super::sharded::shard(0, n),
                Err(_) => me,
            };
            if to == me {
                return p.push_datagram(&g, at);
            }
            (to, Owned::Datagram(g, at))
        }
    };
    match peers[to].try_send(item) {
        Ok(()) => snap.forwarded += 1,
        Err(_) => snap.forward_dropped += 1,
    }
}

/// An Ethernet frame (after up to two VLAN tags) carrying MPLS.
fn is_mpls(pkt: &Packet<'_>) -> bool {
    let d = pkt.data;
    let mut at = 12;
    for _ in 0..3 {
        let Some(ty) = d.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
            return false;
        };
        match ty {
            0x8100 | 0x88a8 => at += 4,
            0x8847 | 0x8848 => return true,
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(types: &[u16]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        for (i, t) in types.iter().enumerate() {
            f.extend_from_slice(&t.to_be_bytes());
            if i + 1 < types.len() {
                f.extend_from_slice(&[0, 1]); // the tag's TCI
            }
        }
        f.extend_from_slice(&[0x45; 20]);
        f
    }

    fn packet(data: &[u8]) -> Packet<'_> {
        Packet {
            time: Timestamp(0),
            frame: 1,
            linktype: 1,
            data,
            orig_len: data.len() as u32,
        }
    }

    #[test]
    fn mpls_is_recognised_bare_and_under_vlan_tags_but_ip_is_not() {
        assert!(is_mpls(&packet(&frame(&[0x8847]))));
        assert!(is_mpls(&packet(&frame(&[0x8100, 0x8848]))));
        assert!(is_mpls(&packet(&frame(&[0x88a8, 0x8100, 0x8847]))));
        assert!(!is_mpls(&packet(&frame(&[0x0800]))));
        assert!(!is_mpls(&packet(&frame(&[0x8100, 0x86dd]))));
        assert!(!is_mpls(&packet(&[0u8; 13])));
    }

    #[test]
    fn an_owned_segment_gives_back_the_segment_it_copied() {
        let payload = [1u8, 2, 3];
        let s = Segment {
            src: Endpoint::new(1, 443, false),
            dst: Endpoint::new(2, 50000, false),
            seq: 7,
            flags: TcpFlags::default(),
            payload: &payload,
            truncated: true,
            missing: 5,
        };
        let o = OwnedSegment::of(&s);
        let back = o.segment();
        assert_eq!(back.payload, &payload);
        assert_eq!((back.seq, back.truncated, back.missing), (7, true, 5));
        assert_eq!(back.src.socket_addr(), s.src.socket_addr());
        assert_eq!(back.dst.socket_addr(), s.dst.socket_addr());
    }
}
