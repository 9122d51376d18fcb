//! The flow table: one entry per TCP connection (5-tuple, both directions), holding the two
//! reassembly streams and the connection's `Consumer` until it has read what it wants; after
//! that the entry is *bypassed*: buffers are freed and later packets cost one lookup.
//!
//! Invariants: at most `Limits::max_flows` entries, of which at most an eighth *active* (their
//! streams being read: reassembly and consumer state allocated; a bypassed entry is about 100
//! bytes, an active one about 1 KiB more); out-of-order segments and what consumers hold
//! across all connections stay under `Limits::max_buffered_bytes` (one shared `Budget`; a
//! connection whose consumer would exceed it is abandoned); expiry uses packet time only; each
//! packet costs one probe of the table, by the flow hash its caller computed once. Everything
//! a cap refuses is counted in `Stats`.

use std::net::SocketAddr;

use hashbrown::hash_table::{Entry, HashTable, OccupiedEntry};

use super::reassembly::{Budget, Stream};
use crate::chunk::Chunk;
use crate::decode::{FlowKey, Segment, Tunnel};
use crate::evidence::Evidence;
use crate::stats::Stats;
use crate::time::Timestamp;

/// A direction its consumer is done with, whose peer was never heard from, is taken for a
/// one-sided capture once it has carried this much: more than a client's first flight with
/// early data (servers accept at most 16 KiB of 0-RTT data by default).
pub const ONE_SIDED_AFTER_BYTES: u64 = 64 * 1024;

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_flows: usize,
    pub max_buffered_bytes: usize,
    /// A flow without packets for this long (packet time) is finished and forgotten.
    pub idle_timeout_secs: i64,
    /// ... and one that has not shown progress (no complete message read) after this long.
    pub handshake_timeout_secs: i64,
}

impl Default for Limits {
    /// Sized so that a run stays under 256 MiB of memory whatever the input: 262144 table
    /// entries (about 55 MiB with the table's slack), at most 32768 of them active (about
    /// 1 KiB of reassembly and TLS state each, before buffering; measured with the SYN flood of
    /// examples/attacks.rs), everything buffered capped at 64 MiB together. With the
    /// per-service history's 32 MiB, several attacks at once (scripts/attacks.sh, "combined")
    /// peak at about 230 MiB.
    fn default() -> Self {
        Limits {
            max_flows: 262_144,
            max_buffered_bytes: 64 << 20,
            idle_timeout_secs: 300,
            handshake_timeout_secs: 30,
        }
    }
}

/// What reads one connection's two byte streams (the pipeline's TLS glue). Direction 0 is the
/// sender of the connection's first packet seen.
pub trait Consumer: Sized {
    /// What a finished connection yields.
    type Summary;

    /// A connection whose first packet went from `first` to `other`, inside `tunnel`.
    fn open(first: SocketAddr, other: SocketAddr, tunnel: Option<Tunnel>) -> Self;

    /// The next bytes (or a gap) of direction `dir`.
    fn push(&mut self, dir: usize, chunk: Chunk<'_>, at: Evidence);

    /// Bytes held in partial units, charged to the shared buffer budget.
    fn held(&self) -> usize;

    /// A resource cap was hit: stop reading and free what is held.
    fn abandon(&mut self);

    /// Whether more bytes of direction `dir` could still tell anything.
    fn wants(&self, dir: usize) -> bool;

    /// Whether it has read something worth keeping (a complete message): until then the
    /// connection is the first to go when the table is under pressure.
    fn progressed(&self) -> bool;

    /// The connection is over or read: its summary, with the consumer's counters in `stats`.
    fn finish(self, stats: &mut Stats) -> Option<Self::Summary>;
}

struct Flow<C> {
    key: FlowKey,
    /// The caller's hash of `key`, kept so the table can grow without rehashing.
    hash: u64,
    /// The last packet seen: its time drives expiry, its place labels bytes flushed at the end.
    last: Evidence,
    /// Reassembly and consumer state while the streams are read; `None` once bypassed, so a
    /// bypassed flow is only its key and these few bytes.
    active: Option<Box<Active<C>>>,
    /// The first packet seen was sent by the key's lower endpoint: that is direction 0.
    first_is_lo: bool,
    fin: [bool; 2],
    /// Some packet came from this direction.
    heard: [bool; 2],
    saw_data: bool,
    /// The consumer has read a complete message (see `evict`).
    progressed: bool,
    /// Tells this flow from earlier ones on the same 5-tuple in the waiting queues.
    serial: u32,
}

struct Active<C> {
    streams: [Stream; 2],
    app: C,
    /// Bytes the consumer holds, charged to the shared budget.
    charged: usize,
}

pub struct FlowTable<C: Consumer> {
    flows: HashTable<Flow<C>>,
    budget: Budget,
    limits: Limits,
    last_sweep: Timestamp,
    /// `budget.discarded_bytes` already added to the stats.
    synced_discarded: u64,
    /// Entries whose `active` state is allocated.
    active: usize,
    /// Flows without progress, oldest first (see `evict`).
    waiting: evict::Waiting,
    /// Connections bypassed since the caller last took them (when it asked to be told).
    bypassed: Option<Bypassed>,
}

/// At most this many bypassed connections wait for the caller to take them; more are
/// counted in `Bypassed::overflow` and not reported.
pub const MAX_PENDING_BYPASSED: usize = 65_536;

/// Connections the table bypassed (read to the end of what the consumer wants while still
/// open), for a caller that can drop their packets earlier (live capture's kernel filter).
#[derive(Debug, Default)]
pub struct Bypassed {
    pub keys: Vec<FlowKey>,
    /// Bypassed connections not reported because `keys` was full.
    pub overflow: u64,
}

/// The parts of the table a packet's processing changes besides its own entry.
struct Parts<'a> {
    budget: &'a mut Budget,
    active: &'a mut usize,
    waiting: &'a mut evict::Waiting,
    bypassed: &'a mut Option<Bypassed>,
}

