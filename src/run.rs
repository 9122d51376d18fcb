//! Running a command end to end: inputs through the pipeline into a report, and the exit code.

use std::io::Write;
use std::path::PathBuf;

use crate::capture::file;
use crate::cli::{Config, Format};
use crate::pipeline::Pipeline;
use crate::report::{self, json::Report};
use crate::shard;

/// Exit statuses (design.md §3).
pub const EXIT_OK: i32 = 0;
pub const EXIT_ALERTS: i32 = 1;
pub const EXIT_ERROR: i32 = 2;

/// A failure that ends the run with status 2.
#[derive(Debug)]
pub struct RunError(pub String);

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads every capture and builds the report. A file that is not a capture ends the run with
/// an error naming it; a truncated one gives a warning and what it held.
pub fn read_files(paths: &[PathBuf], cfg: &Config) -> Result<Report, RunError> {
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
    Ok(report::build(
        &pipeline,
        &cfg.report,
        warnings,
        skipped_blocks,
    ))
}

/// Prints the report and decides the exit status.
pub fn emit(report: &Report, cfg: &Config, out: &mut dyn Write) -> std::io::Result<i32> {
    match cfg.format {
        Format::Human => report::human::write(report, out)?,
        Format::Json => report::json::write(report, out)?,
    }
    out.flush()?;
    let fired = cfg.fail_on.is_some_and(|min| {
        report
            .alerts
            .iter()
            .any(|a| crate::rules::Severity::parse(a.severity).is_some_and(|s| s >= min))
    });
    Ok(if fired { EXIT_ALERTS } else { EXIT_OK })
}
