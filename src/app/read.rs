//! `stekwatch read`: capture files through the pipeline (one thread or sharded) into a report,
//! with the history of `--state` loaded first and saved back.

use std::path::PathBuf;

use super::cli::Config;
use super::report::history_report;
use super::RunError;
use crate::capture::input;
use crate::report::{self, json::Report, stream::AlertStream};
use crate::runtime::{sharded, single, NamedInput};
use crate::state;

/// Reads every capture and builds the report. A file that is not a capture ends the run with
/// an error naming it; a truncated one gives a warning and what it held.
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
    let files = input::expand_paths(paths)?;
    if files.is_empty() {
        return Err(RunError(
            "no capture files found in the given directories".into(),
        ));
    }
    // Open (map) every input first: workers borrow packet bytes from them.
    let mut opened = Vec::new();
    for path in &files {
        let name = if path.as_os_str() == "-" {
            "<stdin>".to_string()
        } else {
            path.display().to_string()
        };
        opened.push((name, input::open(path)?));
    }
    let inputs: Vec<NamedInput<'_>> = opened.iter().map(|(n, i)| (n.clone(), i)).collect();
    let (mut history, outcomes) = if cfg.threads <= 1 {
        single::read(&inputs, cfg.limits)?
    } else {
        sharded::read(&inputs, cfg.threads, cfg.limits)?
    };
    let mut warnings = Vec::new();
    for ((name, _), outcome) in inputs.iter().zip(outcomes) {
        if let Some(t) = outcome.truncated {
            warnings.push(format!("{name}: {t}"));
        }
    }
    let Some(path) = &cfg.state else {
        return Ok(report::build(&history, &cfg.report, warnings));
    };
    let mut announced = AlertStream::new();
    if let Some(saved) = saved {
        for name in state::shared_inputs(&saved.files, &history.files) {
            warnings.push(format!(
                "{name} was already in the history of {}: its connections now count twice",
                path.display()
            ));
        }
        state::restore(saved, &mut history, &mut announced)?;
    }
    let snap = state::snapshot(&history, &announced);
    state::save(path, &snap)?;
    history_report(snap, cfg, warnings)
}
