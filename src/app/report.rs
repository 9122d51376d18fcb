//! `stekwatch report --state FILE`: the report of a saved history.

use std::path::Path;

use super::cli::Config;
use super::RunError;
use crate::report::{self, json::Report, stream::AlertStream};
use crate::state::{self, format::StateFile};
use crate::tracker::{History, MAX_TRACKER_BYTES};

pub fn run(path: &Path, cfg: &Config) -> Result<Report, RunError> {
    let snap = state::load(path)?
        .ok_or_else(|| RunError(format!("{}: no such state file", path.display())))?;
    history_report(snap, cfg, Vec::new(), true)
}

/// The report of a saved history, as `report --state` prints it (after `read --state` too,
/// so both show the same); with `mark_new` (a state was loaded), each alert says whether it is
/// `new`: not reported by that history before.
pub fn history_report(
    snap: StateFile,
    cfg: &Config,
    warnings: Vec<String>,
    mark_new: bool,
) -> Result<Report, RunError> {
    let mut h = History::new(MAX_TRACKER_BYTES);
    let mut announced = AlertStream::new();
    state::restore(snap, &mut h, &mut announced)?;
    let mut r = report::build(&h, &cfg.report, warnings);
    // `new`: not reported by the history before (live runs and `read --state` record what
    // they reported in the state).
    if mark_new {
        for a in &mut r.alerts {
            a.new = Some(announced.is_new(a));
        }
    }
    Ok(r)
}
