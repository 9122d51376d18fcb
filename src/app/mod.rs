//! The commands, one file each (`read`, `live`, `report`, `merge`), over the runtimes; `cli`
//! is their clap definitions. This is the one place that decides exit statuses and where
//! reports are printed. Only this layer and `main` read the environment or the wall clock
//! (the live runtime reads it for checkpoints and health lines).

pub mod cli;
pub mod explain;
pub mod live;
pub mod log;
pub mod merge;
pub mod progress;
pub mod read;
pub mod report;

use std::io::{ErrorKind, Write};

use crate::report::json::Report;
use crate::rules::Severity;
pub use crate::runtime::RunError;
use cli::{Cli, Command, Config};

/// Exit statuses (design.md §3).
pub const EXIT_OK: i32 = 0;
pub const EXIT_ALERTS: i32 = 1;
pub const EXIT_ERROR: i32 = 2;

/// Runs a parsed command line; returns the exit status.
pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Read { paths, common } => match common.load_keylogs().and(common.validate()) {
            Ok(cfg) => finish(read::run(&paths, &cfg), &cfg),
            Err(e) => fail(&e),
        },
        Command::Report {
            state,
            from_log,
            output,
        } => match output.validate() {
            Ok(cfg) => {
                let report = match &state {
                    Some(state) => report::run(state, &cfg),
                    None => log::from_logs(&from_log, &cfg),
                };
                finish(report, &cfg)
            }
            Err(e) => fail(&e),
        },
        Command::Merge {
            states,
            output,
            lock_wait,
        } => match merge::run(&states, &output, lock_wait) {
            Ok((msg, warnings)) => {
                for w in warnings {
                    eprintln!("stekwatch: warning: {}", crate::report::text::clean(&w));
                }
                eprintln!("stekwatch: {msg}");
                EXIT_OK
            }
            Err(e) => fail(&e.to_string()),
        },
        Command::Live { live, common } => match common.load_keylogs() {
            Ok(()) => live::run(&live, &common),
            Err(e) => fail(&e),
        },
        Command::Explain { rule } => match explain::text(rule.as_deref()) {
            Ok(text) => {
                let mut out = std::io::stdout().lock();
                match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                    Err(e) if e.kind() != ErrorKind::BrokenPipe => fail(&format!("writing: {e}")),
                    _ => EXIT_OK,
                }
            }
            Err(e) => fail(&e),
        },
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "stekwatch", &mut std::io::stdout());
            EXIT_OK
        }
        Command::Man => {
            let page = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command());
            match page.render(&mut std::io::stdout()) {
                Ok(()) => EXIT_OK,
                Err(e) if e.kind() == ErrorKind::BrokenPipe => EXIT_OK,
                Err(e) => fail(&format!("writing the manual page: {e}")),
            }
        }
    }
}

/// Prints a command's report and decides its exit status.
fn finish(report: Result<Report, RunError>, cfg: &Config) -> i32 {
    let report = match report {
        Ok(r) => r,
        Err(e) => return fail(&e.to_string()),
    };
    if let Err(e) = write_html(&report, cfg) {
        return fail(&e);
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cfg
        .printer
        .report(&report, &mut out)
        .and_then(|()| out.flush())
    {
        Ok(()) => exit_status(&report, cfg),
        // A closed stdout (e.g. `| head`) is success.
        Err(e) if e.kind() == ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => fail(&format!("writing the report: {e}")),
    }
}

/// `--html FILE`: the report as a page.
pub fn write_html(report: &Report, cfg: &Config) -> Result<(), String> {
    match &cfg.html {
        Some(path) => crate::report::html::write_file(report, path)
            .map_err(|e| format!("{}: writing the HTML report: {e}", path.display())),
        None => Ok(()),
    }
}

/// 1 when an alert at or above `--fail-on` is in the report, or the report is incomplete
/// (counts as a warning) and `--fail-on` is `warning` or `info`; else 0.
pub fn exit_status(report: &Report, cfg: &Config) -> i32 {
    let fired = cfg.fail_on.is_some_and(|min| {
        report.alerts.iter().any(|a| a.severity >= min)
            || (report.incomplete && Severity::Warning >= min)
    });
    if fired {
        EXIT_ALERTS
    } else {
        EXIT_OK
    }
}

/// Takes the lock of a state file for the whole run (see `state::lock`), saying on stderr
/// when it waits for another run and which temporary files of crashed saves it removed.
pub fn lock_state(
    path: &std::path::Path,
    wait_secs: u64,
) -> Result<crate::state::StateLock, RunError> {
    let lock = crate::state::lock(
        path,
        std::time::Duration::from_secs(wait_secs),
        &mut |pid| {
            eprintln!(
                "stekwatch: {} is in use by another stekwatch run{}; waiting up to {wait_secs}s",
                path.display(),
                pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
            )
        },
    )?;
    for p in &lock.removed {
        eprintln!(
            "stekwatch: removed {}, left by an interrupted save",
            p.display()
        );
    }
    Ok(lock)
}

fn fail(msg: &str) -> i32 {
    // Messages name inputs (file names found in directories can hold anything): escaped,
    // so no name can forge a line or a terminal sequence.
    eprintln!("stekwatch: error: {}", crate::report::text::clean(msg));
    EXIT_ERROR
}
