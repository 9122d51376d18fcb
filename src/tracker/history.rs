//! Everything a run has observed, as one plain value: the per-service history, the run's
//! counters, the names of its inputs (which `Evidence::file` indexes) and the packet-time span.
//! The pipeline fills one; reports are built from one; state files save and restore one;
//! parallel workers' histories merge into one.

use super::Tracker;
use crate::stats::Stats;
use crate::time::Timestamp;

#[derive(Default)]
pub struct History {
    pub tracker: Tracker,
    pub stats: Stats,
    /// Names of the inputs, indexed by `Evidence::file`.
    pub files: Vec<String>,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
}

impl History {
    /// An empty history whose services may hold about `max_tracker_bytes` together.
    pub fn new(max_tracker_bytes: usize) -> Self {
        History {
            tracker: Tracker::with_max_bytes(max_tracker_bytes),
            ..History::default()
        }
    }

    /// Widens the observed span to include `t`.
    pub fn saw(&mut self, t: Timestamp) {
        self.start = Some(self.start.map_or(t, |s| s.min(t)));
        self.end = Some(self.end.map_or(t, |e| e.max(t)));
    }

    /// Adds another history whose evidence indexes the same list of inputs (a worker's; for
    /// saved histories with their own lists, `state::restore` maps the indices first).
    pub fn merge(&mut self, other: History) {
        self.tracker.merge(other.tracker);
        self.stats.merge(&other.stats);
        self.start = [self.start, other.start].into_iter().flatten().min();
        self.end = [self.end, other.end].into_iter().flatten().max();
    }

    /// The counters as reported: the run's, with the tracker's caps filled in.
    pub fn statistics(&self) -> Stats {
        let mut s = self.stats.clone();
        s.dropped_by_service_caps = self.tracker.services.values().fold(0u64, |n, s| {
            let hosts = s
                .keys
                .values()
                .fold(0u64, |m, k| m.saturating_add(k.dropped_hosts));
            n.saturating_add(s.dropped).saturating_add(hosts)
        });
        s.dropped_services_cap = self.tracker.dropped_services;
        s.with_secrets_store(crate::secrets::counts())
    }

    /// Seconds from the first to the last packet.
    pub fn seconds(&self) -> i64 {
        match (self.start, self.end) {
            (Some(a), Some(b)) => b.seconds_since(a),
            _ => 0,
        }
    }
}
