//! Flows that have not shown progress (no complete message read yet) wait in two FIFO queues:
//! *opening* (no payload yet: SYNs, bare ACKs) and *stalled* (payload, but nothing complete:
//! e.g. a record header announcing 16 KB, then silence). They are the first to go: after
//! `handshake_timeout_secs` without a packet (as if the input ended there), and, when the table, its active share or the
//! buffer budget is full, oldest first (opening before stalled), so a flood of connections
//! that will never carry a handshake cannot crowd out the ones that do.
//!
//! Entries are checked lazily: a queued flow that has progressed, ended or been reused (its
//! `serial` differs) is dropped when its entry comes up. Each queue is compacted when it
//! holds more than twice the active share of the table, so its length stays bounded.

use std::collections::VecDeque;

use super::{Consumer, Flow, FlowTable, Parts};
use crate::decode::FlowKey;
use crate::stats::Stats;
use crate::time::Timestamp;

#[derive(Clone, Copy)]
struct Entry {
    hash: u64,
    key: FlowKey,
    serial: u32,
    since: Timestamp,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Queue {
    Opening,
    Stalled,
}

#[derive(Default)]
pub(super) struct Waiting {
    opening: VecDeque<Entry>,
    stalled: VecDeque<Entry>,
    next_serial: u32,
}

impl Waiting {
    /// A serial number for a new flow, so queued entries of an earlier flow on the same
    /// 5-tuple are told apart.
    pub(super) fn serial(&mut self) -> u32 {
        self.next_serial = self.next_serial.wrapping_add(1);
        self.next_serial
    }

    fn queue(&mut self, q: Queue) -> &mut VecDeque<Entry> {
        match q {
            Queue::Opening => &mut self.opening,
            Queue::Stalled => &mut self.stalled,
        }
    }
}

/// Whether `f` is still waiting in queue `q`.
fn waits_in<C>(f: &Flow<C>, q: Queue) -> bool {
    f.active.is_some()
        && !f.progressed
        && match q {
            Queue::Opening => !f.saw_data,
            Queue::Stalled => f.saw_data,
        }
}

impl<C: Consumer> Flow<C> {
    fn entry(&self, since: Timestamp) -> Entry {
        Entry {
            hash: self.hash,
            key: self.key,
            serial: self.serial,
            since,
        }
    }
}

impl<'a> Parts<'a> {
    /// A new flow starts waiting as opening.
    pub(super) fn opened<C: Consumer>(&mut self, f: &Flow<C>, now: Timestamp) {
        self.waiting.opening.push_back(f.entry(now));
    }

    /// A flow's first payload without progress: it now waits as stalled.
    pub(super) fn stalled<C: Consumer>(&mut self, f: &Flow<C>, now: Timestamp) {
        self.waiting.stalled.push_back(f.entry(now));
    }
}

impl<C: Consumer> FlowTable<C> {
    /// Ends waiting flows idle past `handshake_timeout_secs`, as the end of input would (what
    /// they buffered is read first; not counted, like idle sweeps, so the report does not
    /// depend on how flows are spread over workers); an entry whose flow was active since is
    /// queued again.
    pub(super) fn expire_waiting(
        &mut self,
        now: Timestamp,
        stats: &mut Stats,
        out: &mut Vec<C::Summary>,
    ) {
        let timeout = self.limits.handshake_timeout_secs;
        for q in [Queue::Opening, Queue::Stalled] {
            while let Some(e) = self.waiting.queue(q).front().copied() {
                if !now.later_than(e.since, timeout) {
                    break;
                }
                self.waiting.queue(q).pop_front();
                let Some(f) = self.find_waiting(&e, q) else {
                    continue;
                };
                if now.later_than(f.last.time, timeout) {
                    self.evict(&e, true, stats, out);
                } else {
                    let again = f.entry(f.last.time);
                    self.waiting.queue(q).push_back(again);
                }
            }
            self.compact(q);
        }
    }

    /// Ends the oldest waiting flow other than the one numbered `spare`, opening flows
    /// first; false when none waits. Counted in `evicted_flows`.
    pub(super) fn evict_one(
        &mut self,
        spare: Option<u32>,
        stalled_only: bool,
        stats: &mut Stats,
        out: &mut Vec<C::Summary>,
    ) -> bool {
        let queues: &[Queue] = if stalled_only {
            &[Queue::Stalled]
        } else {
            &[Queue::Opening, Queue::Stalled]
        };
        for &q in queues {
            let mut kept = None;
            while let Some(e) = self.waiting.queue(q).pop_front() {
                if Some(e.serial) == spare {
                    kept = Some(e);
                    continue;
                }
                if self.find_waiting(&e, q).is_some() {
                    self.evict(&e, false, stats, out);
                    stats.evicted_flows += 1;
                    if let Some(k) = kept {
                        self.waiting.queue(q).push_front(k);
                    }
                    return true;
                }
            }
            if let Some(k) = kept {
                self.waiting.queue(q).push_front(k);
            }
        }
        false
    }

    fn find_waiting(&self, e: &Entry, q: Queue) -> Option<&Flow<C>> {
        self.flows
            .find(e.hash, |f| f.key == e.key && f.serial == e.serial)
            .filter(|f| waits_in(f, q))
    }

    /// Removes the flow of `e` (it waits in a queue: checked by the caller) and summarises it,
    /// with `flush` after reading what it buffered.
    fn evict(&mut self, e: &Entry, flush: bool, stats: &mut Stats, out: &mut Vec<C::Summary>) {
        let (flows, mut parts) = self.split();
        let Ok(o) = flows.find_entry(e.hash, |f| f.key == e.key && f.serial == e.serial) else {
            return;
        };
        let (mut flow, _) = o.remove();
        Self::finish_flow(&mut flow, &mut parts, stats, flush, out);
    }

    /// Drops stale entries once a queue holds more than twice the active share of the table.
    fn compact(&mut self, q: Queue) {
        let bound = 2 * self.max_active() + 64;
        if self.waiting.queue(q).len() <= bound {
            return;
        }
        let mut queue = std::mem::take(self.waiting.queue(q));
        queue.retain(|e| self.find_waiting(e, q).is_some());
        *self.waiting.queue(q) = queue;
    }
}
