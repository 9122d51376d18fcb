//! Running a command end to end: inputs through the pipeline into a report, and the exit code.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::capture::file;
use crate::cli::{Config, Format};
use crate::flow::Limits;
use crate::pipeline::Pipeline;
use crate::report::{self, json::Report};
use crate::shard;
use crate::state::{self, format::StateFile, Extra};

/// Exit statuses (design.md §3).
pub const EXIT_OK: i32 = 0;
pub const EXIT_ALERTS: i32 = 1;
pub const EXIT_ERROR: i32 = 2;

/// A failure that ends the run with status 2.
#[derive(Debug)]
pub struct RunError(pub String);

impl From<state::StateError> for RunError {
    fn from(e: state::StateError) -> Self {
        RunError(e.to_string())
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads every capture and builds the report. A file that is not a capture ends the run with
/// an error naming it; a truncated one gives a warning and what it held.
///
/// With `--state`, the saved history is loaded first (an unusable file stops the run before
/// anything is read), the captures are added to it, the whole is saved back and reported.
/// A read is all or nothing: the state is saved only once every capture was read, so an
/// interrupted read leaves it as it was and can simply be repeated.
pub fn read_files(paths: &[PathBuf], cfg: &Config) -> Result<Report, RunError> {
    let saved = match &cfg.state {
        Some(path) => {
            let saved = state::load(path)?;
            state::probe_writable(path)?;
            saved
        }
        None => None,
    };
    let files = file::expand_paths(paths).map_err(|e| RunError(e.to_string()))?;
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
        let input = file::open(path).map_err(|e| RunError(e.to_string()))?;
        opened.push((name, input));
    }
    let inputs: Vec<(String, &file::Input)> = opened.iter().map(|(n, i)| (n.clone(), i)).collect();
    let (mut pipeline, outcomes) = if cfg.threads <= 1 {
        let mut p = Pipeline::new(cfg.limits);
        let mut outcomes = Vec::new();
        for (name, input) in &inputs {
            p.begin_input(name);
            let outcome = file::read_packets_with(
                input.bytes(),
                name,
                &mut |pkt| p.push_packet(pkt),
                &mut |done| input.release(done),
            )
            .map_err(|e| RunError(e.to_string()))?;
            outcomes.push(outcome);
        }
        (p, outcomes)
    } else {
        shard::read_sharded(&inputs, cfg.threads, cfg.limits)
            .map_err(|e| RunError(e.to_string()))?
    };
    pipeline.finish();
    let mut warnings = Vec::new();
    let mut skipped_blocks = 0;
    for ((name, _), outcome) in inputs.iter().zip(outcomes) {
        if let Some(t) = outcome.truncated {
            warnings.push(format!("{name}: {t}"));
        }
        skipped_blocks += outcome.skipped_blocks;
    }
    if let Some(path) = &cfg.state {
        let mut extra = Extra {
            skipped_blocks,
            ..Extra::default()
        };
        if let Some(saved) = saved {
            for name in state::shared_inputs(&saved.files, &pipeline.files) {
                warnings.push(format!(
                    "{name} was already in the history of {}: its connections now count twice",
                    path.display()
                ));
            }
            state::restore(saved, &mut pipeline, &mut extra)?;
        }
        let snap = state::snapshot(&pipeline, &extra);
        state::save(path, &snap)?;
        return history_report(snap, cfg, warnings);
    }
    Ok(report::build(
        &pipeline,
        &cfg.report,
        warnings,
        skipped_blocks,
    ))
}

/// The report of a saved history, as `report --state` prints it.
fn history_report(
    snap: StateFile,
    cfg: &Config,
    warnings: Vec<String>,
) -> Result<Report, RunError> {
    let mut p = Pipeline::new(Limits::default());
    let mut extra = Extra::default();
    state::restore(snap, &mut p, &mut extra)?;
    Ok(report::build(
        &p,
        &cfg.report,
        warnings,
        extra.skipped_blocks,
    ))
}

/// `report --state FILE`: the report of a saved history.
pub fn report_state(path: &Path, cfg: &Config) -> Result<Report, RunError> {
    let snap = state::load(path)?
        .ok_or_else(|| RunError(format!("{}: no such state file", path.display())))?;
    history_report(snap, cfg, Vec::new())
}

/// `merge A B ... -o OUT`: one state holding every input's history, the same in any order.
/// An existing `OUT` must itself be a state file (it is replaced, not merged, unless it is
/// also an input). Returns a one-line account and warnings about inputs two states share.
pub fn merge_states(inputs: &[PathBuf], out: &Path) -> Result<(String, Vec<String>), RunError> {
    let mut p = Pipeline::new(Limits::default());
    let mut extra = Extra::default();
    let mut warnings = Vec::new();
    let mut loaded = Vec::new();
    for path in inputs {
        let snap = state::load(path)?
            .ok_or_else(|| RunError(format!("{}: no such state file", path.display())))?;
        loaded.push((path, snap));
    }
    state::load(out)?;
    state::probe_writable(out)?;
    for (path, snap) in loaded {
        for name in state::shared_inputs(&p.files, &snap.files) {
            warnings.push(format!(
                "{name} is in more than one of the merged states (also in {}): its connections \
                 count twice",
                path.display()
            ));
        }
        state::restore(snap, &mut p, &mut extra)?;
    }
    let snap = state::snapshot(&p, &extra);
    state::save(out, &snap)?;
    let msg = format!(
        "merged {} state{} into {}: {} service{}, {} input{}",
        inputs.len(),
        if inputs.len() == 1 { "" } else { "s" },
        out.display(),
        snap.services.len(),
        if snap.services.len() == 1 { "" } else { "s" },
        snap.files.len(),
        if snap.files.len() == 1 { "" } else { "s" },
    );
    Ok((msg, warnings))
}

/// Prints the report and decides the exit status.
pub fn emit(report: &Report, cfg: &Config, out: &mut dyn Write) -> std::io::Result<i32> {
    match cfg.format {
        Format::Human => report::human::write(report, out)?,
        Format::Json => report::json::write(report, out)?,
        Format::Jsonl => report::stream::write_jsonl(report, out)?,
    }
    out.flush()?;
    Ok(exit_status(report, cfg))
}

/// 1 when an alert at or above `--fail-on` is in the report, else 0.
pub fn exit_status(report: &Report, cfg: &Config) -> i32 {
    let fired = cfg.fail_on.is_some_and(|min| {
        report
            .alerts
            .iter()
            .any(|a| crate::rules::Severity::parse(a.severity).is_some_and(|s| s >= min))
    });
    if fired {
        EXIT_ALERTS
    } else {
        EXIT_OK
    }
}
