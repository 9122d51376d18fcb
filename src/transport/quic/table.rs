//! The QUIC connection table: one entry per UDP 5-tuple (both directions), created by the
//! first client Initial that opens under the keys of its own Destination Connection ID. The
//! entry keeps the Initial keys (both directions use the ones derived from the client's DCID;
//! after a Retry or a Version Negotiation the client's next Initial re-derives them), the
//! largest packet number per direction, both CRYPTO streams and the `Consumer`. Once the
//! consumer is done the entry is *bypassed*: streams and consumer freed, later packets cost
//! one lookup until it expires.
//!
//! Invariants: at most `Limits::max_flows` entries (a full table first forgets bypassed ones);
//! `bypassed` counts the entries without a consumer; bytes held out of order by all CRYPTO
//! streams and by consumers stay near `Limits::max_held_bytes` (past it nothing more is held);
//! expiry by packet time only; everything refused is counted in `Stats`.

use std::net::SocketAddr;

use hashbrown::HashMap;

use super::crypto::{CryptoStream, Took};
use super::frames;
use super::keys::{self, InitialKeys};
use super::packet::{self, Kind, Long, Packet};
use super::protected::{Protected, QuicSecrets, Step};
use crate::decode::{FlowKey, Tunnel, Udp};
use crate::evidence::Evidence;
use crate::secrets::DecryptCounts;
use crate::stats::Stats;
use crate::time::Timestamp;

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_flows: usize,
    pub max_held_bytes: usize,
    /// A connection without long-header packets for this long (packet time) is finished.
    pub idle_timeout_secs: i64,
}

impl Default for Limits {
    /// 16384 connections of about 1 KiB each while their handshake is read (less once
    /// bypassed), and 16 MiB held out of order across them.
    fn default() -> Self {
        Limits {
            max_flows: 16_384,
            max_held_bytes: 16 << 20,
            idle_timeout_secs: 60,
        }
    }
}

/// What reads one QUIC connection's handshake-message bytes (the pipeline's TLS glue).
/// Direction 0 is the client (the sender of the first Initial that opened).
pub trait Consumer: Sized {
    type Summary;
    fn open(client: SocketAddr, server: SocketAddr, tunnel: Option<Tunnel>) -> Self;
    /// The next CRYPTO-stream bytes of direction `dir`, in order.
    fn push(&mut self, dir: usize, bytes: &[u8], at: Evidence);
    /// The client sent a 0-RTT packet.
    fn zero_rtt(&mut self, at: Evidence);
    /// Nothing more is wanted from this connection.
    fn done(&self) -> bool;
    /// Bytes the consumer holds (partial messages).
    fn held(&self) -> usize;
    fn finish(self, stats: &mut Stats) -> Option<Self::Summary>;
    /// The user's secrets for this connection, once its ServerHello has been read (handed
    /// over once); `None` without them.
    fn secrets(&mut self) -> Option<QuicSecrets> {
        None
    }
    /// The next bytes of the server's 1-RTT CRYPTO stream, in order (opened with the secrets).
    fn push_protected(&mut self, _bytes: &[u8], _at: Evidence) {}
    /// Decryption of the server's packets is over, having counted `counts`.
    fn end_protected(&mut self, _counts: DecryptCounts) {}
}

struct Conn<C> {
    client: crate::decode::Endpoint,
    version: u32,
    keys: InitialKeys,
    largest: [Option<u64>; 2],
    streams: [CryptoStream; 2],
    /// `None` once bypassed.
    consumer: Option<C>,
    /// Length of the client's Source Connection ID (the server's short headers carry it).
    client_scid_len: usize,
    /// The server's packets opened with the user's secrets, while that goes on.
    protected: Option<Box<Protected>>,
    last: Timestamp,
    /// What this entry counts in `QuicTable::held`.
    held: usize,
}

/// 0-RTT sightings kept for connections whose Initial has not been seen yet (a capture that
/// reorders them); past this many, more are only counted.
const MAX_EARLY: usize = 1024;

pub struct QuicTable<C: Consumer> {
    conns: HashMap<FlowKey, Conn<C>>,
    /// First 0-RTT packet per 5-tuple with no entry yet, with its sender.
    early: HashMap<FlowKey, (crate::decode::Endpoint, Evidence)>,
    limits: Limits,
    held: usize,
    scratch: Vec<u8>,
    last_sweep: Option<Timestamp>,
    /// Entries whose consumer is done: the first to go when the table is full.
    bypassed: usize,
    /// When a full table last forced an expiry pass (at most one per second of packet time,
    /// so a flood of new connections into a full table costs no scan per packet).
    last_forced: Option<Timestamp>,
}

