//! Lasting history (`--state FILE`, `report --state`, `merge`): a pipeline's tracker, counters
//! and input names saved to a versioned file and restored into a pipeline, so observation
//! spans restarts, series of capture files and several sensors.
//!
//! Evidence points into the list of input names by index. A saved file lists its names sorted
//! and without duplicates; restoring maps each of its indices to the pipeline's list (adding
//! names it lacks), so histories merge in any order into the same result. Aggregates are
//! order-free (`Tracker::merge`), and so is the list of alerts a live run already printed.
//!
//! `format.rs` is the file format; `file.rs` reads and writes it atomically.

pub mod file;
pub mod format;

use std::collections::BTreeMap;

pub use file::{load, probe_writable, save, StateError};
use format::{AnnouncedRec, StateFile, FORMAT, VERSION};

use crate::flow::Limits;
use crate::pipeline::Pipeline;
use crate::report::stream::{AlertFacts, AlertKey, AlertStream};
use crate::time::Timestamp;

/// What a run adds to a pipeline's history besides the pipeline itself.
#[derive(Clone, Debug, Default)]
pub struct Extra {
    /// pcapng blocks skipped while reading (a counter of the report's statistics).
    pub skipped_blocks: u64,
    /// Alerts already printed by live runs.
    pub announced: AlertStream,
}

/// The state file of a pipeline's history.
pub fn snapshot(p: &Pipeline, extra: &Extra) -> StateFile {
    // Sorted, deduplicated names; `index[i]` is where the pipeline's file `i` goes.
    let mut names: Vec<String> = p.files.clone();
    names.sort();
    names.dedup();
    let index: Vec<u32> = p
        .files
        .iter()
        .map(|n| names.binary_search(n).expect("present") as u32)
        .collect();
    let file = |i: u32| index.get(i as usize).copied().unwrap_or(0);
    let mut announced: Vec<AnnouncedRec> = extra
        .announced
        .printed()
        .map(|(k, f)| AnnouncedRec {
            rule: k.rule.clone(),
            service: k.service.clone(),
            key_name: k.key_name.clone(),
            severity: f.severity.clone(),
            services: f.services.clone(),
        })
        .collect();
    announced.sort();
    StateFile {
        format: FORMAT.to_string(),
        version: VERSION,
        written_by: format!("stekwatch {}", env!("CARGO_PKG_VERSION")),
        files: names,
        start_ns: p.start.map(|t| t.0),
        end_ns: p.end.map(|t| t.0),
        packets: p.stats.clone(),
        flows: p.flows.stats.clone(),
        ip_datagrams_reassembled: p.defrag.reassembled,
        ip_fragments_dropped: p.defrag.dropped,
        skipped_capture_blocks: extra.skipped_blocks,
        dropped_services: p.tracker.dropped_services,
        services: format::services_out(&p.tracker, &file),
        announced,
    }
}

/// Adds a saved history to `p` (and `extra`): its names join `p.files`, its tracker and
/// counters merge into `p`'s.
pub fn restore(s: StateFile, p: &mut Pipeline, extra: &mut Extra) -> Result<(), StateError> {
    let mut index = Vec::with_capacity(s.files.len());
    for name in &s.files {
        let i = match p.files.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                p.files.push(name.clone());
                p.files.len() - 1
            }
        };
        index.push(i as u32);
    }
    let file = |i: u32| index.get(i as usize).copied();
    let tracker = format::services_in(s.services, s.dropped_services, &file)
        .map_err(|format::Invalid(e)| StateError::invalid(e))?;
    let mut saved = Pipeline::new(Limits::default());
    saved.tracker = tracker;
    saved.stats = s.packets;
    saved.flows.stats = s.flows;
    saved.defrag.reassembled = s.ip_datagrams_reassembled;
    saved.defrag.dropped = s.ip_fragments_dropped;
    saved.start = s.start_ns.map(Timestamp);
    saved.end = s.end_ns.map(Timestamp);
    p.merge(saved);
    extra.skipped_blocks += s.skipped_capture_blocks;
    let mut announced = AlertStream::new();
    for a in s.announced {
        announced.remember(
            AlertKey {
                rule: a.rule,
                service: a.service,
                key_name: a.key_name,
            },
            AlertFacts {
                severity: a.severity,
                services: a.services,
            },
        );
    }
    extra.announced.merge(announced);
    Ok(())
}

/// The same history with its names sorted: what `report --state` shows after a save.
pub fn canonical(p: &Pipeline, extra: &Extra, limits: Limits) -> (Pipeline, Extra) {
    let mut out = Pipeline::new(limits);
    let mut out_extra = Extra::default();
    restore(snapshot(p, extra), &mut out, &mut out_extra).expect("own snapshot is valid");
    (out, out_extra)
}

/// Names that two histories both hold (merging them counts those inputs twice).
pub fn shared_inputs(a: &[String], b: &[String]) -> Vec<String> {
    let set: BTreeMap<&String, ()> = a.iter().map(|n| (n, ())).collect();
    let mut both: Vec<String> = b.iter().filter(|n| set.contains_key(n)).cloned().collect();
    both.sort();
    both.dedup();
    both
}

#[cfg(test)]
mod tests;
