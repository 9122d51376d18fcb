//! `stekwatch read`: capture files through the pipeline (one thread or sharded) into a report,
//! with the history of `--state` loaded first and saved back.

use std::path::PathBuf;

use super::cli::Config;
use super::report::history_report;
use super::RunError;
use crate::capture::{expand, input};
use crate::report::json::{Report, SkippedInput};
use crate::report::{self, stream::AlertStream};
use crate::runtime::{sharded, single};
use crate::state;

/// Reads every capture and builds the report. A file named on the command line that is not a
/// capture ends the run with an error naming it; files of a directory that are not captures
/// are skipped and listed (`skipped_inputs`, and warnings); a truncated capture gives a warning
/// and what it held. Inputs are opened one at a time, as the runtime reaches them.
///
/// With `--state`, the saved history is loaded first (an unusable file stops the run before
/// anything is read), the captures are added to it, the whole is saved back and reported.
/// A read is all or nothing: the state is saved only once every capture was read, so an
/// interrupted read leaves it as it was and can simply be repeated.
pub fn run(paths: &[PathBuf], cfg: &Config) -> Result<Report, RunError> {
    // Held until the state is saved: another run on this state waits or refuses.
    let _lock = match &cfg.state {
        Some(path) => Some(super::lock_state(path, cfg.lock_wait_secs)?),
        None => None,
    };
    let saved = match &cfg.state {
        Some(path) => {
            let saved = state::load(path)?;
            state::probe_writable(path)?;
            saved
        }
        None => None,
    };
    let expanded = expand::expand(paths)?;
    let mut warnings = expanded.warnings;
    for sk in &expanded.skipped {
        warnings.push(format!("{}: skipped ({})", sk.path, sk.reason));
    }
    let skipped: Vec<SkippedInput> = expanded
        .skipped
        .into_iter()
        .map(|s| SkippedInput {
            path: s.path,
            reason: s.reason,
        })
        .collect();
    let files = expanded.files;
    if files.is_empty() {
        return Err(RunError(
            "no capture files found in the given directories".into(),
        ));
    }
    let names: Vec<String> = files
        .iter()
        .map(|p| {
            if p.as_os_str() == "-" {
                "<stdin>".to_string()
            } else {
                p.display().to_string()
            }
        })
        .collect();
    // Opened one at a time, when their turn comes.
    let opts = input::OpenOptions {
        max_spool_bytes: cfg.max_spool_bytes,
    };
    let inputs = files
        .iter()
        .zip(&names)
        .map(|(path, name)| input::open_with(path, opts).map(|i| (name.clone(), i)));
    let (mut history, outcomes) = if cfg.threads <= 1 {
        single::read_each(inputs, cfg.limits)?
    } else {
        sharded::read_each(inputs, cfg.threads, cfg.limits)?
    };
    for (name, outcome) in names.iter().zip(outcomes) {
        if let Some(t) = outcome.truncated {
            warnings.push(format!("{name}: {t}"));
        }
    }
    let Some(path) = &cfg.state else {
        let mut r = report::build(&history, &cfg.report, warnings);
        r.skipped_inputs = skipped;
        return Ok(r);
    };
    let mut announced = AlertStream::new();
    let loaded = saved.is_some();
    if let Some(saved) = saved {
        for name in state::shared_inputs(&saved.files, &history.files) {
            warnings.push(format!(
                "{name} was already in the history of {}: its connections now count twice",
                path.display()
            ));
        }
        state::restore(saved, &mut history, &mut announced)?;
    }
    let mut r = history_report(state::snapshot(&history, &announced), cfg, warnings, loaded)?;
    // What this run reports is what the history has reported from now on.
    announced.news(&r.alerts);
    let snap = state::snapshot(&history, &announced);
    state::save(path, &snap)?;
    r.skipped_inputs = skipped;
    Ok(r)
}
