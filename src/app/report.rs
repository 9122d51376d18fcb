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
    history_report(snap, cfg, Vec::new())
}

/// The report of a saved history, as `report --state` prints it (after `read --state` too,
/// so both show the same).
pub fn history_report(
    snap: StateFile,
    cfg: &Config,
    warnings: Vec<String>,
) -> Result<Report, RunError> {
    let mut h = History::new(MAX_TRACKER_BYTES);
    state::restore(snap, &mut h, &mut AlertStream::new())?;
    Ok(report::build(&h, &cfg.report, warnings))
}
