//! `--log FILE` (opened before a run, closed with its stats line after) and
//! `report --from-log LOG...` (the history of per-connection logs, reported as a saved state
//! is: through a snapshot, so both print the same for the same history).

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cli::Config;
use super::report::history_report;
use super::RunError;
use crate::report::json::Report;
use crate::report::log::ConnLog;
use crate::report::log_read::LogReader;
use crate::report::stream::AlertStream;
use crate::state;
use crate::tracker::{History, MAX_TRACKER_BYTES};

/// The run's per-connection log, when `--log` asks for one.
pub fn open(cfg: &Config) -> Result<Option<Arc<ConnLog>>, RunError> {
    let Some(path) = &cfg.log else {
        return Ok(None);
    };
    ConnLog::create(path)
        .map(|l| Some(Arc::new(l)))
        .map_err(|e| RunError(format!("{}: cannot open the log: {e}", path.display())))
}

/// Ends the log with the run's stats line (`h` holds only what this run read).
pub fn close(log: Option<&ConnLog>, cfg: &Config, h: &History) -> Result<(), RunError> {
    let (Some(log), Some(path)) = (log, &cfg.log) else {
        return Ok(());
    };
    log.finish(h)
        .map(|_| ())
        .map_err(|e| RunError(format!("{}: writing the log: {e}", path.display())))
}

fn name(p: &Path) -> String {
    if p.as_os_str() == "-" {
        "<stdin>".into()
    } else {
        p.display().to_string()
    }
}

/// The report of the history that per-connection logs describe.
pub fn from_logs(paths: &[PathBuf], cfg: &Config) -> Result<Report, RunError> {
    let mut reader = LogReader::new(History::new(MAX_TRACKER_BYTES));
    for path in paths {
        let n = name(path);
        let result = if path.as_os_str() == "-" {
            reader.read(&n, &mut std::io::stdin().lock())
        } else {
            let f = std::fs::File::open(path)
                .map_err(|e| RunError(format!("{n}: cannot open: {e}")))?;
            reader.read(&n, &mut BufReader::new(f))
        };
        result.map_err(|e| RunError(format!("{n}: reading: {e}")))?;
    }
    let LogReader {
        history, reading, ..
    } = reader;
    let mut warnings = reading.warnings;
    if reading.records == 0 {
        warnings.push("the logs hold no stekwatch connection record".into());
    }
    if reading.stats_lines == 0 && reading.records > 0 {
        warnings.push(
            "the logs hold no stats line (a run that did not end?): packet counters and the \
             observed span come from the connections alone"
                .into(),
        );
    }
    // Through a snapshot, as `report --state` reports: equal histories, equal reports.
    let snap = state::snapshot(&history, &AlertStream::new());
    history_report(snap, cfg, warnings, false)
}
