//! Lasting history (`--state FILE`, `report --state`, `merge`): a `History` (tracker,
//! counters, input names) and the alerts a live run already printed, saved to a versioned file
//! and restored, so observation spans restarts, series of capture files and several sensors.
//!
//! Evidence points into the list of input names by index. A saved file lists its names sorted
//! and without duplicates; restoring maps each of its indices to the history's list (adding
//! names it lacks), so histories merge in any order into the same result. Aggregates are
//! order-free (`Tracker::merge`), and so is the list of alerts a live run already printed.
//!
//! `format.rs` is the file format; `file.rs` reads and writes it atomically; `lock.rs` finds
//! the real file behind links and holds the lock of a run.

pub mod file;
pub mod format;
pub mod lock;

use std::collections::{BTreeMap, HashMap};

pub use file::{load, probe_writable, save, StateError};
use format::{AnnouncedRec, StateFile, FORMAT, VERSION};
pub use lock::{lock, StateLock};

use crate::report::stream::{AlertFacts, AlertKey, AlertStream};
use crate::time::Timestamp;
use crate::tracker::History;

/// The state file of a history and of the alerts already printed from it.
pub fn snapshot(h: &History, announced: &AlertStream) -> StateFile {
    // Sorted, deduplicated names; `index[i]` is where the history's file `i` goes.
    let mut names: Vec<String> = h.files.clone();
    names.sort();
    names.dedup();
    let index: Vec<u32> = h
        .files
        .iter()
        .map(|n| names.binary_search(n).expect("present") as u32)
        .collect();
    let file = |i: u32| index.get(i as usize).copied().unwrap_or(0);
    let mut announced: Vec<AnnouncedRec> = announced
        .printed()
        .map(|(k, f)| AnnouncedRec {
            rule: k.rule.clone(),
            service: k.service.clone(),
            key_name: k.key_name.clone(),
            severity: f.severity,
            services: f.services.clone(),
        })
        .collect();
    announced.sort();
    StateFile {
        format: FORMAT.to_string(),
        version: VERSION,
        written_by: format!("stekwatch {}", env!("CARGO_PKG_VERSION")),
        files: names,
        start_ns: h.start.map(|t| t.0),
        end_ns: h.end.map(|t| t.0),
        statistics: Some(h.stats.clone()),
        legacy: Default::default(),
        dropped_services: h.tracker.dropped_services,
        services: format::services_out(&h.tracker, &file),
        announced,
    }
}

/// Adds a saved history to `h` (and what it printed to `announced`): its names join
/// `h.files`, its tracker and counters merge into `h`'s.
pub fn restore(
    s: StateFile,
    h: &mut History,
    announced: &mut AlertStream,
) -> Result<(), StateError> {
    let mut known: HashMap<&str, u32> = HashMap::new();
    for (i, name) in h.files.iter().enumerate() {
        known.entry(name.as_str()).or_insert(i as u32);
    }
    let mut index = Vec::with_capacity(s.files.len());
    let mut added = Vec::new();
    for name in &s.files {
        let i = match known.get(name.as_str()) {
            Some(&i) => i,
            None => {
                added.push(name.clone());
                (h.files.len() + added.len() - 1) as u32
            }
        };
        index.push(i);
    }
    let file = |i: u32| index.get(i as usize).copied();
    let mut stats = s.stats();
    stats.clamp_loaded();
    let tracker = format::services_in(s.services, s.dropped_services, &file)
        .map_err(|format::Invalid(e)| StateError::invalid(e))?;
    drop(known);
    h.files.extend(added);
    h.merge(History {
        tracker,
        stats,
        files: Vec::new(),
        start: s.start_ns.map(Timestamp),
        end: s.end_ns.map(Timestamp),
    });
    let mut printed = AlertStream::new();
    for a in s.announced {
        printed.remember(
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
    announced.merge(printed);
    Ok(())
}

/// Names that two histories both hold (merging them counts those inputs twice).
pub fn shared_inputs(a: &[String], b: &[String]) -> Vec<String> {
    let set: BTreeMap<&String, ()> = a.iter().map(|n| (n, ())).collect();
    let mut both: Vec<String> = b.iter().filter(|n| set.contains_key(n)).cloned().collect();
    both.sort();
    both.dedup();
    both
}