impl<C: Consumer> QuicTable<C> {
    pub fn new(limits: Limits) -> Self {
        QuicTable {
            conns: HashMap::new(),
            early: HashMap::new(),
            limits,
            held: 0,
            scratch: Vec::new(),
            last_sweep: None,
            bypassed: 0,
            last_forced: None,
        }
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Bytes held out of order and by consumers, across connections.
    pub fn held(&self) -> usize {
        self.held
    }

    /// One UDP datagram that starts with a long header; summaries of connections that are
    /// done (or expired) go to `out`.
    pub fn push(
        &mut self,
        d: &Udp<'_>,
        at: Evidence,
        stats: &mut Stats,
        out: &mut Vec<C::Summary>,
    ) {
        let (key, _) = FlowKey::of(d.src, d.dst);
        if d.payload.first().is_some_and(|b| b & 0x80 == 0) {
            // Short headers reach here only while the user's secrets are loaded.
            if self.conns.get(&key).is_some_and(|c| c.protected.is_some()) {
                stats.quic_datagrams += 1;
                self.short(key, d, d.payload, at, stats, out);
            }
            return;
        }
        stats.quic_datagrams += 1;
        self.sweep(at.time, stats, out);
        let mut rest = d.payload;
        while !rest.is_empty() {
            let Ok((p, next)) = packet::split(rest) else {
                stats.quic_malformed += 1;
                break;
            };
            rest = next;
            match p {
                Packet::Short(b) => self.short(key, d, b, at, stats, out),
                Packet::VersionNegotiation => stats.quic_version_negotiation += 1,
                Packet::UnknownVersion(_) => stats.quic_unknown_version += 1,
                Packet::Long(l) => self.long(key, d, &l, at, stats, out),
            }
        }
    }

    fn long(
        &mut self,
        key: FlowKey,
        d: &Udp<'_>,
        l: &Long<'_>,
        at: Evidence,
        stats: &mut Stats,
        out: &mut Vec<C::Summary>,
    ) {
        stats.quic_packets += 1;
        let conn = self.conns.get_mut(&key);
        match l.kind {
            Kind::Initial => self.initial(key, d, l, at, stats, out),
            Kind::ZeroRtt => {
                stats.quic_zero_rtt_packets += 1;
                match conn {
                    Some(c) if c.client == d.src => {
                        c.last = c.last.max(at.time);
                        if let Some(consumer) = &mut c.consumer {
                            consumer.zero_rtt(at);
                        }
                    }
                    Some(_) => {}
                    None if self.early.len() < MAX_EARLY => {
                        self.early.entry(key).or_insert((d.src, at));
                    }
                    None => {}
                }
            }
            Kind::Retry => stats.quic_retry += 1,
            Kind::Handshake => self.handshake(key, d, l, at),
        }
    }

    fn initial(
        &mut self,
        key: FlowKey,
        d: &Udp<'_>,
        l: &Long<'_>,
        at: Evidence,
        stats: &mut Stats,
        out: &mut Vec<C::Summary>,
    ) {
        let Some(suite) = keys::suite(l.version) else {
            stats.quic_unknown_version += 1;
            return;
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        let opened = match self.conns.get(&key) {
            Some(c) => {
                let dir = usize::from(c.client != d.src);
                let k = if dir == 0 {
                    &c.keys.client
                } else {
                    &c.keys.server
                };
                match packet::open(k, l.bytes, l.pn_offset, c.largest[dir], &mut scratch) {
                    Ok((pn, r)) => Some((dir, pn, r, None)),
                    // A client that starts again (after a Retry, or in another version after
                    // Version Negotiation) protects its Initials under its new DCID.
                    Err(_) if dir == 0 => {
                        let fresh = InitialKeys::derive(suite, l.dcid);
                        packet::open(&fresh.client, l.bytes, l.pn_offset, None, &mut scratch)
                            .ok()
                            .map(|(pn, r)| (0, pn, r, Some(fresh)))
                    }
                    Err(_) => None,
                }
            }
            None => {
                let fresh = InitialKeys::derive(suite, l.dcid);
                match packet::open(&fresh.client, l.bytes, l.pn_offset, None, &mut scratch) {
                    Ok((pn, r)) => {
                        if !self.make_room(at.time, stats, out) {
                            stats.quic_dropped_flows_cap += 1;
                            self.scratch = scratch;
                            return;
                        }
                        stats.quic_connections += 1;
                        let mut consumer =
                            C::open(d.src.socket_addr(), d.dst.socket_addr(), d.src.tunnel());
                        if let Some((_, early)) =
                            self.early.remove(&key).filter(|(from, _)| *from == d.src)
                        {
                            consumer.zero_rtt(early);
                        }
                        self.conns.insert(
                            key,
                            Conn {
                                client: d.src,
                                version: l.version,
                                keys: fresh,
                                largest: [None; 2],
                                streams: Default::default(),
                                consumer: Some(consumer),
                                client_scid_len: l.scid.len(),
                                protected: None,
                                last: at.time,
                                held: 0,
                            },
                        );
                        Some((0, pn, r, None))
                    }
                    Err(_) => None,
                }
            }
        };
        let Some((dir, pn, range, fresh)) = opened else {
            // Wrong keys (a server Initial whose client Initial was not seen), a corrupt
            // packet, or not QUIC at all.
            stats.quic_undecryptable += 1;
            self.scratch = scratch;
            return;
        };
        stats.quic_initials_decrypted += 1;
        let c = self.conns.get_mut(&key).expect("entry found or made above");
        if let Some(k) = fresh {
            c.keys = k;
            c.version = l.version;
            c.largest = [None; 2];
            c.client_scid_len = l.scid.len();
        }
        c.largest[dir] = c.largest[dir].max(Some(pn));
        c.last = c.last.max(at.time);
        let plain = &scratch[range];
        let done = feed(
            c,
            dir,
            plain,
            at,
            self.held < self.limits.max_held_bytes,
            stats,
        ) || arm(c);
        self.scratch = scratch;
        self.settle(key, done, stats, out);
    }

    /// After a packet of the connection at `key`: its held bytes recounted and, when its
    /// consumer is `done`, the entry bypassed and the summary handed on.
    fn settle(&mut self, key: FlowKey, done: bool, stats: &mut Stats, out: &mut Vec<C::Summary>) {
        let Some(c) = self.conns.get_mut(&key) else {
            return;
        };
        let now_held = c.streams.iter().map(CryptoStream::held).sum::<usize>()
            + c.consumer.as_ref().map_or(0, C::held)
            + c.protected.as_ref().map_or(0, |p| p.held());
        self.held = self.held - c.held + now_held;
        c.held = now_held;
        if done {
            self.held -= c.held;
            c.held = 0;
            c.streams = Default::default();
            self.bypassed += 1;
            out.extend(finish_consumer(c, stats));
        }
    }

    /// A server Handshake packet of a connection whose secrets the user gave.
    fn handshake(&mut self, key: FlowKey, d: &Udp<'_>, l: &Long<'_>, at: Evidence) {
        let Some(c) = self.conns.get_mut(&key) else {
            return;
        };
        c.last = c.last.max(at.time);
        if c.client == d.src {
            return;
        }
        if let Some(p) = &mut c.protected {
            p.handshake(l.bytes, l.pn_offset, &mut self.scratch);
        }
    }

    /// A datagram that starts with a short header: a 1-RTT packet, read only from the server
    /// of a connection whose secrets the user gave (other UDP is not counted as QUIC).
    fn short(
        &mut self,
        key: FlowKey,
        d: &Udp<'_>,
        bytes: &[u8],
        at: Evidence,
        stats: &mut Stats,
        out: &mut Vec<C::Summary>,
    ) {
        if bytes.first().is_none_or(|b| b & 0x40 == 0) {
            // Without the fixed bit: the zero padding after a datagram's long packets.
            return;
        }
        let may_hold = self.held < self.limits.max_held_bytes;
        let Some(c) = self.conns.get_mut(&key) else {
            return;
        };
        let (Some(p), Some(consumer)) = (&mut c.protected, &mut c.consumer) else {
            return;
        };
        if c.client == d.src {
            return;
        }
        c.last = c.last.max(at.time);
        let step = p.short(bytes, may_hold, &mut self.scratch, &mut |b| {
            consumer.push_protected(b, at)
        });
        let done = step == Step::Done && {
            if let Some(p) = c.protected.take() {
                consumer.end_protected(p.counts);
            }
            consumer.done()
        };
        self.settle(key, done, stats, out);
    }

    /// Room for one more entry: bypassed entries go first (they hold nothing but the memory
    /// that a late packet of theirs is not a new connection), then idle ones.
    fn make_room(&mut self, now: Timestamp, stats: &mut Stats, out: &mut Vec<C::Summary>) -> bool {
        if self.conns.len() < self.limits.max_flows {
            return true;
        }
        if self.bypassed > 0 {
            self.conns.retain(|_, c| c.consumer.is_some());
            self.bypassed = 0;
        } else if self.last_forced.is_none_or(|t| now.later_than(t, 1)) {
            self.last_forced = Some(now);
            self.last_sweep = None;
            self.sweep(now, stats, out);
        }
        self.conns.len() < self.limits.max_flows
    }

    /// Every so often (packet time), ends the connections idle past the timeout.
    fn sweep(&mut self, now: Timestamp, stats: &mut Stats, out: &mut Vec<C::Summary>) {
        let every = (self.limits.idle_timeout_secs / 4).max(1);
        if self.last_sweep.is_some_and(|t| !now.later_than(t, every)) {
            return;
        }
        self.last_sweep = Some(now);
        if self.conns.is_empty() && self.early.is_empty() {
            return;
        }
        let idle = self.limits.idle_timeout_secs;
        self.early
            .retain(|_, (_, at)| !now.later_than(at.time, idle));
        let mut held = self.held;
        let mut bypassed = self.bypassed;
        self.conns.retain(|_, c| {
            if !now.later_than(c.last, idle) {
                return true;
            }
            // Not counted: when a sweep runs depends on which packets a worker sees, and an
            // expired connection loses nothing (it is summarised here).
            held -= c.held;
            match c.consumer {
                Some(_) => out.extend(finish_consumer(c, stats)),
                None => bypassed -= 1,
            }
            false
        });
        self.held = held;
        self.bypassed = bypassed;
    }

    /// Ends the input: every connection still read is summarised.
    pub fn finish_all(&mut self, stats: &mut Stats, out: &mut Vec<C::Summary>) {
        for (_, mut c) in self.conns.drain() {
            out.extend(finish_consumer(&mut c, stats));
        }
        self.early.clear();
        self.held = 0;
        self.bypassed = 0;
        self.last_sweep = None;
        self.last_forced = None;
    }
}

/// Once the consumer has read the ServerHello: the server's packets are opened from now on
/// when the user gave this connection's secrets. Whether the consumer is now done (secrets
/// that give no keys end decryption at once).
fn arm<C: Consumer>(c: &mut Conn<C>) -> bool {
    let Some(consumer) = c.consumer.as_mut() else {
        return false;
    };
    if c.protected.is_some() {
        return false;
    }
    let Some(s) = consumer.secrets() else {
        return false;
    };
    match Protected::new(&s, c.version == keys::V2, c.client_scid_len) {
        Some(p) => {
            c.protected = Some(Box::new(p));
            false
        }
        None => {
            consumer.end_protected(DecryptCounts::default());
            consumer.done()
        }
    }
}

/// The connection's summary: decryption (if any) ended first, so its counts are in it.
fn finish_consumer<C: Consumer>(c: &mut Conn<C>, stats: &mut Stats) -> Option<C::Summary> {
    let mut consumer = c.consumer.take()?;
    if let Some(p) = c.protected.take() {
        consumer.end_protected(p.counts);
    }
    consumer.finish(stats)
}

/// Hands an opened Initial's CRYPTO frames to the connection's stream and consumer; whether
/// the consumer is now done.
fn feed<C: Consumer>(
    c: &mut Conn<C>,
    dir: usize,
    plain: &[u8],
    at: Evidence,
    may_hold: bool,
    stats: &mut Stats,
) -> bool {
    let Some(consumer) = c.consumer.as_mut() else {
        return false;
    };
    let stream = &mut c.streams[dir];
    let walked = frames::walk(plain, &mut |offset, data| match stream.push(
        offset,
        data,
        may_hold,
        &mut |b| consumer.push(dir, b, at),
    ) {
        Took::Refused => stats.quic_crypto_refused += 1,
        Took::Duplicate => stats.quic_crypto_duplicates += 1,
        Took::Delivered | Took::Held => {}
    });
    if walked.is_err() {
        stats.quic_malformed_frames += 1;
    }
    consumer.done()
}