/// How a segment of a tracked flow left it.
enum Update {
    Done,
    /// The consumer's charge put the buffer budget over its limit.
    OverBudget {
        hash: u64,
        key: FlowKey,
        serial: u32,
    },
}

impl<C: Consumer> FlowTable<C> {
    pub fn new(limits: Limits) -> Self {
        FlowTable {
            flows: HashTable::new(),
            budget: Budget::new(limits.max_buffered_bytes),
            limits,
            last_sweep: Timestamp::default(),
            synced_discarded: 0,
            active: 0,
            waiting: evict::Waiting::default(),
            bypassed: None,
        }
    }

    /// From now on, remembers the connections it bypasses (tunnelled ones excepted) until
    /// `take_bypassed`.
    pub fn track_bypassed(&mut self) {
        self.bypassed.get_or_insert_with(Bypassed::default);
    }

    /// The connections bypassed since the last call (empty unless `track_bypassed`).
    pub fn take_bypassed(&mut self) -> Bypassed {
        match self.bypassed.as_mut() {
            Some(b) => std::mem::take(b),
            None => Bypassed::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Entries with reassembly and consumer state allocated.
    pub fn active_len(&self) -> usize {
        self.active
    }

    /// Bytes currently charged to the shared buffer budget.
    pub fn buffered_bytes(&self) -> usize {
        self.budget.used
    }

    /// Takes one segment whose flow key hashes to `hash` (any function of `FlowKey::of`'s key
    /// that the caller uses for every packet); pushes the summary of every connection that
    /// this completes.
    pub fn push(
        &mut self,
        seg: &Segment<'_>,
        hash: u64,
        at: Evidence,
        stats: &mut Stats,
        out: &mut Vec<C::Summary>,
    ) {
        self.maybe_sweep(at.time, stats, out);
        self.expire_waiting(at.time, stats, out);
        let (key, src_is_lo) = FlowKey::of(seg.src, seg.dst);
        let fresh_syn = seg.flags.syn && !seg.flags.ack;
        let opens = seg.flags.syn || !seg.payload.is_empty();
        if opens && self.full() && self.flows.find(hash, |f| f.key == key).is_none() {
            // No room for a new connection: the oldest one without progress makes room.
            self.evict_one(None, false, stats, out);
        }
        let update = self.place(seg, hash, key, src_is_lo, fresh_syn, at, stats, out);
        if let Update::OverBudget { hash, key, serial } = update {
            self.relieve_budget(hash, key, serial, stats, out);
        }
    }

    /// Whether a new connection would exceed the table or its active share.
    fn full(&self) -> bool {
        self.flows.len() >= self.limits.max_flows || self.active >= self.max_active()
    }

    /// Finds or creates the segment's flow (one probe of the table) and updates it.
    #[allow(clippy::too_many_arguments)]
    fn place(
        &mut self,
        seg: &Segment<'_>,
        hash: u64,
        key: FlowKey,
        src_is_lo: bool,
        fresh_syn: bool,
        at: Evidence,
        stats: &mut Stats,
        out: &mut Vec<C::Summary>,
    ) -> Update {
        let timeout = self.limits.idle_timeout_secs;
        let (max_flows, max_active) = (self.limits.max_flows, self.max_active());
        let mut len = self.flows.len();
        let (flows, mut parts) = self.split();
        let vacant = match flows.entry(hash, |f| f.key == key, |f| f.hash) {
            Entry::Occupied(o) => {
                // Port reuse (a new SYN on a used 5-tuple), or idle past the timeout: the old
                // connection ends here. Checked per packet, so the outcome does not depend on
                // when sweeps run (nor on how flows are spread over workers).
                let f = o.get();
                let reused = fresh_syn && (f.saw_data || f.active.is_none());
                // A flow stamped far ahead of this packet (a clock jump) is as stale as one
                // far behind.
                let idle = at.time.later_than(f.last.time, timeout)
                    || f.last.time.later_than(at.time, timeout);
                if !(reused || idle) {
                    return Self::update(o, seg, src_is_lo, at, &mut parts, stats, out);
                }
                stats.expired_flows += u64::from(idle);
                let (mut old, vacant) = o.remove();
                len -= 1;
                Self::finish_flow(&mut old, &mut parts, stats, true, out);
                vacant
            }
            Entry::Vacant(v) => v,
        };
        if !seg.flags.syn && seg.payload.is_empty() {
            // A bare ACK, FIN or RST of a connection not (or no longer) tracked: nothing to
            // read, and no entry to spend on it.
            return Update::Done;
        }
        if len >= max_flows || *parts.active >= max_active {
            stats.dropped_flows_cap += 1;
            return Update::Done;
        }
        stats.connections += 1;
        *parts.active += 1;
        let flow = Flow {
            key,
            hash,
            last: at,
            active: Some(Box::new(Active {
                streams: [Stream::new(), Stream::new()],
                app: C::open(
                    seg.src.socket_addr(),
                    seg.dst.socket_addr(),
                    seg.src.tunnel(),
                ),
                charged: 0,
            })),
            first_is_lo: src_is_lo,
            fin: [false; 2],
            heard: [false; 2],
            saw_data: false,
            progressed: false,
            serial: parts.waiting.serial(),
        };
        parts.opened(&flow, at.time);
        let o = vacant.insert(flow);
        Self::update(o, seg, src_is_lo, at, &mut parts, stats, out)
    }

    /// The budget is over its limit after the flow numbered `serial` grew: stalled flows
    /// without progress are evicted first; if that is not enough, this flow is abandoned
    /// (its parsing stops, what it read is kept) and counted.
    fn relieve_budget(
        &mut self,
        hash: u64,
        key: FlowKey,
        serial: u32,
        stats: &mut Stats,
        out: &mut Vec<C::Summary>,
    ) {
        while self.budget.used > self.budget.limit {
            if !self.evict_one(Some(serial), true, stats, out) {
                break;
            }
        }
        if self.budget.used <= self.budget.limit {
            return;
        }
        let (flows, mut parts) = self.split();
        let Ok(mut o) = flows.find_entry(hash, |f| f.key == key && f.serial == serial) else {
            return;
        };
        let flow = o.get_mut();
        if let Some(a) = flow.active.as_mut() {
            a.app.abandon();
            parts.budget.discard(&mut a.charged);
            stats.abandoned_handshakes_cap += 1;
            Self::finish_flow(flow, &mut parts, stats, false, out);
        }
    }

    /// A segment of a tracked flow: reassembly, its consumer, and the end or bypass of the
    /// connection.
    fn update(
        mut o: OccupiedEntry<'_, Flow<C>>,
        seg: &Segment<'_>,
        src_is_lo: bool,
        at: Evidence,
        parts: &mut Parts<'_>,
        stats: &mut Stats,
        out: &mut Vec<C::Summary>,
    ) -> Update {
        let flow = o.get_mut();
        flow.last = at;
        let dir = usize::from(src_is_lo != flow.first_is_lo);
        flow.heard[dir] = true;
        let fin = seg.flags.fin || seg.flags.rst;
        if fin {
            flow.fin[dir] = true;
        }
        let ended = seg.flags.rst || flow.fin.iter().all(|f| *f);
        let Some(active) = flow.active.as_mut() else {
            // Bypassed: only the end of the connection matters, to free its entry.
            if ended {
                o.remove();
            }
            return Update::Done;
        };
        let Active {
            streams,
            app,
            charged,
        } = &mut **active;
        let first_data = !seg.payload.is_empty() && !flow.saw_data;
        flow.saw_data |= !seg.payload.is_empty();
        streams[dir].push(
            seg.seq,
            seg.flags.syn,
            fin,
            seg.payload,
            parts.budget,
            &mut |c: Chunk<'_>| app.push(dir, c, at),
        );
        if seg.missing > 0 {
            streams[dir].cut(
                seg.seq,
                seg.flags.syn,
                seg.payload.len(),
                seg.missing,
                parts.budget,
                &mut |c: Chunk<'_>| app.push(dir, c, at),
            );
        }
        flow.progressed |= app.progressed();
        // What the consumer holds counts against the same budget as out-of-order data.
        let over = parts.budget.recharge(charged, app.held());
        // Read: neither direction wants more, or this one does not, has carried more than a
        // first flight since, and the other was never heard from (a one-sided capture; a 0-RTT
        // client picked up without its SYN sends early data before the server is heard).
        let one_sided = !flow.heard[1 - dir] && streams[dir].delivered() > ONE_SIDED_AFTER_BYTES;
        let read = !app.wants(dir) && (!app.wants(1 - dir) || one_sided);
        if first_data && !flow.progressed {
            parts.stalled(flow, at.time);
        }
        if ended {
            let (mut flow, _) = o.remove();
            Self::finish_flow(&mut flow, parts, stats, true, out);
        } else if over {
            return Update::OverBudget {
                hash: flow.hash,
                key: flow.key,
                serial: flow.serial,
            };
        } else if read {
            // The summary goes out, buffers are freed, and the entry stays as a bypassed flow
            // so the connection's remaining packets cost one lookup.
            Self::finish_flow(o.get_mut(), parts, stats, false, out);
            if let Some(b) = parts.bypassed.as_mut() {
                let key = o.get().key;
                if key.lo.tunnel().is_none() && key.hi.tunnel().is_none() {
                    if b.keys.len() < MAX_PENDING_BYPASSED {
                        b.keys.push(key);
                    } else {
                        b.overflow += 1;
                    }
                }
            }
        }
        Update::Done
    }

    /// Finishes every flow (end of input).
    pub fn finish_all(&mut self, stats: &mut Stats, out: &mut Vec<C::Summary>) {
        let (flows, mut parts) = self.split();
        for mut flow in flows.drain() {
            Self::finish_flow(&mut flow, &mut parts, stats, true, out);
        }
        self.sync_stats(stats);
    }

    /// The table and, apart from it, what a packet's processing changes besides its entry.
    fn split(&mut self) -> (&mut HashTable<Flow<C>>, Parts<'_>) {
        let parts = Parts {
            budget: &mut self.budget,
            active: &mut self.active,
            waiting: &mut self.waiting,
            bypassed: &mut self.bypassed,
        };
        (&mut self.flows, parts)
    }

    /// Connections whose streams may be read at once: an eighth of the table.
    fn max_active(&self) -> usize {
        (self.limits.max_flows / 8).max(1)
    }

    /// Summarises a flow's consumer; with `flush`, buffered data is handed over first (the
    /// connection will send nothing more).
    fn finish_flow(
        flow: &mut Flow<C>,
        parts: &mut Parts<'_>,
        stats: &mut Stats,
        flush: bool,
        out: &mut Vec<C::Summary>,
    ) {
        let Some(active) = flow.active.take() else {
            return;
        };
        *parts.active -= 1;
        let Active {
            mut streams,
            mut app,
            mut charged,
        } = *active;
        parts.budget.recharge(&mut charged, 0);
        let at = flow.last;
        for (dir, s) in streams.iter_mut().enumerate() {
            if flush {
                s.flush(parts.budget, &mut |c: Chunk<'_>| app.push(dir, c, at));
            }
            stats.gaps += s.gaps;
            stats.retransmitted_bytes += s.retransmitted_bytes;
            s.release(parts.budget);
        }
        if let Some(summary) = app.finish(stats) {
            out.push(summary);
        }
    }

    fn maybe_sweep(&mut self, now: Timestamp, stats: &mut Stats, out: &mut Vec<C::Summary>) {
        let interval = self.limits.idle_timeout_secs / 4;
        // Time went back (or an absurd packet time went ahead): sweeps go on from the time
        // packets have now, not wait for the odd one's (the pipeline counts such jumps).
        let went_back = self
            .last_sweep
            .later_than(now, self.limits.idle_timeout_secs);
        if !went_back && !now.later_than(self.last_sweep, interval.max(1) - 1) {
            return;
        }
        self.last_sweep = now;
        let timeout = self.limits.idle_timeout_secs;
        let (flows, mut parts) = self.split();
        // Closing an idle flow early is the same as closing it at the end of input, so sweeps
        // are not counted: `expired_flows` counts flows that came back after their timeout.
        let idle = |f: &mut Flow<C>| {
            now.later_than(f.last.time, timeout) || f.last.time.later_than(now, timeout)
        };
        for mut flow in flows.extract_if(idle) {
            Self::finish_flow(&mut flow, &mut parts, stats, true, out);
        }
        self.sync_stats(stats);
    }

    /// Adds the budget's new discards to `stats` (call before reporting). Adds rather than
    /// copies: `stats` may hold other tables' counters merged in (one per worker).
    pub fn sync_stats(&mut self, stats: &mut Stats) {
        stats.discarded_bytes_cap += self.budget.discarded_bytes - self.synced_discarded;
        self.synced_discarded = self.budget.discarded_bytes;
    }
}

mod evict;
#[cfg(test)]
mod tests;
